"""GRU block: a pre-norm residual GRU layer followed by a SwiGLU MLP.

Cho et al. (2014), "Learning Phrase Representations using RNN Encoder-Decoder":

    r = σ(W_r x_t + U_r h_{t-1} + b_r),   z = σ(W_z x_t + U_z h_{t-1} + b_z)
    n = tanh(W_n x_t + r ⊙ (U_n h_{t-1} + b_n))
    h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}

The recurrence is ``nn.GRU``: cuDNN's fused kernel on CUDA ("cuda" backend), torch's
own kernel otherwise (the "torch" backend disables cuDNN). The state is h alone:
d_hidden numbers per sequence whatever the length — half of an LSTM's (h, c).

This package is seqbench's worked example of an out-of-tree block: no seqbench file
names it; the entry point in pyproject.toml registers ``GRUBlock`` as ``gru``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from architectures import Block, BlockConfig, State, SwiGLU, require

__all__ = ["GRUBlock", "GRUConfig"]


@dataclass(frozen=True)
class GRUConfig(BlockConfig):
    d_hidden: int | None = None  # GRU width; None means d_model
    mlp_expand: float = 8 / 3  # SwiGLU width; 8/3 matches a 4x GELU MLP in parameters

    def validate(self) -> None:
        require(
            self.d_hidden is None or (isinstance(self.d_hidden, int) and self.d_hidden > 0),
            "d_hidden",
            self.d_hidden,
            "must be a positive integer or None (= d_model)",
        )
        require(self.mlp_expand > 0, "mlp_expand", self.mlp_expand, "must be positive")


class GRUMixer(nn.Module):
    def __init__(self, d_model: int, d_hidden: int) -> None:
        super().__init__()
        self.gru = nn.GRU(d_model, d_hidden, batch_first=True)
        self.out_proj = (
            nn.Linear(d_hidden, d_model, bias=False) if d_hidden != d_model else nn.Identity()
        )

    def forward(self, x: Tensor, backend: str, h: Tensor | None = None) -> tuple[Tensor, Tensor]:
        # (B, L, D) -> (B, L, D); h is (1, B, d_hidden), nn.GRU's layout
        with torch.backends.cudnn.flags(enabled=backend == "cuda"):
            y, h = self.gru(x, h)
        return self.out_proj(y), h


class GRUBlock(Block):
    Config = GRUConfig
    cuda_package = None  # the fused kernel is cuDNN's, inside torch

    def __init__(self, config: GRUConfig) -> None:
        super().__init__(config)
        self.d_hidden = config.d_hidden or config.d_model
        self.norm1 = nn.RMSNorm(config.d_model)
        self.mixer = GRUMixer(config.d_model, self.d_hidden)
        self.norm2 = nn.RMSNorm(config.d_model)
        self.mlp = SwiGLU(config.d_model, config.mlp_expand)

    def forward(self, x: Tensor) -> Tensor:
        y, _ = self.mixer(self.norm1(x), self.select_backend(x))
        x = x + y
        return x + self.mlp(self.norm2(x))

    def init_state(self, batch_size: int) -> State:
        return {"h": torch.zeros(batch_size, self.d_hidden, **self._factory)}  # batch first

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        h = state["h"][None].contiguous()  # (1, B, d_hidden)
        y, h = self.mixer(self.norm1(x)[:, None], self.select_backend(x), h)  # y: (B, 1, D)
        x = x + y[:, 0]
        return x + self.mlp(self.norm2(x)), {"h": h[0]}

    def state_size(self, seq_len: int) -> int:
        return self.d_hidden
