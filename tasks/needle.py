"""Needle (passkey) retrieval: find a few digits hidden at a chosen depth in filler.

Mohtashami & Jaggi (2023), "Landmark Attention: Random-Access Infinite Context Length
for Transformers", passkey retrieval — filler text, "the pass key is 71432" somewhere
in it, and the question at the end — in token form: random filler tokens, a key marker
followed by m = 5 digit tokens, and a query marker at the end after which the model
writes the digits (teacher-forced, as a language model reads its own answer).

    inputs   f f f f K 7 1 4 3 2 f f f f Q 7 1 4 3         (K key, Q query, f filler)
    targets  · · · · · · · · · · · · · · 7 1 4 3 2         (scored: the m digits)

``depth`` places the needle: 0 at the very start, 1 right before the query, None a
uniformly random place per example. The harness evaluates a length × depth grid
(``sample_args()``), the "needle in a haystack" picture.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .base import IGNORE, Task, TaskConfig, require
from .registry import register

N_SYMBOLS = 10  # digits 0 … 9 are tokens 0 … 9


def _is_depth(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0.0 <= value <= 1.0
    )


@dataclass(frozen=True)
class NeedleConfig(TaskConfig):
    n_digits: int = 5  # passkey length m
    filler_vocab: int = 16  # distinct filler tokens
    depths: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)  # the evaluation grid's depths

    def validate(self) -> None:
        self.require_int("n_digits", 1)
        self.require_int("filler_vocab", 1)
        if isinstance(self.depths, list):  # TOML and JSON give lists; keep the config hashable
            object.__setattr__(self, "depths", tuple(self.depths))
        require(
            isinstance(self.depths, tuple)
            and len(self.depths) > 0
            and all(_is_depth(d) for d in self.depths),
            "depths",
            self.depths,
            "must be a non-empty list of numbers in [0, 1]",
        )


@register("needle")
class Needle(Task):
    Config = NeedleConfig
    sample_arg_names = ("depth",)

    key = N_SYMBOLS
    query = N_SYMBOLS + 1  # filler tokens follow: query + 1 … query + filler_vocab

    @property
    def vocab_size(self) -> int:
        return N_SYMBOLS + 2 + self.config.filler_vocab

    @property
    def min_seq_len(self) -> int:
        return 2 * self.config.n_digits + 1  # the needle, then the query and its answer

    def sample_args(self) -> dict[str, list]:
        return {"depth": [float(d) for d in self.config.depths]}

    def _generate(
        self, n: int, seq_len: int, generator: torch.Generator, depth: float | None = None
    ) -> tuple[Tensor, Tensor]:
        require(
            depth is None or _is_depth(depth),
            "depth",
            depth,
            "must be a number in [0, 1] or None (random per example)",
        )
        m = self.config.n_digits
        haystack = seq_len - m  # positions before the query
        latest = haystack - (m + 1)  # last start that keeps the needle (K + m digits) whole
        first = self.query + 1
        inputs = torch.randint(
            first, first + self.config.filler_vocab, (n, seq_len), generator=generator
        )
        digits = torch.randint(0, N_SYMBOLS, (n, m), generator=generator)
        if depth is None:
            start = torch.randint(0, latest + 1, (n, 1), generator=generator)
        else:
            start = torch.full((n, 1), math.floor(depth * latest + 0.5))
        needle = torch.cat([torch.full((n, 1), self.key), digits], dim=1)  # (n, m + 1)
        inputs.scatter_(1, start + torch.arange(m + 1), needle)
        inputs[:, haystack] = self.query
        inputs[:, haystack + 1 :] = digits[:, :-1]
        targets = torch.full((n, seq_len), IGNORE)
        targets[:, haystack:] = digits
        return inputs, targets

    def token_str(self, token: int) -> str:
        if token < N_SYMBOLS:
            return str(token)
        return {self.key: "K", self.query: "Q"}.get(token, "f")
