"""Transformer block: pre-norm causal self-attention with rotary positions + SwiGLU MLP.

Vaswani et al. (2017), "Attention Is All You Need", in the modern form of LLaMA
(Touvron et al. 2023): RMSNorm before each sub-layer, rotary position embedding
(Su et al. 2021) on queries and keys, SwiGLU channel mixer.

    x = x + Attn(RMSNorm(x)),   Attn = softmax(q kᵀ / √d_head + causal mask) v
    x = x + SwiGLU(RMSNorm(x))

Attention runs through ``F.scaled_dot_product_attention``: on CUDA torch dispatches to
flash / memory-efficient / cuDNN kernels ("cuda" backend); the "torch" backend pins
the math kernel there as the reference. ``step`` keeps a KV cache, so the state grows
as 2·L·D numbers per sequence. Init: PyTorch's defaults, with GPT-2's 1/√(2·n_layers)
on the two projections into the residual stream.

Short convolution (``d_conv > 0``, off by default): a depthwise causal convolution of
``d_conv`` taps over the normalised input, before the q/k/v projection,

    Attn(conv(RMSNorm(x))),   conv(h)_t = Σ_{j<d_conv} c_j ⊙ h_{t−j}      (per channel)

the short convolution Based relies on for local token mixing (Arora et al. 2024, "Simple
linear attention language models balance the recall-throughput tradeoff"; HazyResearch/based
``based/models/mixers/base_conv.py``, ``ShortConvolution``: ``nn.Conv1d`` with
groups = channels, padding width − 1, no bias, no activation; PyTorch's default init).
Based and Zoology put it in a layer of its own (``BaseConv``, a gated convolution that
alternates with the attention layers through Zoology's ``Hybrid`` mixer,
``zoology/experiments/paper_configs/arxiv24_based_figure2/configs.py``); here it sits inside
the attention sub-layer, so the block stays one residual layer. ``step`` then also keeps the
last d_conv − 1 normalised inputs: D·(d_conv − 1) numbers more.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from .base import Block, BlockConfig, State, require
from .layers import SwiGLU
from .registry import register


@dataclass(frozen=True)
class TransformerConfig(BlockConfig):
    n_heads: int = 4
    mlp_expand: float = 8 / 3  # SwiGLU width; 8/3 matches a 4x GELU MLP in parameters
    rope_base: float = 10_000.0
    d_conv: int = 0  # taps of the short causal convolution before attention; 0: none

    def validate(self) -> None:
        require(self.n_heads > 0, "n_heads", self.n_heads, "must be positive")
        require(
            isinstance(self.d_conv, int) and self.d_conv >= 0,
            "d_conv",
            self.d_conv,
            "must be a non-negative integer (0: no convolution)",
        )
        require(
            self.d_model % self.n_heads == 0,
            "d_model",
            self.d_model,
            f"must be divisible by n_heads={self.n_heads}",
        )
        require(
            (self.d_model // self.n_heads) % 2 == 0,
            "d_model",
            self.d_model,
            f"must give an even d_head (d_model / n_heads={self.n_heads}) for rotary embedding",
        )


def rotary(x: Tensor, positions: Tensor, base: float) -> Tensor:
    """Rotate channel pairs (i, i + d/2) of ``x`` (..., L, d) by angle position·base^(-2i/d)."""
    d_half = x.shape[-1] // 2
    inv_freq = base ** (-torch.arange(d_half, device=x.device, dtype=torch.float32) / d_half)
    angles = positions.to(torch.float32)[:, None] * inv_freq  # (L, d/2)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    x1, x2 = x[..., :d_half], x[..., d_half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


class CausalSelfAttention(nn.Module):
    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.n_heads = config.n_heads
        self.rope_base = config.rope_base
        self.in_proj = nn.Linear(config.d_model, 3 * config.d_model, bias=False)
        self.out_proj = nn.Linear(config.d_model, config.d_model, bias=False)
        # Only when asked for: with d_conv = 0 the block draws the same random numbers,
        # holds the same parameters and computes the same as before the option existed.
        self.conv1d = (
            nn.Conv1d(
                config.d_model,
                config.d_model,
                config.d_conv,
                groups=config.d_model,
                padding=config.d_conv - 1,
                bias=False,
            )
            if config.d_conv > 0
            else None
        )

    def convolve(self, x: Tensor) -> Tensor:
        """The short causal convolution over x (B, L, D), or x itself when there is none."""
        if self.conv1d is None:
            return x
        y = self.conv1d(rearrange(x, "b l d -> b d l"))[..., : x.shape[1]]  # drop the right pad
        return rearrange(y, "b d l -> b l d")

    def convolve_step(self, x: Tensor, history: Tensor) -> tuple[Tensor, Tensor]:
        """One token x (B, D) with the last d_conv − 1 inputs (B, D, d_conv − 1)."""
        window = torch.cat([history, x[:, :, None]], dim=2)  # (B, D, d_conv), oldest first
        y = (window * rearrange(self.conv1d.weight, "d 1 w -> d w")).sum(-1)
        return y, window[:, :, 1:]

    def qkv(self, x: Tensor, positions: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        q, k, v = rearrange(
            self.in_proj(x), "b l (three h d) -> three b h l d", three=3, h=self.n_heads
        )  # each (B, H, L, d_head)
        return rotary(q, positions, self.rope_base), rotary(k, positions, self.rope_base), v

    def forward(self, x: Tensor, backend: str) -> Tensor:
        x = self.convolve(x)
        q, k, v = self.qkv(x, torch.arange(x.shape[1], device=x.device))
        with _kernel_for(backend, x):
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out_proj(rearrange(y, "b h l d -> b l (h d)"))

    def step(self, x: Tensor, k_cache: Tensor, v_cache: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        position = torch.tensor([k_cache.shape[2]], device=x.device)
        q, k, v = self.qkv(x[:, None], position)  # each (B, H, 1, d_head)
        k_cache = torch.cat([k_cache, k], dim=2)  # (B, H, t + 1, d_head)
        v_cache = torch.cat([v_cache, v], dim=2)
        y = F.scaled_dot_product_attention(q, k_cache, v_cache)  # the new token sees all
        return self.out_proj(rearrange(y, "b h 1 d -> b (h d)")), k_cache, v_cache


def _kernel_for(backend: str, x: Tensor):
    """On CUDA the reference backend pins SDPA's math kernel; otherwise torch chooses."""
    if backend == "torch" and x.is_cuda:
        return sdpa_kernel(SDPBackend.MATH)
    return contextlib.nullcontext()


@register("transformer")
class TransformerBlock(Block):
    Config = TransformerConfig

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__(config)
        self.norm1 = nn.RMSNorm(config.d_model)
        self.mixer = CausalSelfAttention(config)
        self.norm2 = nn.RMSNorm(config.d_model)
        self.mlp = SwiGLU(config.d_model, config.mlp_expand)
        # GPT-2 (Radford et al. 2019, §2.3; nanoGPT model.py, GPT.__init__): the two layers
        # that write into the residual stream start scaled by 1/√(2·n_layers), so the
        # stream's variance does not grow with depth. As in mamba_ssm's _init_weights, the
        # scale applies to PyTorch's default init.
        with torch.no_grad():
            for out_proj in (self.mixer.out_proj, self.mlp.out_proj):
                out_proj.weight.div_(math.sqrt(2 * config.n_layers))

    def forward(self, x: Tensor) -> Tensor:
        backend = self.select_backend(x)
        x = x + self.mixer(self.norm1(x), backend)
        return x + self.mlp(self.norm2(x))

    def init_state(self, batch_size: int) -> State:
        d_head = self.config.d_model // self.config.n_heads
        empty = torch.zeros(batch_size, self.config.n_heads, 0, d_head, **self._factory)
        state = {"k": empty, "v": empty.clone()}
        if self.config.d_conv > 0:  # the convolution's last d_conv − 1 inputs, oldest first
            width = self.config.d_conv - 1
            state["conv"] = torch.zeros(batch_size, self.config.d_model, width, **self._factory)
        return state

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        h = self.norm1(x)
        new_state = {}
        if self.mixer.conv1d is not None:
            h, new_state["conv"] = self.mixer.convolve_step(h, state["conv"])
        h, new_state["k"], new_state["v"] = self.mixer.step(h, state["k"], state["v"])
        x = x + h
        return x + self.mlp(self.norm2(x)), new_state

    def state_size(self, seq_len: int) -> int:
        D, d_conv = self.config.d_model, self.config.d_conv
        # keys and values of every token, and the convolution's last d_conv − 1 inputs
        return 2 * seq_len * D + D * max(d_conv - 1, 0)
