"""Sliding-window attention block: each token attends to the last ``window`` tokens.

Beltagy et al. (2020), "Longformer", causal form as in Mistral 7B (Jiang et al. 2023):
the Transformer block of ``architectures/transformer.py`` with the causal mask narrowed
to a band, so memory is bounded while recall reaches back ``window`` tokens only.

    x = x + SWA(RMSNorm(x)),  SWA_t = softmax(q_t kᵀ_{t-w+1..t} / √d_head) v_{t-w+1..t}
    x = x + SwiGLU(RMSNorm(x))

``forward`` splits the sequence into chunks of ``window`` queries; each chunk attends to
itself and the chunk before it under a band mask, so cost is O(L·window), not O(L²).
``step`` keeps a ring buffer of the last ``window`` keys and values (rotated at their
absolute positions) and a position counter, allocated whole at ``init_state``:
state_size = 2·window·D + 1 numbers per sequence at every length.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from architectures import Block, BlockConfig, State, SwiGLU, require
from architectures.transformer import rotary


@dataclass(frozen=True)
class SlidingWindowConfig(BlockConfig):
    n_heads: int = 4
    window: int = 64  # tokens each query sees, itself included
    mlp_expand: float = 8 / 3
    rope_base: float = 10_000.0

    def validate(self) -> None:
        require(self.n_heads > 0, "n_heads", self.n_heads, "must be positive")
        require(
            self.d_model % self.n_heads == 0 and (self.d_model // self.n_heads) % 2 == 0,
            "d_model",
            self.d_model,
            f"must be divisible by n_heads={self.n_heads} into an even d_head (rotary)",
        )
        require(self.window > 0, "window", self.window, "must be a positive integer")


def band_mask(window: int, device: torch.device) -> Tensor:
    """(window, 2·window) bool: query i of a chunk sees key j of [previous chunk, chunk]."""
    i = torch.arange(window, device=device)[:, None]
    j = torch.arange(2 * window, device=device)[None, :]
    offset = window + i - j  # how far back key j lies from query i
    return (offset >= 0) & (offset < window)


class SlidingWindowAttention(nn.Module):
    def __init__(self, config: SlidingWindowConfig) -> None:
        super().__init__()
        self.n_heads, self.window, self.rope_base = config.n_heads, config.window, config.rope_base
        self.in_proj = nn.Linear(config.d_model, 3 * config.d_model, bias=False)
        self.out_proj = nn.Linear(config.d_model, config.d_model, bias=False)

    def qkv(self, x: Tensor, positions: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        q, k, v = rearrange(
            self.in_proj(x), "b l (three h d) -> three b h l d", three=3, h=self.n_heads
        )  # each (B, H, L, d_head)
        return rotary(q, positions, self.rope_base), rotary(k, positions, self.rope_base), v

    def forward(self, x: Tensor, backend: str) -> Tensor:
        B, L, _ = x.shape
        W = self.window
        q, k, v = self.qkv(x, torch.arange(L, device=x.device))
        n = -(-L // W)  # chunks
        fill = n * W - L  # padding that fills up the last chunk
        q = rearrange(F.pad(q, (0, 0, 0, fill)), "b h (n w) d -> (b n) h w d", w=W)
        # keys and values get one empty chunk in front; window c is [chunk c-1, chunk c]
        k, v = (F.pad(t, (0, 0, W, fill)).unfold(2, 2 * W, W) for t in (k, v))  # (B, H, n, d, 2W)
        k, v = (rearrange(t, "b h n d w2 -> (b n) h w2 d") for t in (k, v))
        mask = band_mask(W, x.device).expand(n, 1, W, 2 * W).clone()  # (n, 1, W, 2W)
        mask[0, :, :, :W] = False  # the padding before the first chunk
        with _kernel_for(backend, x):
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask.repeat(B, 1, 1, 1))
        y = rearrange(y, "(b n) h w d -> b (n w) (h d)", b=B)[:, :L]
        return self.out_proj(y)

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        pos = state["pos"]  # (B,) tokens seen so far
        q, k, v = self.qkv(x[:, None], pos[:1])  # each (B, H, 1, d_head); one position per batch
        slots = torch.arange(self.window, device=x.device)
        write = (slots == pos[:, None] % self.window)[:, None, :, None]  # (B, 1, W, 1)
        k_cache = torch.where(write, k, state["k"])  # (B, H, W, d_head)
        v_cache = torch.where(write, v, state["v"])
        seen = (slots <= pos[:, None])[:, None, None, :]  # (B, 1, 1, W): slots written so far
        y = F.scaled_dot_product_attention(q, k_cache, v_cache, attn_mask=seen)
        y = self.out_proj(rearrange(y, "b h 1 d -> b (h d)"))
        return y, {"k": k_cache, "v": v_cache, "pos": pos + 1}


def _kernel_for(backend: str, x: Tensor):
    """On CUDA the reference backend pins SDPA's math kernel; otherwise torch chooses."""
    if backend == "torch" and x.is_cuda:
        return sdpa_kernel(SDPBackend.MATH)
    return contextlib.nullcontext()


class SlidingWindowBlock(Block):
    Config = SlidingWindowConfig

    def __init__(self, config: SlidingWindowConfig) -> None:
        super().__init__(config)
        self.norm1 = nn.RMSNorm(config.d_model)
        self.mixer = SlidingWindowAttention(config)
        self.norm2 = nn.RMSNorm(config.d_model)
        self.mlp = SwiGLU(config.d_model, config.mlp_expand)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.mixer(self.norm1(x), self.select_backend(x))
        return x + self.mlp(self.norm2(x))

    def init_state(self, batch_size: int) -> State:
        c = self.config
        cache = torch.zeros(
            batch_size, c.n_heads, c.window, c.d_model // c.n_heads, **self._factory
        )
        pos = torch.zeros(batch_size, dtype=torch.long, device=cache.device)
        return {"k": cache, "v": cache.clone(), "pos": pos}

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        h, state = self.mixer.step(self.norm1(x), state)
        x = x + h
        return x + self.mlp(self.norm2(x)), state

    def state_size(self, seq_len: int) -> int:
        return 2 * self.config.window * self.config.d_model + 1  # the ring buffer and pos
