"""Deliberately broken blocks: each carries one bug that the contract suite must catch.

``RunningMean`` is a correct block; every other class changes one line of it, the way
real bugs look. From the repository root::

    seqbench check examples.broken_blocks:RunningMean          # 7/7 checks pass, exit 0
    seqbench check examples.broken_blocks:FuturePeeking        # causal: "not causal ...", exit 1
    seqbench check examples.broken_blocks:StepMismatch         # "step disagrees with forward"
    seqbench check examples.broken_blocks:UnderReportedState   # "state_size(0) under-reports"

None of them is registered, so they never show up in ``seqbench list`` or a sweep.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from architectures import Block, BlockConfig, State


class RunningMean(Block):
    """Correct: ``y_t = x_t + W · mean(x_1 … x_t)``. State: the running sum and the count."""

    Config = BlockConfig

    def __init__(self, config: BlockConfig) -> None:
        super().__init__(config)
        self.mixer = nn.Linear(config.d_model, config.d_model)

    def forward(self, x: Tensor) -> Tensor:
        self.select_backend(x)
        count = torch.arange(1, x.shape[1] + 1, device=x.device, dtype=x.dtype)[:, None]  # (L, 1)
        return x + self.mixer(x.cumsum(1) / count)

    def init_state(self, batch_size: int) -> State:
        return {
            "sum": torch.zeros(batch_size, self.config.d_model, **self._factory),  # (B, D)
            "count": torch.zeros(batch_size, 1, **self._factory),  # (B, 1)
        }

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        total, count = state["sum"] + x, state["count"] + 1
        return x + self.mixer(total / count), {"sum": total, "count": count}

    def state_size(self, seq_len: int) -> int:
        return self.config.d_model + 1  # the sum and the count


class FuturePeeking(RunningMean):
    """Token shift padded on the wrong side: position t mixes in x_{t+1}, not x_{t-1}.

    Fails ``causal`` (and ``step_matches_forward``: step cannot see the future).
    """

    def forward(self, x: Tensor) -> Tensor:
        shifted = F.pad(x, (0, 0, 0, 1))[:, 1:]  # bug: should be F.pad(x, (0, 0, 1, 0))[:, :-1]
        return super().forward(x + 0.5 * shifted)


class StepMismatch(RunningMean):
    """The step's counter is off by one: it divides by t + 1 where forward divides by t."""

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        total, count = state["sum"] + x, state["count"] + 1
        return x + self.mixer(total / (count + 1)), {"sum": total, "count": count}


class UnderReportedState(RunningMean):
    """``state_size`` forgets the counter: says D numbers while the state holds D + 1."""

    def state_size(self, seq_len: int) -> int:
        return self.config.d_model
