"""Structured replacements for dense layers: block-diagonal and Monarch matrices.

``BlockDiagLinear`` is what Monarch Mixer's released code puts in its MLP
(HazyResearch/m2, ``bert/src/mm/blockdiag_linear.py``, ``BlockdiagLinear``): one
block-diagonal matrix of ``b`` blocks, each (d_out/b, d_in/b) like an ``nn.Linear``
weight, so channels mix only inside their block and the cost is d_in·d_out / b.

``MonarchLinear`` is the two-factor Monarch matrix of Dao et al. (2022), "Monarch:
Expressive Structured Matrices for Efficient and Accurate Training", which the M2 paper
(Fu et al. 2023, §3) describes. With ``b`` blocks,

    M = R · P · L,     y = x M   (x a row vector, as in ``x @ W.T`` of nn.Linear)

``R`` is block-diagonal with ``b`` blocks of shape (d_in/b, d_mid/b), ``L`` block-diagonal
with ``b`` blocks of shape (d_mid/b, d_out/b), and ``P`` the stride permutation that cuts
every first-stage block into ``b`` chunks and deals chunk ``j`` to second-stage block ``j``
(a transpose of the b × b grid of chunks). Every output then sees every input, yet the
cost is (d_in + d_out)·d_mid / b multiply-adds instead of d_in·d_out.
"""

from __future__ import annotations

import math

import torch
from einops import rearrange
from torch import Tensor, nn

from .base import require
from .layers import round_up


class BlockDiagLinear(nn.Module):
    """``y = x W_bdᵀ + bias`` with W_bd block-diagonal: ``b`` blocks of (d_out/b, d_in/b)."""

    def __init__(self, d_in: int, d_out: int, nblocks: int = 4, bias: bool = True) -> None:
        super().__init__()
        require(nblocks > 0, "nblocks", nblocks, "must be positive")
        require(d_in % nblocks == 0, "d_in", d_in, f"must be divisible by nblocks={nblocks}")
        require(d_out % nblocks == 0, "d_out", d_out, f"must be divisible by nblocks={nblocks}")
        self.d_in, self.d_out, self.nblocks = d_in, d_out, nblocks
        self.weight = nn.Parameter(torch.empty(nblocks, d_out // nblocks, d_in // nblocks))
        self.bias = nn.Parameter(torch.empty(d_out)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # M2 (structured_linear.py, StructuredLinear.reset_parameters and
        # BlockdiagLinear.set_weights_from_dense_init): a dense kaiming-uniform init scaled
        # by √b, which is PyTorch's Linear init for each block's fan-in d_in / b; the bias
        # uniform in ±1/√d_out (M2 takes the bias's own length as its fan-in).
        bound = 1.0 / math.sqrt(self.weight.shape[-1])
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -(self.d_out**-0.5), self.d_out**-0.5)

    def forward(self, x: Tensor) -> Tensor:
        lead = x.shape[:-1]
        x = rearrange(x.reshape(-1, self.d_in), "n (b p) -> b n p", b=self.nblocks)
        y = torch.bmm(x, self.weight.transpose(1, 2))  # (b, N, d_out/b): block b is x_b W_bᵀ
        y = rearrange(y, "b n q -> n (b q)").reshape(*lead, self.d_out)
        return y if self.bias is None else y + self.bias

    def flops_per_token(self) -> int:
        """Multiply-adds ×2 per input row (a dense layer: 2·d_in·d_out)."""
        return 2 * self.d_in * self.d_out // self.nblocks

    def extra_repr(self) -> str:
        return (
            f"d_in={self.d_in}, d_out={self.d_out}, nblocks={self.nblocks}, "
            f"bias={self.bias is not None}"
        )


class MonarchLinear(nn.Module):
    """``y = x M`` for a Monarch matrix ``M`` of shape (d_in, d_out); no bias."""

    def __init__(self, d_in: int, d_out: int, nblocks: int = 4) -> None:
        super().__init__()
        require(nblocks > 0, "nblocks", nblocks, "must be positive")
        require(d_in % nblocks == 0, "d_in", d_in, f"must be divisible by nblocks={nblocks}")
        require(d_out % nblocks == 0, "d_out", d_out, f"must be divisible by nblocks={nblocks}")
        self.d_in, self.d_out, self.nblocks = d_in, d_out, nblocks
        # The middle width must split into b chunks per block for P; the narrower side
        # (rounded up to a multiple of b²) keeps full rank at the lowest cost.
        self.d_mid = round_up(min(d_in, d_out), nblocks * nblocks)
        b = nblocks
        self.w1 = nn.Parameter(torch.empty(b, d_in // b, self.d_mid // b))  # R's blocks
        self.w2 = nn.Parameter(torch.empty(b, self.d_mid // b, d_out // b))  # L's blocks
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # R keeps the variance, L shrinks it like nn.Linear's default, so the product
        # starts with the gain of one nn.Linear.
        bound1 = math.sqrt(3.0 / self.w1.shape[1])
        nn.init.uniform_(self.w1, -bound1, bound1)
        bound2 = 1.0 / math.sqrt(self.w2.shape[1])
        nn.init.uniform_(self.w2, -bound2, bound2)

    def forward(self, x: Tensor) -> Tensor:
        lead = x.shape[:-1]
        x = rearrange(x.reshape(-1, self.d_in), "n (b p) -> b n p", b=self.nblocks)
        h = torch.bmm(x, self.w1)  # (b, N, d_mid/b): R
        h = rearrange(h, "i n (j c) -> j n (i c)", j=self.nblocks)  # P: chunk j -> block j
        y = torch.bmm(h, self.w2)  # (b, N, d_out/b): L
        return rearrange(y, "b n s -> n (b s)").reshape(*lead, self.d_out)

    # -- the dense matrix it stands for, built from the factors (tests compare) ------------
    def permutation(self) -> Tensor:
        """P as a (d_mid, d_mid) 0/1 matrix: row = position before, column = after."""
        b, c = self.nblocks, self.d_mid // self.nblocks**2
        before = torch.arange(self.d_mid).reshape(b, b, c)  # (block i, chunk j, c)
        after = rearrange(before, "i j c -> (j i c)")  # index that lands at each position
        return torch.eye(self.d_mid)[after].T.to(self.w1)

    def materialize(self) -> Tensor:
        """The dense (d_in, d_out) matrix M with ``forward(x) == x @ M``."""
        return torch.block_diag(*self.w1) @ self.permutation() @ torch.block_diag(*self.w2)

    def flops_per_token(self) -> int:
        """Multiply-adds ×2 per input row (a dense layer: 2·d_in·d_out)."""
        return 2 * (self.d_in * self.d_mid + self.d_mid * self.d_out) // self.nblocks

    def extra_repr(self) -> str:
        return f"d_in={self.d_in}, d_out={self.d_out}, nblocks={self.nblocks}, d_mid={self.d_mid}"
