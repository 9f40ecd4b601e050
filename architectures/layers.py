"""Building pieces several blocks share."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


def round_up(n: float, multiple: int) -> int:
    return int(-(-int(n) // multiple) * multiple)


class SwiGLU(nn.Module):
    """Gated MLP of Shazeer (2020): ``out_proj(silu(gate) * up)``.

    A hidden width of 8/3·D keeps the parameter count of a 4·D GELU MLP.
    """

    def __init__(self, d_model: int, expand: float = 8 / 3) -> None:
        super().__init__()
        d_hidden = round_up(expand * d_model, 8)
        self.in_proj = nn.Linear(d_model, 2 * d_hidden, bias=False)
        self.out_proj = nn.Linear(d_hidden, d_model, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        gate, up = self.in_proj(x).chunk(2, dim=-1)
        return self.out_proj(F.silu(gate) * up)
