"""RWKV-4 block: time-mix and channel-mix, each pre-norm with a residual.

Peng et al. (2023), "RWKV: Reinventing RNNs for the Transformer Era". With x'_t = x_{t-1}
the token shift and mix_□(x) = μ_□ ⊙ x + (1 − μ_□) ⊙ x':

    r, k, v   = W_r mix_r(x), W_k mix_k(x), W_v mix_v(x)
    WKV       wkv_t = (Σ_{s<t} e^{(t−1−s)w + k_s} v_s + e^{u+k_t} v_t)
                    / (Σ_{s<t} e^{(t−1−s)w + k_s} + e^{u+k_t}),   per channel
              w = −exp(time_decay),  u = time_first
    time-mix  y = W_o (σ(r) ⊙ wkv)
    channel-mix  y = σ(W_r' mix'_r(x)) ⊙ W_v' ReLU(W_k' mix'_k(x))²      (width 4·D)

    x = LN_0(x) in the first block only;   x = x + TimeMix(LN_1(x));   x = x + ChannelMix(LN_2(x))

The reference code is BlinkDL/RWKV-LM, ``RWKV-v4neo/src/model.py`` (``RWKV_TimeMix``,
``RWKV_ChannelMix``, ``Block``; ``RWKV-v4/src/model.py`` has the same classes), which is
also Zoology's ``rwkv`` mixer. Parameter names are RWKV-LM's (``att`` is ``mixer`` here,
``ffn`` is ``mlp``; the μ vectors are (D,), there (1, 1, D)), so checkpoints map over by
name. Initialisation is RWKV-LM's, depth included (``layer_idx`` of ``n_layers``): μ, the
decay and the bonus ramp over channels, and the time-mix key, receptance and output, the
channel-mix value and receptance start at zero, so a fresh block is the identity (after
ln0). The WKV operator lives in ``wkv4.py``: the per-channel sums held stably as in
RWKV-LM's CUDA kernel, chunked so that ``forward`` has no loop over tokens.

Backends: RWKV-LM compiles its RWKV-4 kernel from the repository at run time; it is in no
package. fla-core ships a Triton recurrence (``fla.ops.rwkv4.fused_recurrent_rwkv4``) that is
not wired in: no GPU has checked it against ``wkv4`` here. So "cuda" runs this same
PyTorch code on the GPU. ``step`` keeps both token shifts and the WKV state (aa, bb, pp per
channel, as RWKV-LM's RNN mode): 5·D numbers, whatever the length.

Weight decay: like RWKV-LM's ``configure_optimizers``, no ``time_*`` parameter decays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .base import Block, BlockConfig, State, require
from .registry import register
from .rwkv import _at_least_fp32, _depth_ratios, _shift
from .wkv4 import Sum, empty_state, wkv4, wkv4_step

__all__ = ["RWKV4Block", "RWKV4Config", "wkv4"]

_MAX_LOG_DECAY_EXPONENT = 60.0  # w = −exp(60) already makes e^w 0 in any float; keeps w finite


@dataclass(frozen=True)
class RWKV4Config(BlockConfig):
    mlp_expand: float = 4.0  # channel-mix width, as in RWKV-4 (hidden_sz = 4 · n_embd)

    def validate(self) -> None:
        require(self.mlp_expand > 0, "mlp_expand", self.mlp_expand, "must be positive")


def _mix(x: Tensor, x_prev: Tensor, mu: Tensor) -> Tensor:
    """μ ⊙ x + (1 − μ) ⊙ x': RWKV-4's token shift (μ = 1 keeps the current token)."""
    return x * mu + x_prev * (1 - mu)


class TimeMix(nn.Module):
    def __init__(self, config: RWKV4Config) -> None:
        super().__init__()
        D = config.d_model
        # Initialisation of RWKV-LM (RWKV-v4neo/src/model.py, RWKV_TimeMix.__init__): the
        # decay ramps from −5 to 3 over channels, steeper with depth; the bonus is log 0.3
        # with a zigzag; the shift mixes ramp over channels with exponents set by depth.
        ratio_0_to_1, ratio_1_to_almost0 = _depth_ratios(config)
        channel = torch.arange(D) / max(D - 1, 1)
        self.time_decay = nn.Parameter(-5 + 8 * channel ** (0.7 + 1.3 * ratio_0_to_1))
        zigzag = ((torch.arange(D) + 1) % 3 - 1) * 0.5
        self.time_first = nn.Parameter(math.log(0.3) + zigzag)  # u
        ddd = torch.arange(D) / D
        self.time_mix_k = nn.Parameter(ddd**ratio_1_to_almost0)
        self.time_mix_v = nn.Parameter(ddd**ratio_1_to_almost0 + 0.3 * ratio_0_to_1)
        self.time_mix_r = nn.Parameter(ddd ** (0.5 * ratio_1_to_almost0))
        self.key = nn.Linear(D, D, bias=False)
        self.value = nn.Linear(D, D, bias=False)
        self.receptance = nn.Linear(D, D, bias=False)
        self.output = nn.Linear(D, D, bias=False)
        # RWKV-LM (RWKV.generate_init_weight): key, receptance and output at zero, value
        # orthogonal with gain 1.
        with torch.no_grad():
            for layer in (self.key, self.receptance, self.output):
                nn.init.zeros_(layer.weight)
            nn.init.orthogonal_(self.value.weight)

    def log_decay(self) -> Tensor:
        """w = −exp(time_decay) (D,), in fp32; capped so that w stays finite."""
        d = self.time_decay.to(_at_least_fp32(self.time_decay.dtype))
        return -d.clamp(max=_MAX_LOG_DECAY_EXPONENT).exp()

    def project(self, x: Tensor, x_prev: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """σ(r), k, v, each (..., D)."""
        k = self.key(_mix(x, x_prev, self.time_mix_k))
        v = self.value(_mix(x, x_prev, self.time_mix_v))
        r = self.receptance(_mix(x, x_prev, self.time_mix_r))
        return torch.sigmoid(r), k, v

    def forward(self, x: Tensor) -> Tensor:
        sr, k, v = self.project(x, _shift(x))
        wkv, _ = wkv4(self.log_decay(), self.time_first, k, v)  # (B, L, D), x's dtype
        return self.output(sr * wkv)

    def step(self, x: Tensor, last: Tensor, state: Sum) -> tuple[Tensor, Sum]:
        sr, k, v = self.project(x, last)  # (B, D)
        w, u = self.log_decay(), self.time_first.to(state[0].dtype)
        wkv, state = wkv4_step(w, u, k.to(w.dtype), v.to(w.dtype), state)
        return self.output(sr * wkv.to(x.dtype)), state


class ChannelMix(nn.Module):
    def __init__(self, config: RWKV4Config) -> None:
        super().__init__()
        D = config.d_model
        # RWKV-LM (RWKV_ChannelMix.__init__): shift mixes by depth; width 4·D.
        _, ratio_1_to_almost0 = _depth_ratios(config)
        ddd = torch.arange(D) / D
        self.time_mix_k = nn.Parameter(ddd**ratio_1_to_almost0)
        self.time_mix_r = nn.Parameter(ddd**ratio_1_to_almost0)
        d_hidden = int(config.mlp_expand * D)
        self.key = nn.Linear(D, d_hidden, bias=False)
        self.receptance = nn.Linear(D, D, bias=False)
        self.value = nn.Linear(d_hidden, D, bias=False)
        # RWKV-LM (RWKV.generate_init_weight): key orthogonal with gain √(d_hidden / D), the
        # gain it gives a matrix taller than wide; value and receptance at zero.
        with torch.no_grad():
            nn.init.orthogonal_(self.key.weight, gain=math.sqrt(max(d_hidden / D, 1.0)))
            nn.init.zeros_(self.value.weight)
            nn.init.zeros_(self.receptance.weight)

    def forward(self, x: Tensor, x_prev: Tensor) -> Tensor:
        k = torch.relu(self.key(_mix(x, x_prev, self.time_mix_k))).square()
        return torch.sigmoid(self.receptance(_mix(x, x_prev, self.time_mix_r))) * self.value(k)


@register("rwkv4")
class RWKV4Block(Block):
    Config = RWKV4Config

    # RWKV-LM (RWKV-v4neo/src/model.py, RWKV.configure_optimizers) decays only weights with
    # two or more dimensions, and puts time_mix, time_decay and time_first in their own
    # groups without decay.
    no_weight_decay_patterns = ("*time_*",)

    def __init__(self, config: RWKV4Config) -> None:
        super().__init__(config)
        # RWKV-LM (Block.forward) normalises the embeddings with ln0 inside the first block.
        self.ln0 = nn.LayerNorm(config.d_model) if config.layer_idx == 0 else None
        self.ln1 = nn.LayerNorm(config.d_model)
        self.mixer = TimeMix(config)
        self.ln2 = nn.LayerNorm(config.d_model)
        self.mlp = ChannelMix(config)

    def forward(self, x: Tensor) -> Tensor:
        self.select_backend(x)  # "cuda" is this same code (see the module docstring)
        if self.ln0 is not None:
            x = self.ln0(x)
        x = x + self.mixer(self.ln1(x))
        h = self.ln2(x)
        return x + self.mlp(h, _shift(h))

    def init_state(self, batch_size: int) -> State:
        factory = self._factory
        D = self.config.d_model
        # fp32 (fp64 for an fp64 block): the sums span many orders of magnitude
        wkv_dtype = _at_least_fp32(factory["dtype"])
        aa, bb, pp = empty_state(batch_size, D, device=factory["device"], dtype=wkv_dtype)
        return {
            "mix_shift": torch.zeros(batch_size, D, **factory),
            "aa": aa,  # numerator, bb the denominator, both scaled by e^{−pp}
            "bb": bb,
            "pp": pp,  # the largest exponent in the sums
            "mlp_shift": torch.zeros(batch_size, D, **factory),
        }

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        if self.ln0 is not None:
            x = self.ln0(x)
        h = self.ln1(x)
        wkv = (state["aa"], state["bb"], state["pp"])
        y, (aa, bb, pp) = self.mixer.step(h, state["mix_shift"], wkv)
        x = x + y
        h2 = self.ln2(x)
        x = x + self.mlp(h2, state["mlp_shift"])
        return x, {"mix_shift": h, "aa": aa, "bb": bb, "pp": pp, "mlp_shift": h2}

    def state_size(self, seq_len: int) -> int:
        return 5 * self.config.d_model  # two token shifts, and aa, bb, pp per channel
