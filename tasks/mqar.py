"""Multi-query associative recall (MQAR): recall the value bound to each queried key.

Arora, Eyuboglu, Timalsina, Johnson, Poli, Zou, Rudra & Ré (2023), "Zoology: Measuring
and Improving Recall in Efficient Language Models", §3 and their ``multiquery_ar``
generator: K key-value pairs, then every key queried once, each query followed by
whatever comes next. Keys come from the lower half of a vocabulary of 8192 (ids
1 … V/2 - 1), values from the upper half; the K query slots are spread over the rest
of the sequence with gaps drawn without replacement from a power law
p(g) ∝ (g + 1)^(a - 1), a = 0.01 — most queries come soon after the pairs, a few far
away, as repeated bigrams do in text. Every position that is neither a pair nor a
query holds a uniformly random token of the whole vocabulary (Zoology's
``random_non_queries``), or token 0 with ``random_filler=False``.

    inputs   k1 v1 k2 v2 k3 v3 · · k2 · · · k1 · k3 · ·
    targets   ·  ·  ·  ·  ·  · · · v2 · · · v1 · v3 · ·   (scored: after each queried key)

K defaults to L / 16, the Zoology sweep (64 → 4, 128 → 8, 256 → 16); set ``n_pairs``
to hold it fixed while the length grows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .base import IGNORE, Task, TaskConfig, TaskConfigError, distinct, require
from .registry import register


@dataclass(frozen=True)
class MQARConfig(TaskConfig):
    vocab_size: int = 8192  # Zoology: large vocabularies (>1k) separate architectures
    n_pairs: int | None = None  # K; None means seq_len // 16, the Zoology sweep
    power_a: float = 0.01  # power-law exponent of the query gaps; 1.0 is uniform
    # Zoology's random_non_queries: filler drawn from the whole vocabulary. With a small
    # vocabulary, filler often repeats keys and values and builds false pairs; False
    # fills with token 0 (neither a key nor a value) instead.
    random_filler: bool = True

    def validate(self) -> None:
        self.require_int("vocab_size", 4)
        self.require_int("n_pairs", 1, optional=True)
        require(
            isinstance(self.random_filler, bool),
            "random_filler",
            self.random_filler,
            "must be true or false",
        )
        require(
            self.n_pairs is None or self.n_pairs <= self.vocab_size // 2 - 1,
            "n_pairs",
            self.n_pairs,
            f"must be at most {self.vocab_size // 2 - 1}, the keys in vocab_size={self.vocab_size}",
        )
        require(
            isinstance(self.power_a, int | float)
            and not isinstance(self.power_a, bool)
            and math.isfinite(self.power_a)
            and self.power_a > 0,
            "power_a",
            self.power_a,
            "must be a positive number",
        )


@register("mqar")
class MQAR(Task):
    Config = MQARConfig

    @property
    def vocab_size(self) -> int:
        return self.config.vocab_size

    @property
    def min_seq_len(self) -> int:
        # K pairs (2K tokens) and K query slots, each a key and the token after it.
        return 4 * (self.config.n_pairs or 4)  # n_pairs=None: K = L // 16 >= 1 needs L >= 16

    def n_pairs(self, seq_len: int) -> int:
        """K at length ``seq_len``."""
        return self.config.n_pairs or seq_len // 16

    def _generate(self, n: int, seq_len: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        k, vocab = self.n_pairs(seq_len), self.config.vocab_size
        n_keys = vocab // 2 - 1
        if k > n_keys:  # only reachable with n_pairs=None: K grows with the length
            raise TaskConfigError(
                f"seq_len={seq_len} gives n_pairs={k} (seq_len // 16), more than the "
                f"{n_keys} keys of vocab_size={vocab}; use seq_len <= {16 * n_keys + 15}, "
                "a larger vocab_size or a fixed n_pairs"
            )
        keys = 1 + distinct(n, n_keys, k, generator)  # (n, k) distinct, in 1 … V/2 - 1
        values = vocab // 2 + distinct(n, vocab - vocab // 2, k, generator)  # (n, k) distinct
        context = 2 * k
        slots = (seq_len - context) // 2  # query slots: even offsets after the pairs
        gaps = self._power_law_gaps(n, slots, k, generator)  # (n, k) distinct slot indices
        query_at = context + 2 * gaps  # (n, k) positions of the queried keys

        if self.config.random_filler:
            inputs = torch.randint(0, vocab, (n, seq_len), generator=generator)
        else:
            inputs = torch.zeros(n, seq_len, dtype=torch.long)
        inputs[:, 0:context:2] = keys
        inputs[:, 1:context:2] = values
        inputs.scatter_(1, query_at, keys)
        targets = torch.full((n, seq_len), IGNORE)
        targets.scatter_(1, query_at, values)
        return inputs, targets

    def _power_law_gaps(self, n: int, slots: int, k: int, generator: torch.Generator) -> Tensor:
        """``k`` distinct gaps per row, drawn without replacement with p(g) ∝ (g+1)^(a-1).

        Efraimidis & Spirakis (2006): the k smallest of E_g / p(g), E_g ~ Exp(1), are a
        weighted draw without replacement (float64 keeps ties out of reach). The gaps
        come in no particular order; the keys they are paired with are in random order.
        """
        inverse_p = torch.arange(1, slots + 1, dtype=torch.float64) ** (1 - self.config.power_a)
        exponential = torch.rand(n, slots, generator=generator, dtype=torch.float64).log_().neg_()
        return (exponential * inverse_p).topk(k, dim=1, largest=False, sorted=False).indices
