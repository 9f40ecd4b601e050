"""Induction heads: after a trigger token, recall what followed it the first time.

Gu & Dao (2023), "Mamba", §4.1.2 (after Olsson et al. 2022, "In-context Learning and
Induction Heads"): random tokens over a vocabulary of 16; somewhere a special trigger
token is followed by the token to recall; the sequence ends with the trigger again and
the model must output that token. Trained at length 256 in the paper and tested up to
2^20 — the extrapolation test this task is made for.

    inputs   3 9 0 ◆ 7 2 2 5 1 8 ◆        (◆ trigger)
    targets  · · · · · · · · · · 7        (scored: the final position only)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .base import IGNORE, Task, TaskConfig
from .registry import register


@dataclass(frozen=True)
class InductionConfig(TaskConfig):
    vocab_size: int = 16  # trigger + vocab_size - 1 ordinary tokens

    def validate(self) -> None:
        self.require_int("vocab_size", 3)


@register("induction")
class Induction(Task):
    Config = InductionConfig

    @property
    def trigger(self) -> int:
        return self.config.vocab_size - 1  # ordinary tokens are 0 … vocab_size - 2

    @property
    def vocab_size(self) -> int:
        return self.config.vocab_size

    @property
    def min_seq_len(self) -> int:
        return 3  # trigger, answer, trigger

    def _generate(self, n: int, seq_len: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        inputs = torch.randint(0, self.trigger, (n, seq_len), generator=generator)
        # The first trigger anywhere that leaves its answer before the final trigger.
        first = torch.randint(0, seq_len - 2, (n, 1), generator=generator)
        inputs.scatter_(1, first, self.trigger)
        inputs[:, -1] = self.trigger
        targets = torch.full((n, seq_len), IGNORE)
        targets[:, -1] = inputs.gather(1, first + 1).squeeze(1)
        return inputs, targets

    def token_str(self, token: int) -> str:
        return "◆" if token == self.trigger else str(token)
