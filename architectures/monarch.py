"""Monarch Mixer block: gated implicit long convolution + Monarch gated MLP.

Fu et al. (2023), "Monarch Mixer: A Simple Sub-Quadratic GEMM-Based Architecture", causal
(GPT-style) variant; the sequence mixer is the order-2 Hyena operator of Poli et al.
(2023), "Hyena Hierarchy", as in M2's reference code. Per block, pre-norm residual:

    q, k, v = conv_3(in_proj(RMSNorm(x)))          short causal depthwise conv, k=3
    u = k ⊙ v                                      input gate
    y = q ⊙ (h * u + skip ⊙ u)                     long causal conv (*), skip, output gate
    x = x + out_proj(y)
    x = x + out_proj'(silu(g) ⊙ a),  (g, a) = in_proj'(RMSNorm(x))   Monarch gated MLP

The long filter is implicit (Hyena eq. 7): h_t = FFN(z_t) · exp(-r_d t / l_max), with
z_t = [t / l_max, cos(2π f t / l_max), sin(2π f t / l_max)] and FFN a small MLP with sine
activations; h is a function of the position t, so any length works (extrapolation).
h * u is computed by FFT, zero-padded to n ≥ 2L so the circular convolution is causal:
O(L log L) per channel. The MLP's dense matrices are Monarch matrices
(``monarch_linear.py``): O(D·d_mid / nblocks) per token instead of O(D²).

``step`` is exact: it keeps the gated inputs u of every past token (the long filter sees
all of them, L·D numbers) and the last d_conv - 1 projected inputs of the short conv.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from .base import Block, BlockConfig, State, require
from .layers import round_up
from .monarch_linear import MonarchLinear
from .registry import register


@dataclass(frozen=True)
class MonarchConfig(BlockConfig):
    nblocks: int = 4  # blocks per Monarch factor: cost ~ 2/nblocks of dense
    mlp_expand: float = 4.0  # wider than SwiGLU's 8/3: Monarch layers are cheap
    d_conv: int = 3
    filter_order: int = 64  # width of the implicit filter's MLP
    filter_bands: int = 2  # sine/cosine pairs in the positional features
    l_max: int = 2048  # length scale of the features and decay; not a length limit

    def validate(self) -> None:
        for field in ("nblocks", "d_conv", "filter_order", "filter_bands", "l_max"):
            value = getattr(self, field)
            require(isinstance(value, int) and value > 0, field, value, "must be positive")
        require(
            self.d_model % self.nblocks == 0,
            "d_model",
            self.d_model,
            f"must be divisible by nblocks={self.nblocks}",
        )
        require(self.mlp_expand > 0, "mlp_expand", self.mlp_expand, "must be positive")


@functools.cache
def fast_length(n: int) -> int:
    """Smallest 5-smooth integer ≥ n (FFT sizes pocketfft and cuFFT handle best)."""
    m = max(n, 1)
    while True:
        rest = m
        for p in (2, 3, 5):
            while rest % p == 0:
                rest //= p
        if rest == 1:
            return m
        m += 1


def fft_conv(u: Tensor, h: Tensor) -> Tensor:
    """Causal convolution y_t = Σ_{s≤t} h_{t-s} u_s of u (B, D, L) with h (D, L), by FFT.

    Runs in fp32 (torch.fft lacks bf16 on CPU and loses precision in half) and casts back.
    """
    length = u.shape[-1]
    n = fast_length(2 * length)  # ≥ 2L: no wrap-around, so causal
    u_f = torch.fft.rfft(u.float(), n=n)  # (B, D, n/2+1)
    h_f = torch.fft.rfft(h.float(), n=n)  # (D, n/2+1)
    return torch.fft.irfft(u_f * h_f, n=n)[..., :length].to(u.dtype)


class Sin(nn.Module):
    """sin(w ⊙ x) with a learned frequency per channel (Hyena's filter activation)."""

    def __init__(self, dim: int, w: float = 1.0) -> None:
        super().__init__()
        self.freq = nn.Parameter(torch.full((dim,), w))

    def forward(self, x: Tensor) -> Tensor:
        return torch.sin(self.freq * x)


class ImplicitFilter(nn.Module):
    """h (L, D): MLP of positional features times an exponential decay window."""

    def __init__(self, config: MonarchConfig) -> None:
        super().__init__()
        d, order, emb = config.d_model, config.filter_order, 1 + 2 * config.filter_bands
        self.l_max = config.l_max
        self.register_buffer("bands", torch.arange(config.filter_bands, dtype=torch.float32))
        # Channel d reaches 1% of its start after 0.3..1.5 l_max (Hyena's modulation).
        rate = math.log(100) / torch.linspace(0.3, 1.5, d)
        self.register_buffer("decay_rate", rate)
        self.mlp = nn.Sequential(
            nn.Linear(emb, order), Sin(order), nn.Linear(order, order), Sin(order)
        )
        self.out = nn.Linear(order, d, bias=False)
        self._cache: tuple[tuple, Tensor] | None = None

    def compute(self, length: int) -> Tensor:
        p = self.out.weight
        t = torch.arange(length, device=p.device, dtype=torch.float32)[:, None] / self.l_max
        angle = 2 * math.pi * t * self.bands  # (L, bands)
        z = torch.cat([t, angle.cos(), angle.sin()], dim=-1).to(p.dtype)  # (L, emb)
        window = torch.exp(-t * self.decay_rate).to(p.dtype)  # (L, D)
        return self.out(self.mlp(z)) * window  # (L, D)

    def forward(self, length: int) -> Tensor:
        if torch.is_grad_enabled():  # training: h has parameters, recompute every call
            return self.compute(length)
        # Inference: reuse h, computed for a power-of-two length so step grows it rarely.
        # Keyed by each parameter's storage and version: an optimizer step invalidates it.
        key = tuple((q.data_ptr(), q._version, q.dtype) for q in self.parameters())
        if self._cache is None or self._cache[0] != key or len(self._cache[1]) < length:
            self._cache = (key, self.compute(1 << max(length - 1, 0).bit_length()))
        return self._cache[1][:length]


class M2SequenceMixer(nn.Module):
    def __init__(self, config: MonarchConfig) -> None:
        super().__init__()
        d = config.d_model
        self.in_proj = nn.Linear(d, 3 * d, bias=False)
        self.conv1d = nn.Conv1d(3 * d, 3 * d, config.d_conv, groups=3 * d, padding=0)
        self.filter = ImplicitFilter(config)
        self.skip = nn.Parameter(torch.ones(d))
        self.out_proj = nn.Linear(d, d, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        length = x.shape[1]
        xp = rearrange(self.in_proj(x), "b l c -> b c l")  # (B, 3D, L)
        xp = self.conv1d(F.pad(xp, (self.conv1d.kernel_size[0] - 1, 0)))  # causal
        q, k, v = xp.chunk(3, dim=1)  # each (B, D, L)
        u = k * v
        y = q * (fft_conv(u, self.filter(length).T) + self.skip[:, None] * u)
        return self.out_proj(rearrange(y, "b d l -> b l d"))

    def step(self, x: Tensor, conv: Tensor, history: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        window = torch.cat([conv, self.in_proj(x)[:, :, None]], dim=-1)  # (B, 3D, d_conv)
        xp = (window * self.conv1d.weight[:, 0]).sum(-1) + self.conv1d.bias  # (B, 3D)
        q, k, v = xp.chunk(3, dim=-1)  # each (B, D)
        u = k * v
        history = torch.cat([history, u[:, None]], dim=1)  # (B, t+1, D)
        h = self.filter(history.shape[1]).flip(0)  # (t+1, D): h_t ... h_0
        y = q * (torch.einsum("btd,td->bd", history, h) + self.skip * u)
        return self.out_proj(y), window[..., 1:], history


class MonarchMLP(nn.Module):
    """Gated MLP ``out_proj(silu(gate) ⊙ up)`` with Monarch matrices for both layers."""

    def __init__(self, config: MonarchConfig) -> None:
        super().__init__()
        b = config.nblocks
        d_hidden = round_up(config.mlp_expand * config.d_model, 8 * b)
        self.in_proj = MonarchLinear(config.d_model, 2 * d_hidden, b)
        self.out_proj = MonarchLinear(d_hidden, config.d_model, b)

    def forward(self, x: Tensor) -> Tensor:
        gate, up = self.in_proj(x).chunk(2, dim=-1)
        return self.out_proj(F.silu(gate) * up)


@register("monarch")
class MonarchMixerBlock(Block):
    Config = MonarchConfig

    def __init__(self, config: MonarchConfig) -> None:
        super().__init__(config)
        self.norm1 = nn.RMSNorm(config.d_model)
        self.mixer = M2SequenceMixer(config)
        self.norm2 = nn.RMSNorm(config.d_model)
        self.mlp = MonarchMLP(config)

    def forward(self, x: Tensor) -> Tensor:
        self.select_backend(x)  # "cuda" is this same code: torch.fft runs on cuFFT
        x = x + self.mixer(self.norm1(x))
        return x + self.mlp(self.norm2(x))

    def init_state(self, batch_size: int) -> State:
        d, d_conv = self.config.d_model, self.config.d_conv
        return {
            "conv": torch.zeros(batch_size, 3 * d, d_conv - 1, **self._factory),
            "u": torch.zeros(batch_size, 0, d, **self._factory),
        }

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        y, conv, history = self.mixer.step(self.norm1(x), state["conv"], state["u"])
        x = x + y
        return x + self.mlp(self.norm2(x)), {"conv": conv, "u": history}

    def state_size(self, seq_len: int) -> int:
        d = self.config.d_model
        return 3 * d * (self.config.d_conv - 1) + seq_len * d  # short-conv tail + all u
