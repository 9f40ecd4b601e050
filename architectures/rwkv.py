"""RWKV-6 ("Finch") block: time-mix and channel-mix, each pre-norm with a residual.

Peng et al. (2024), "Eagle and Finch: RWKV with Matrix-Valued States and Dynamic
Recurrence". With x'_t = x_{t-1} the token shift and lora(x) = tanh(x A) B:

    data-dependent lerp  ddlerp_□(x) = x + (x' − x) ⊙ (μ_□ + lora_□(x + (x' − x) ⊙ μ_x))
    r, k, v = W_r ddlerp_r, W_k ddlerp_k, W_v ddlerp_v,   g = SiLU(W_g ddlerp_g)
    decay     d_t = λ + lora_d(ddlerp_w),   w_t = exp(−exp(d_t))      (log decay −exp(d_t))
    WKV       o_t = r_t · (S_{t−1} + diag(u) k_tᵀ v_t),   S_t = diag(w_t) S_{t−1} + k_tᵀ v_t
    time-mix  y = W_o (GroupNorm_H(o) ⊙ g)                             (per head of d_head)
    channel-mix  y = σ(W_r' x_r) ⊙ W_v' ReLU(W_k' x_k)²,  x_□ = x + (x' − x) ⊙ μ'_□

    x = LN_0(x) in the first block only;   x = x + TimeMix(LN(x));   x = x + ChannelMix(LN(x))

Parameter names follow the paper's reference code (RWKV-LM, ``RWKV_Tmix_x060``,
``RWKV_CMix_x060``, ``Block``; ``att`` is ``mixer`` here, ``ffn`` is ``mlp``), so
checkpoints map over by name (the μ vectors and λ here are (D,), there (1, 1, D)).
Initialisation is RWKV-LM's, depth included (``layer_idx`` of ``n_layers``): μ, λ and u ramp
over channels with exponents set by depth, the output, channel-mix value and receptance
start at zero, so a fresh block is the identity (after ln0). The WKV operator lives in
``wkv.py``: a chunked pure-PyTorch reference ("torch" backend) or fla's ``chunk_rwkv6``
kernel ("cuda" backend). ``step`` keeps both token shifts and the WKV state:
2·D + D·d_head numbers, whatever the length.

Weight decay: like RWKV-LM's ``configure_optimizers``, no ``time_*`` parameter decays.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from . import _fused
from .base import Block, BlockConfig, State, require
from .registry import register
from .wkv import wkv6, wkv6_step

__all__ = ["RWKV6Block", "RWKV6Config", "wkv6"]

_MAX_LOG_DECAY_EXPONENT = 60.0  # exp(−exp(60)) underflows to 0 even in float64


@dataclass(frozen=True)
class RWKV6Config(BlockConfig):
    d_head: int = 64  # the paper's head size; d_model=64 gives one head
    mlp_expand: float = 3.5  # channel-mix width, as in RWKV-6
    d_mix_lora: int = 32  # rank of the five token-shift adapters
    d_decay_lora: int = 64  # rank of the decay adapter

    def validate(self) -> None:
        require(self.d_head > 0, "d_head", self.d_head, "must be positive")
        require(
            self.d_model % self.d_head == 0,
            "d_model",
            self.d_model,
            f"must be divisible by d_head={self.d_head} (RWKV-6 heads are d_head wide)",
        )
        require(self.mlp_expand > 0, "mlp_expand", self.mlp_expand, "must be positive")
        for name in ("d_mix_lora", "d_decay_lora"):
            value = getattr(self, name)
            require(value > 0, name, value, "must be positive")


def _at_least_fp32(dtype: torch.dtype) -> torch.dtype:
    return torch.promote_types(dtype, torch.float32)


def _shift(x: Tensor, last: Tensor | None = None) -> Tensor:
    """x'_t = x_{t-1} for x (B, L, D); the token before the first is ``last`` or zero."""
    first = torch.zeros_like(x[:, :1]) if last is None else last[:, None]
    return torch.cat([first, x[:, :-1]], dim=1)


def _depth_ratios(config: RWKV6Config) -> tuple[float, float]:
    """RWKV-LM's ``ratio_0_to_1`` (0 first layer → 1 last) and ``ratio_1_to_almost0``.

    RWKV-LM divides by n_layer − 1, undefined for one layer; a lone block counts as the first.
    """
    i, n = config.layer_idx, config.n_layers
    return i / max(n - 1, 1), 1.0 - i / n


class TimeMix(nn.Module):
    def __init__(self, config: RWKV6Config) -> None:
        super().__init__()
        D, R = config.d_model, config.d_mix_lora
        self.n_heads, self.d_head = D // config.d_head, config.d_head
        # Initialisation of RWKV-LM (RWKV-v5/src/model.py, RWKV_Tmix_x060.__init__): the
        # shift mix, decay and bonus ramp over channels with exponents set by depth.
        ratio_0_to_1, ratio_1_to_almost0 = _depth_ratios(config)
        ddd = torch.arange(D) / D  # (D,)
        self.time_maa_x = nn.Parameter(1 - ddd**ratio_1_to_almost0)
        self.time_maa_w = nn.Parameter(1 - ddd**ratio_1_to_almost0)
        self.time_maa_k = nn.Parameter(1 - ddd**ratio_1_to_almost0)
        self.time_maa_v = nn.Parameter(1 - (ddd**ratio_1_to_almost0 + 0.3 * ratio_0_to_1))
        self.time_maa_r = nn.Parameter(1 - ddd ** (0.5 * ratio_1_to_almost0))
        self.time_maa_g = nn.Parameter(1 - ddd ** (0.5 * ratio_1_to_almost0))
        self.time_maa_w1 = nn.Parameter(torch.zeros(D, 5 * R))
        self.time_maa_w2 = nn.Parameter(torch.empty(5, R, D).uniform_(-0.01, 0.01))
        channel = torch.arange(D) / max(D - 1, 1)
        decay_speed = -6 + 5 * channel ** (0.7 + 1.3 * ratio_0_to_1)
        self.time_decay = nn.Parameter(decay_speed)  # λ
        self.time_decay_w1 = nn.Parameter(torch.zeros(D, config.d_decay_lora))
        self.time_decay_w2 = nn.Parameter(torch.empty(config.d_decay_lora, D).uniform_(-0.01, 0.01))
        zigzag = ((torch.arange(D) + 1) % 3 - 1) * 0.1
        bonus = ratio_0_to_1 * (1 - channel) + zigzag
        self.time_faaaa = nn.Parameter(rearrange(bonus, "(h k) -> h k", k=self.d_head))  # u
        self.receptance = nn.Linear(D, D, bias=False)
        self.key = nn.Linear(D, D, bias=False)
        self.value = nn.Linear(D, D, bias=False)
        self.gate = nn.Linear(D, D, bias=False)
        self.output = nn.Linear(D, D, bias=False)
        self.ln_x = nn.GroupNorm(self.n_heads, D, eps=64e-5)  # RWKV-6: 1e-5 · 8²
        # RWKV-LM (RWKV.generate_init_weight): orthogonal matrices, the key and gate at
        # gain 0.1, the output at zero (each block starts as the identity); the GroupNorm
        # gain grows with depth as ((layer + 1) / n_layer)^0.7.
        with torch.no_grad():
            for layer, gain in ((self.receptance, 1.0), (self.key, 0.1), (self.value, 1.0),
                                (self.gate, 0.1)):  # fmt: skip
                nn.init.orthogonal_(layer.weight, gain=gain)
            nn.init.zeros_(self.output.weight)
            self.ln_x.weight.fill_(((config.layer_idx + 1) / config.n_layers) ** 0.7)

    def project(self, x: Tensor, x_prev: Tensor) -> tuple[Tensor, ...]:
        """r, k, v, log decay (each (B, L, H, d_head)) and the gate g (B, L, D)."""
        xx = x_prev - x
        lerp = torch.tanh((x + xx * self.time_maa_x) @ self.time_maa_w1)  # (B, L, 5R)
        lerp = rearrange(lerp, "b l (five r) -> five b l r", five=5)
        m_w, m_k, m_v, m_r, m_g = torch.einsum("fblr,frd->fbld", lerp, self.time_maa_w2)
        x_w = x + xx * (self.time_maa_w + m_w)
        r = self.receptance(x + xx * (self.time_maa_r + m_r))
        k = self.key(x + xx * (self.time_maa_k + m_k))
        v = self.value(x + xx * (self.time_maa_v + m_v))
        g = F.silu(self.gate(x + xx * (self.time_maa_g + m_g)))
        d = self.time_decay + torch.tanh(x_w @ self.time_decay_w1) @ self.time_decay_w2
        # log w_t = −exp(d_t), in fp32. Beyond d = 60, w_t = exp(−exp(d)) is 0 in any float;
        # the cap only keeps −exp(d) finite, so backward never multiplies 0 by inf.
        log_w = -d.to(_at_least_fp32(d.dtype)).clamp(max=_MAX_LOG_DECAY_EXPONENT).exp()
        heads = (rearrange(t, "b l (h k) -> b l h k", k=self.d_head) for t in (r, k, v, log_w))
        return *heads, g

    def finish(self, o: Tensor, g: Tensor) -> Tensor:
        """GroupNorm over heads, gate, output projection; o (B, L, H, d_head) -> (B, L, D)."""
        B = o.shape[0]
        o = self.ln_x(rearrange(o, "b l h k -> (b l) (h k)").to(g.dtype))
        return self.output(rearrange(o, "(b l) d -> b l d", b=B) * g)

    def forward(self, x: Tensor, backend: str) -> Tensor:
        r, k, v, w, g = self.project(x, _shift(x))
        op = _fused.rwkv6_chunk if backend == "cuda" else wkv6
        o, _ = op(r, k, v, w, self.time_faaaa)  # the fused seam casts for its kernel
        return self.finish(o, g)

    def step(self, x: Tensor, last: Tensor, S: Tensor) -> tuple[Tensor, Tensor]:
        r, k, v, w, g = self.project(x[:, None], last[:, None])  # L = 1
        r, k, v, w = (t[:, 0].to(S.dtype) for t in (r, k, v, w))  # (B, H, d_head)
        o, S = wkv6_step(r, k, v, w, self.time_faaaa.to(S.dtype), S)
        return self.finish(o[:, None], g)[:, 0], S


class ChannelMix(nn.Module):
    def __init__(self, config: RWKV6Config) -> None:
        super().__init__()
        D = config.d_model
        # RWKV-LM (RWKV_CMix_x060.__init__): shift mix by depth; width 3.5·D floored to 32.
        _, ratio_1_to_almost0 = _depth_ratios(config)
        ddd = torch.arange(D) / D
        self.time_maa_k = nn.Parameter(1 - ddd**ratio_1_to_almost0)
        self.time_maa_r = nn.Parameter(1 - ddd**ratio_1_to_almost0)
        d_hidden = max(int(config.mlp_expand * D) // 32 * 32, 32)
        self.key = nn.Linear(D, d_hidden, bias=False)
        self.value = nn.Linear(d_hidden, D, bias=False)
        self.receptance = nn.Linear(D, D, bias=False)
        # RWKV-LM (RWKV.generate_init_weight): key orthogonal, value and receptance zero.
        with torch.no_grad():
            nn.init.orthogonal_(self.key.weight)
            nn.init.zeros_(self.value.weight)
            nn.init.zeros_(self.receptance.weight)

    def forward(self, x: Tensor, x_prev: Tensor) -> Tensor:
        xx = x_prev - x
        k = torch.relu(self.key(x + xx * self.time_maa_k)).square()
        return torch.sigmoid(self.receptance(x + xx * self.time_maa_r)) * self.value(k)


@register("rwkv")
class RWKV6Block(Block):
    Config = RWKV6Config
    cuda_package = "fla"

    # RWKV-LM (RWKV-v5/src/model.py, RWKV.configure_optimizers) decays only 2-D weights
    # whose names hold no "time_": the μ's, their LoRAs, λ, the decay LoRA and u are exempt.
    no_weight_decay_patterns = ("*time_*",)

    @classmethod
    def cuda_kernels_installed(cls) -> bool:
        return _fused.importable("chunk_rwkv6")  # imports, not only found

    def __init__(self, config: RWKV6Config) -> None:
        super().__init__(config)
        # RWKV-LM (Block.forward) normalises the embeddings with ln0 inside the first block.
        self.ln0 = nn.LayerNorm(config.d_model) if config.layer_idx == 0 else None
        self.ln1 = nn.LayerNorm(config.d_model)
        self.mixer = TimeMix(config)
        self.ln2 = nn.LayerNorm(config.d_model)
        self.mlp = ChannelMix(config)

    def forward(self, x: Tensor) -> Tensor:
        if self.ln0 is not None:
            x = self.ln0(x)
        x = x + self.mixer(self.ln1(x), self.select_backend(x))
        h = self.ln2(x)
        return x + self.mlp(h, _shift(h))

    def init_state(self, batch_size: int) -> State:
        D, H, K = self.config.d_model, self.mixer.n_heads, self.mixer.d_head
        factory = self._factory
        return {
            "mix_shift": torch.zeros(batch_size, D, **factory),
            # fp32 (fp64 for an fp64 block), as fla keeps its state
            "wkv": torch.zeros(
                batch_size,
                H,
                K,
                K,
                device=factory["device"],
                dtype=_at_least_fp32(factory["dtype"]),
            ),
            "mlp_shift": torch.zeros(batch_size, D, **factory),
        }

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        if self.ln0 is not None:
            x = self.ln0(x)
        h = self.ln1(x)
        y, S = self.mixer.step(h, state["mix_shift"], state["wkv"])
        x = x + y
        h2 = self.ln2(x)
        x = x + self.mlp(h2[:, None], state["mlp_shift"][:, None])[:, 0]
        return x, {"mix_shift": h, "wkv": S, "mlp_shift": h2}

    def state_size(self, seq_len: int) -> int:
        return 2 * self.config.d_model + self.config.d_model * self.config.d_head
