"""Selective copy: remember the few data tokens scattered through noise, in order.

Gu & Dao (2023), "Mamba: Linear-Time Sequence Modeling with Selective State Spaces",
§4.1.1 and Table 1: a vocabulary of 16 (a noise token, a marker token and 14 data
symbols); k = 16 data tokens at random positions of a noise region; then k markers,
at which the model must output the data tokens in their order. Unlike the plain copy
task, the spacing varies, so a time-invariant (LTI) model cannot solve it by a fixed
delay — it needs content-dependent selection.

    inputs   · · 3 · · · 7 · 5 · · ▸ ▸ ▸        (· noise, ▸ marker)
    targets  · · · · · · · · · · · 3 7 5        (scored: the k marker positions)

At length L the noise region holds L - k positions (the paper: 4096 noise + data).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .base import IGNORE, Task, TaskConfig, sorted_positions
from .registry import register


@dataclass(frozen=True)
class SelectiveCopyConfig(TaskConfig):
    n_tokens: int = 16  # data tokens to copy (k)
    vocab_size: int = 16  # noise + marker + data symbols

    def validate(self) -> None:
        self.require_int("n_tokens", 1)
        self.require_int("vocab_size", 3)  # noise, marker and at least one data symbol


@register("selective_copy")
class SelectiveCopy(Task):
    Config = SelectiveCopyConfig

    noise = 0

    @property
    def marker(self) -> int:
        return self.config.vocab_size - 1  # data symbols are 1 … vocab_size - 2

    @property
    def vocab_size(self) -> int:
        return self.config.vocab_size

    @property
    def min_seq_len(self) -> int:
        return 2 * self.config.n_tokens  # data tokens with no noise between, then markers

    def _generate(self, n: int, seq_len: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        k = self.config.n_tokens
        region = seq_len - k
        data = torch.randint(1, self.marker, (n, k), generator=generator)
        positions = sorted_positions(n, region, k, generator)  # (n, k) increasing
        inputs = torch.full((n, seq_len), self.noise)
        inputs.scatter_(1, positions, data)
        inputs[:, region:] = self.marker
        targets = torch.full((n, seq_len), IGNORE)
        targets[:, region:] = data  # the i-th marker asks for the i-th data token
        return inputs, targets

    def token_str(self, token: int) -> str:
        return {self.noise: "·", self.marker: "▸"}.get(token, str(token))
