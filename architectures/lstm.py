"""LSTM block: a pre-norm residual LSTM layer followed by a SwiGLU MLP.

Hochreiter & Schmidhuber (1997), "Long Short-Term Memory":

    i, f, o = σ(W x_t + U h_{t-1} + b),  g = tanh(W_g x_t + U_g h_{t-1} + b_g)
    c_t = f ⊙ c_{t-1} + i ⊙ g,           h_t = o ⊙ tanh(c_t)

The recurrence is ``nn.LSTM``: cuDNN's fused kernel on CUDA ("cuda" backend), torch's
own kernel otherwise (the "torch" backend disables cuDNN). The state is (h, c): 2·D
numbers per sequence whatever the length. The forget gate's bias starts at 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .base import Block, BlockConfig, State, require
from .layers import SwiGLU
from .registry import register


@dataclass(frozen=True)
class LSTMConfig(BlockConfig):
    d_hidden: int | None = None  # LSTM width; None means d_model
    mlp_expand: float = 8 / 3

    def validate(self) -> None:
        require(
            self.d_hidden is None or self.d_hidden > 0,
            "d_hidden",
            self.d_hidden,
            "must be a positive integer or None (= d_model)",
        )


class LSTMMixer(nn.Module):
    def __init__(self, d_model: int, d_hidden: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(d_model, d_hidden, batch_first=True)
        # Forget-gate bias 1 (Gers et al. 2000; Jozefowicz et al. 2015, "An Empirical
        # Exploration of Recurrent Network Architectures"): the cell keeps its memory
        # at the start of training instead of halving it every step. nn.LSTM adds two bias
        # vectors, gates ordered (i, f, g, o): b_ih's forget slice is 1, b_hh's is 0.
        with torch.no_grad():
            self.lstm.bias_ih_l0[d_hidden : 2 * d_hidden].fill_(1.0)
            self.lstm.bias_hh_l0[d_hidden : 2 * d_hidden].zero_()
        self.out_proj = (
            nn.Linear(d_hidden, d_model, bias=False) if d_hidden != d_model else nn.Identity()
        )

    def forward(self, x: Tensor, backend: str, hc: tuple[Tensor, Tensor] | None = None):
        # Switch cuDNN on or off and keep its other flags as they are (``flags`` would
        # otherwise reset deterministic, benchmark and allow_tf32 to its own defaults).
        cudnn = torch.backends.cudnn
        with cudnn.flags(
            enabled=backend == "cuda",
            benchmark=cudnn.benchmark,
            deterministic=cudnn.deterministic,
            allow_tf32=cudnn.allow_tf32,
        ):
            y, (h, c) = self.lstm(x, hc)
        return self.out_proj(y), (h, c)


@register("lstm")
class LSTMBlock(Block):
    Config = LSTMConfig

    def __init__(self, config: LSTMConfig) -> None:
        super().__init__(config)
        self.d_hidden = config.d_hidden or config.d_model
        self.norm1 = nn.RMSNorm(config.d_model)
        self.mixer = LSTMMixer(config.d_model, self.d_hidden)
        self.norm2 = nn.RMSNorm(config.d_model)
        self.mlp = SwiGLU(config.d_model, config.mlp_expand)

    def forward(self, x: Tensor) -> Tensor:
        y, _ = self.mixer(self.norm1(x), self.select_backend(x))
        x = x + y
        return x + self.mlp(self.norm2(x))

    def init_state(self, batch_size: int) -> State:
        zeros = torch.zeros(batch_size, self.d_hidden, **self._factory)
        return {"h": zeros, "c": zeros.clone()}

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        hc = (state["h"][None].contiguous(), state["c"][None].contiguous())  # (1, B, d_hidden)
        y, (h, c) = self.mixer(self.norm1(x)[:, None], self.select_backend(x), hc)
        x = x + y[:, 0]
        return x + self.mlp(self.norm2(x)), {"h": h[0], "c": c[0]}

    def state_size(self, seq_len: int) -> int:
        return 2 * self.d_hidden
