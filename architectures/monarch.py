"""Monarch Mixer block: gated implicit long convolution + block-diagonal gated MLP.

Fu et al. (2023), "Monarch Mixer: A Simple Sub-Quadratic GEMM-Based Architecture", causal
(GPT-style) variant, following the released code (HazyResearch/m2, ``bert/src/mm``); the
sequence mixer is the order-2 Hyena operator of Poli et al. (2023), "Hyena Hierarchy".
Per block, pre-norm residual (M2-BERT is post-norm; every seqbench block is pre-norm):

    x1, x2, v = conv_3(in_proj(RMSNorm(x)))        short causal depthwise conv, k=3
    u = x1 ⊙ v                                     input gate
    y = x2 ⊙ (h * u + skip ⊙ u)                    long causal conv (*), skip, output gate
    x = x + out_proj(y)
    x = x + out_proj'(GELU(g) ⊙ a),  (g, a) = in_proj'(RMSNorm(x))   gated MLP

The long filter is implicit (Hyena eq. 7, M2's ``HyenaFilter``; see ``ImplicitFilter``):
an MLP with sine activations of positional features, times an exponential decay window.
Positions are normalised over ``l_max``, t_i = i / (l_max − 1), so set ``l_max`` to the
training length: the filter then spans [0, 1] over the sequence, with real structure (at
L = l_max = 64, |h_63| / |h_0| ≈ 0.01). h is a function of the position, so longer inputs
continue past t = 1 (extrapolation), where the window has decayed below 1%.
h * u is computed by FFT, zero-padded to n ≥ 2L so the circular convolution is causal:
O(L log L) per channel.

The MLP is M2's released one: block-diagonal matrices (``BlockDiagLinear``, one factor,
channels mix only inside each of ``nblocks`` blocks) around a GELU gate. ``mlp="monarch"``
swaps in the two-factor Monarch matrices M = R·P·L the paper describes
(``MonarchLinear``), which mix every channel with every other.

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
from .monarch_linear import BlockDiagLinear, MonarchLinear
from .registry import register

MLP_KINDS = ("blockdiag", "monarch")


@dataclass(frozen=True)
class MonarchConfig(BlockConfig):
    nblocks: int = 4  # blocks of the MLP's structured matrices: cost ~ 1/nblocks of dense
    mlp_expand: float = 4.0  # M2-BERT: intermediate 4·D, gated (its yamls, 768 -> 3072)
    mlp: str = "blockdiag"  # "blockdiag": M2's released MLP; "monarch": the paper's M = RPL
    d_conv: int = 3
    filter_order: int = 64  # width of the implicit filter's MLP (M2 default 16, M2-BERT 128)
    filter_bands: int = 2  # sine/cosine pairs in the positional features (M2-BERT emb_dim 5)
    filter_w: float = 10.0  # initial frequency of the filter's Sin activations (M2: 10)
    # Positions are t = i / (l_max − 1): the filter spans [0, 1] over l_max tokens and its
    # decay window reaches 1% between 0.3 and 1.5 l_max. Set it to the training length, as
    # M2 does (long_conv_l_max = max_seq_len); longer inputs continue past t = 1.
    l_max: int = 128

    def validate(self) -> None:
        for field in ("nblocks", "d_conv", "filter_order", "filter_bands"):
            value = getattr(self, field)
            require(isinstance(value, int) and value > 0, field, value, "must be positive")
        require(isinstance(self.l_max, int) and self.l_max > 1, "l_max", self.l_max, "must be >= 2")
        require(
            self.d_model % self.nblocks == 0,
            "d_model",
            self.d_model,
            f"must be divisible by nblocks={self.nblocks}",
        )
        require(self.mlp_expand > 0, "mlp_expand", self.mlp_expand, "must be positive")
        require(self.mlp in MLP_KINDS, "mlp", self.mlp, f"must be one of {MLP_KINDS}")


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

    Runs in fp32 (torch.fft lacks bf16 on CPU and loses precision in half; fp64 stays
    fp64) and casts back.
    """
    length = u.shape[-1]
    n = fast_length(2 * length)  # ≥ 2L: no wrap-around, so causal
    dtype = torch.promote_types(u.dtype, torch.float32)
    u_f = torch.fft.rfft(u.to(dtype), n=n)  # (B, D, n/2+1)
    h_f = torch.fft.rfft(h.to(dtype), n=n)  # (D, n/2+1)
    return torch.fft.irfft(u_f * h_f, n=n)[..., :length].to(u.dtype)


class Sin(nn.Module):
    """sin(w ⊙ x) with a learned frequency per channel (Hyena's filter activation)."""

    def __init__(self, dim: int, w: float = 10.0) -> None:
        super().__init__()
        self.freq = nn.Parameter(torch.full((dim,), w))

    def forward(self, x: Tensor) -> Tensor:
        return torch.sin(self.freq * x)


class ImplicitFilter(nn.Module):
    """h (L, D): an MLP of positional features, times an exponential decay window.

    As M2's ``HyenaFilter`` (m2, ``bert/src/mm/hyena_utils.py``), with t_i = i / (l_max − 1):

        z_i = [t_i, cos(2π f i / l_max), −sin(2π f i / l_max)],   f = linspace(1e-4, bands − 1)
        h_i = (W_out · sin(Linear(sin(Linear(sin(Linear(z_i))))))) ⊙ exp(−t_i · δ)

    the three sines sharing one learned frequency vector (M2 appends the same ``Sin``
    module after every layer), δ = linspace(ln 100 / 1.5, ln 100 / 0.3) over channels. M2
    learns z with a learning rate of 1e-5; here z is fixed.
    """

    def __init__(self, config: MonarchConfig) -> None:
        super().__init__()
        d, order, emb = config.d_model, config.filter_order, 1 + 2 * config.filter_bands
        self.l_max, self.n_bands, self.d_model = config.l_max, config.filter_bands, d
        sin = Sin(order, config.filter_w)  # one module, so one frequency vector, as in M2
        self.mlp = nn.Sequential(
            nn.Linear(emb, order), sin,
            nn.Linear(order, order), sin,
            nn.Linear(order, order), sin,
        )  # fmt: skip
        self.out = nn.Linear(order, d, bias=False)
        self._cache: tuple[tuple, Tensor] | None = None

    def features(self, length: int, dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
        """z (L, 1 + 2·bands) and t (L, 1) for positions 0 … L − 1."""
        factory = {"device": self.out.weight.device, "dtype": dtype}
        i = torch.arange(length, **factory)[:, None]
        t = i / (self.l_max - 1)
        bands = torch.linspace(1e-4, self.n_bands - 1, self.n_bands, **factory)
        angle = 2 * math.pi * i / self.l_max * bands  # (L, bands)
        return torch.cat([t, angle.cos(), -angle.sin()], dim=-1), t

    def window(self, t: Tensor) -> Tensor:
        """ExponentialModulation: channel c falls to 1% at t = 1.5 (c = 0) … 0.3 (c = D − 1)."""
        rate = torch.linspace(
            math.log(100) / 1.5, math.log(100) / 0.3, self.d_model, device=t.device, dtype=t.dtype
        )
        return torch.exp(-t * rate)  # (L, D)

    def compute(self, length: int) -> Tensor:
        p = self.out.weight
        # Positions are made in fp32 at least (fp64 for an fp64 block), not stored as
        # buffers: the Sin layers (frequency 10) amplify any rounding of them.
        z, t = self.features(length, torch.promote_types(p.dtype, torch.float32))
        return self.out(self.mlp(z.to(p.dtype))) * self.window(t).to(p.dtype)  # (L, D)

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
    """M2's ``MonarchMixerSequenceMixing`` (m2, ``bert/src/mm/monarch_mixer_sequence_mixer.py``),
    causal: its ``in_linear``, ``short_filter``, ``filter_fn`` and ``filter_fn.bias`` are
    ``in_proj``, ``conv1d``, ``filter`` and ``skip`` here, ``out_linear`` is ``out_proj``.
    """

    def __init__(self, config: MonarchConfig) -> None:
        super().__init__()
        d = config.d_model
        self.in_proj = nn.Linear(d, 3 * d)
        self.conv1d = nn.Conv1d(3 * d, 3 * d, config.d_conv, groups=3 * d, padding=0)
        self.filter = ImplicitFilter(config)
        self.skip = nn.Parameter(torch.randn(d))  # HyenaFilter.bias: randn, as in M2
        self.out_proj = nn.Linear(d, d)

    def forward(self, x: Tensor) -> Tensor:
        length = x.shape[1]
        xp = rearrange(self.in_proj(x), "b l c -> b c l")  # (B, 3D, L)
        xp = self.conv1d(F.pad(xp, (self.conv1d.kernel_size[0] - 1, 0)))  # causal
        x1, x2, v = xp.chunk(3, dim=1)  # each (B, D, L), M2's order
        u = v * x1  # input gate
        y = x2 * (fft_conv(u, self.filter(length).T) + self.skip[:, None] * u)  # output gate
        return self.out_proj(rearrange(y, "b d l -> b l d"))

    def step(self, x: Tensor, conv: Tensor, history: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        window = torch.cat([conv, self.in_proj(x)[:, :, None]], dim=-1)  # (B, 3D, d_conv)
        xp = (window * self.conv1d.weight[:, 0]).sum(-1) + self.conv1d.bias  # (B, 3D)
        x1, x2, v = xp.chunk(3, dim=-1)  # each (B, D)
        u = v * x1
        history = torch.cat([history, u[:, None]], dim=1)  # (B, t+1, D)
        h = self.filter(history.shape[1]).flip(0)  # (t+1, D): h_t ... h_0
        y = x2 * (torch.einsum("btd,td->bd", history, h) + self.skip * u)
        return self.out_proj(y), window[..., 1:], history


class M2MLP(nn.Module):
    """M2's gated MLP (m2, ``bert/src/mm/bert_layers.py``, ``BertGatedLinearUnitMLP`` with
    ``use_monarch_mlp``): ``out_proj(GELU(gate) ⊙ up)``, ``(gate, up) = in_proj(x)``.

    ``mlp="blockdiag"`` uses M2's block-diagonal layers (``gated_layers`` without bias,
    ``wo`` with bias); ``mlp="monarch"`` the two-factor Monarch matrices of the paper.
    """

    def __init__(self, config: MonarchConfig) -> None:
        super().__init__()
        b, d = config.nblocks, config.d_model
        d_hidden = round_up(config.mlp_expand * d, 8 * b)
        if config.mlp == "blockdiag":
            self.in_proj = BlockDiagLinear(d, 2 * d_hidden, b, bias=False)
            self.out_proj = BlockDiagLinear(d_hidden, d, b)
        else:
            self.in_proj = MonarchLinear(d, 2 * d_hidden, b)
            self.out_proj = MonarchLinear(d_hidden, d, b)

    def forward(self, x: Tensor) -> Tensor:
        gate, up = self.in_proj(x).chunk(2, dim=-1)
        return self.out_proj(F.gelu(gate) * up)


@register("monarch")
class MonarchMixerBlock(Block):
    Config = MonarchConfig

    def __init__(self, config: MonarchConfig) -> None:
        super().__init__(config)
        self.norm1 = nn.RMSNorm(config.d_model)
        self.mixer = M2SequenceMixer(config)
        self.norm2 = nn.RMSNorm(config.d_model)
        self.mlp = M2MLP(config)

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
