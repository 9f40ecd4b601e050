"""Mamba block: the selective state-space mixer inside a pre-norm residual, no MLP.

Gu & Dao (2023), "Mamba: Linear-Time Sequence Modeling with Selective State Spaces",
Section 3 and Figure 3. With d_inner = expand·D channels and N states per channel:

    x, z   = in_proj(RMSNorm(x_in))                    two branches, (B, L, d_inner) each
    x      = SiLU(conv1d(x))                           causal depthwise, width d_conv
    Δ, B, C = softplus(dt_proj(x_proj(x)_Δ)), x_proj(x)_B, x_proj(x)_C    (input-dependent)
    h_t    = exp(Δ_t A) h_{t-1} + Δ_t B_t x_t,   A = -exp(A_log) diagonal   (eq. 2a, 4)
    y_t    = C_t h_t + D x_t
    out    = x_in + out_proj(y ⊙ SiLU(z))

Initialisation as the paper: A = -(1, 2, …, N) per channel (S4D-real), Δ's bias the
inverse softplus of dt ~ log-uniform[dt_min, dt_max], D = 1; and as mamba_ssm's LM,
out_proj scaled by 1/√n_layers. ``A_log`` and ``D`` are exempt from weight decay. Parameter names are
mamba_ssm's (``in_proj``, ``conv1d``, ``x_proj``, ``dt_proj``, ``A_log``, ``D``,
``out_proj`` on ``mixer``; ``norm`` beside it), so a mamba_ssm or mambapy checkpoint
loads unchanged.

Backends: "torch" runs the chunked scan of ``selective_scan.py``; "cuda" runs
mamba_ssm's fused ``selective_scan_fn`` and, when installed, ``causal_conv1d_fn``.
``step`` keeps the last d_conv inputs of the conv and the SSM state:
d_inner·(d_conv + N) numbers per sequence, whatever the length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from . import _fused
from .base import Block, BlockConfig, State, require
from .registry import register
from .selective_scan import selective_scan


@dataclass(frozen=True)
class MambaConfig(BlockConfig):
    d_state: int = 16
    expand: int = 2
    d_conv: int = 4
    dt_rank: int | None = None  # None: ceil(d_model / 16), the paper's choice
    dt_min: float = 0.001
    dt_max: float = 0.1
    dt_init_floor: float = 1e-4
    conv_bias: bool = True
    bias: bool = False
    norm_eps: float = 1e-5
    chunk_size: int = 16  # torch backend: time steps per chunk of the scan; 16 is fastest on CPU

    def validate(self) -> None:
        for name in ("d_state", "expand", "d_conv", "chunk_size"):
            value = getattr(self, name)
            require(isinstance(value, int) and value > 0, name, value, "must be a positive integer")
        require(
            self.dt_rank is None or (isinstance(self.dt_rank, int) and self.dt_rank > 0),
            "dt_rank",
            self.dt_rank,
            "must be a positive integer or None (= ceil(d_model / 16))",
        )
        require(self.dt_min > 0, "dt_min", self.dt_min, "must be positive")
        require(
            self.dt_max >= self.dt_min, "dt_max", self.dt_max, f"must be >= dt_min={self.dt_min}"
        )

    @property
    def d_inner(self) -> int:
        return self.expand * self.d_model

    @property
    def rank(self) -> int:
        return self.dt_rank or math.ceil(self.d_model / 16)


class MambaMixer(nn.Module):
    def __init__(self, config: MambaConfig) -> None:
        super().__init__()
        self.config = config
        d_inner, n, rank = config.d_inner, config.d_state, config.rank
        self.in_proj = nn.Linear(config.d_model, 2 * d_inner, bias=config.bias)
        self.conv1d = nn.Conv1d(
            d_inner, d_inner, config.d_conv, groups=d_inner, padding=config.d_conv - 1,
            bias=config.conv_bias,
        )  # fmt: skip
        self.x_proj = nn.Linear(d_inner, rank + 2 * n, bias=False)
        self.dt_proj = nn.Linear(rank, d_inner, bias=True)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, n + 1.0)).repeat(d_inner, 1))
        self.D = nn.Parameter(torch.ones(d_inner))
        # mamba_ssm (mamba_simple.py, Mamba.__init__) exempts both from weight decay.
        self.A_log._no_weight_decay = True
        self.D._no_weight_decay = True
        self.out_proj = nn.Linear(d_inner, config.d_model, bias=config.bias)
        self._init_dt(config)
        self._init_residual(config)

    @torch.no_grad()
    def _init_dt(self, config: MambaConfig) -> None:
        std = config.rank**-0.5
        nn.init.uniform_(self.dt_proj.weight, -std, std)
        log_min, log_max = math.log(config.dt_min), math.log(config.dt_max)
        dt = torch.exp(torch.rand(config.d_inner) * (log_max - log_min) + log_min)
        dt = dt.clamp(min=config.dt_init_floor)
        self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus⁻¹(dt)

    @torch.no_grad()
    def _init_residual(self, config: MambaConfig) -> None:
        # mamba_ssm (models/mixer_seq_simple.py, _init_weights): Linear biases start at zero
        # (dt_proj's is exempt, ``_no_reinit``) and out_proj, the layer's write into the
        # residual stream, is PyTorch's default init divided by √n_layer (GPT-2's scheme,
        # one residual branch per Mamba layer).
        for linear in (self.in_proj, self.out_proj):
            if linear.bias is not None:
                nn.init.zeros_(linear.bias)
        self.out_proj.weight.div_(math.sqrt(config.n_layers))

    def _delta_b_c(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Δ before bias and softplus (…, d_inner), B and C (…, N) from x (…, d_inner)."""
        n = self.config.d_state
        dt, B, C = self.x_proj(x).split([self.config.rank, n, n], dim=-1)
        return F.linear(dt, self.dt_proj.weight), B, C

    def forward(self, hidden: Tensor, backend: str) -> Tensor:
        length = hidden.shape[1]
        xz = rearrange(self.in_proj(hidden), "b l e -> b e l")  # (B, 2·d_inner, L)
        x, z = xz.chunk(2, dim=1)  # (B, d_inner, L) each
        if backend == "cuda":  # fused kernels; _fused lays out their arguments
            x = _fused.mamba_causal_conv(x, self.conv1d)
            scan = _fused.mamba_selective_scan
        else:
            x = F.silu(self.conv1d(x)[..., :length])  # drop the right padding: causal
            scan = partial(selective_scan, chunk_size=self.config.chunk_size)
        delta, B, C = self._delta_b_c(rearrange(x, "b d l -> b l d"))
        A = -torch.exp(self.A_log.float())  # (d_inner, N)
        y = scan(
            x,
            rearrange(delta, "b l d -> b d l"),
            A,
            rearrange(B, "b l n -> b n l"),
            rearrange(C, "b l n -> b n l"),
            self.D.float(),
            z=z,
            delta_bias=self.dt_proj.bias.float(),
            delta_softplus=True,
        )  # (B, d_inner, L)
        return self.out_proj(rearrange(y, "b d l -> b l d"))

    def step(self, hidden: Tensor, conv_state: Tensor, ssm_state: Tensor):
        x, z = self.in_proj(hidden).chunk(2, dim=-1)  # (B, d_inner) each
        conv_state = torch.cat([conv_state[..., 1:], x[..., None]], dim=-1)  # (B, d_inner, d_conv)
        x = torch.einsum("bdw,dw->bd", conv_state, self.conv1d.weight[:, 0])
        x = F.silu(x if self.conv1d.bias is None else x + self.conv1d.bias)
        delta, B, C = self._delta_b_c(x)
        delta = F.softplus(delta + self.dt_proj.bias)  # (B, d_inner)
        A = -torch.exp(self.A_log.float())
        decay = torch.exp(delta[..., None].float() * A)  # (B, d_inner, N)
        ssm_state = decay * ssm_state + (delta * x)[..., None] * B[:, None]
        y = torch.einsum("bdn,bn->bd", ssm_state.to(x.dtype), C) + self.D * x
        return self.out_proj(y * F.silu(z)), conv_state, ssm_state.to(hidden.dtype)


@register("mamba")
class MambaBlock(Block):
    Config = MambaConfig
    cuda_package = "mamba_ssm"

    @classmethod
    def cuda_kernels_installed(cls) -> bool:
        return _fused.importable("selective_scan_fn")  # imports, not only found

    def __init__(self, config: MambaConfig) -> None:
        super().__init__(config)
        self.norm = nn.RMSNorm(config.d_model, eps=config.norm_eps)
        self.mixer = MambaMixer(config)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.mixer(self.norm(x), self.select_backend(x))

    def init_state(self, batch_size: int) -> State:
        c = self.config
        return {
            "conv": torch.zeros(batch_size, c.d_inner, c.d_conv, **self._factory),
            "ssm": torch.zeros(batch_size, c.d_inner, c.d_state, **self._factory),
        }

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        y, conv, ssm = self.mixer.step(self.norm(x), state["conv"], state["ssm"])
        return x + y, {"conv": conv, "ssm": ssm}

    def state_size(self, seq_len: int) -> int:
        return self.config.d_inner * (self.config.d_conv + self.config.d_state)
