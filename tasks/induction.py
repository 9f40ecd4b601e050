"""Induction heads: after a trigger token, recall what followed it the first time.

Gu & Dao (2023), "Mamba", §4.1.2 (after Olsson et al. 2022, "In-context Learning and
Induction Heads"): random tokens over a vocabulary of 16; somewhere a special trigger
token is followed by the token to recall; the sequence ends with the trigger again and
the model must output that token. Trained at length 256 in the paper and tested up to
2^20 — the extrapolation test this task is made for.

    inputs   3 9 0 ◆ 7 2 2 5 1 8 ◆        (◆ trigger)
    targets  · · · · · · · · · · 7        (scored: the final position only)

``distance`` fixes how far back the answer lies: the token to recall sits exactly
``distance`` positions before the final trigger, where it must be output (distance
t − s in ``bench.run.reach``'s terms), so every example asks the model to bridge the same
gap of random tokens. None (the default) puts the first trigger anywhere, as the paper
does. A fixed distance makes the gap a sweep axis: accuracy against the distance
bridged, the picture of Bahdanau et al. (2015), Fig. 2, where a fixed-size summary of the
past loses what lies far back. A longer evaluation length only adds random tokens before
the first trigger; the distance stays. Worked example (``distance=4``, L = 10; ``_``
unscored):

    inputs   10 9 1 8 ◆ 11 14 1 12 ◆
    targets   _ _ _ _ _  _  _ _  _ 11      (11 lies 4 positions before the last ◆)
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
    distance: int | None = None  # None: the first trigger anywhere; d: the answer d back

    def validate(self) -> None:
        self.require_int("vocab_size", 3)
        self.require_int("distance", 1, optional=True)


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
        if self.config.distance is not None:
            return self.config.distance + 2  # trigger, answer, distance - 1 tokens, trigger
        return 3  # trigger, answer, trigger

    def _generate(self, n: int, seq_len: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        inputs = torch.randint(0, self.trigger, (n, seq_len), generator=generator)
        if self.config.distance is None:
            # The first trigger anywhere that leaves its answer before the final trigger.
            first = torch.randint(0, seq_len - 2, (n, 1), generator=generator)
        else:  # the answer at seq_len - 1 - distance, its trigger just before
            first = torch.full((n, 1), seq_len - 2 - self.config.distance)
        inputs.scatter_(1, first, self.trigger)
        inputs[:, -1] = self.trigger
        targets = torch.full((n, seq_len), IGNORE)
        targets[:, -1] = inputs.gather(1, first + 1).squeeze(1)
        return inputs, targets

    def token_str(self, token: int) -> str:
        return "◆" if token == self.trigger else str(token)
