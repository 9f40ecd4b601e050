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
to hold it fixed while the length grows, or to ``[min, max]`` to draw each example's K
uniformly from that range (both ends included), as Zoology trains on a mixture of K and
tests at each K. An example with K pairs is laid out as with ``n_pairs=K`` (its queries
start right after its own pairs); the longest, K = max, sets ``min_seq_len``. Worked
example (``vocab_size=16``, ``n_pairs=[1, 3]``, ``random_filler=False``, L = 14; two
rows of one batch; ``_`` unscored):

    K=3   inputs    2  8  3 12  7 13  7  0  2  0  0  0  3  0
          targets   _  _  _  _  _  _ 13  _  8  _  _  _ 12  _
    K=1   inputs    7  9  0  0  7  0  0  0  0  0  0  0  0  0
          targets   _  _  _  _  9  _  _  _  _  _  _  _  _  _

``question_first=True`` also states the queried keys before the pairs, in the order they
will be queried (every key is queried, so these are all K keys), unscored; the pairs and
the scored queries follow as before, so K pairs need 5K tokens. This is the remedy of
Arora et al. (2024), "Just read twice" (arXiv 2407.05483): a recurrent model with a fixed
state recalls far better when it knows what will be asked before it reads the data (the
small set first in set disjointness, ``tasks/set_disjointness.py``); JRT-Prompt gets
there by repeating the context, which Zoology's generator offers as ``num_passes``. Only
the questions are repeated here, so the pairs are read once. No separator: the prefix
holds keys only, and the first value marks the first pair. Worked example
(``vocab_size=16``, ``n_pairs=3``, ``random_filler=False``, L = 16):

    inputs    5  1  4  5  8  4 12  1 10  5  0  1  0  4  0  0
    targets   _  _  _  _  _  _  _  _  _  8  _ 10  _ 12  _  _
              (keys 5 1 4 in query order; pairs 5→8 4→12 1→10; queries at 9, 11, 13)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .base import IGNORE, Task, TaskConfig, TaskConfigError, distinct, is_int, require
from .registry import register


@dataclass(frozen=True)
class MQARConfig(TaskConfig):
    vocab_size: int = 8192  # Zoology: large vocabularies (>1k) separate architectures
    # K; None means seq_len // 16, the Zoology sweep; [min, max] draws K per example.
    n_pairs: int | tuple[int, int] | None = None
    power_a: float = 0.01  # power-law exponent of the query gaps; 1.0 is uniform
    # Zoology's random_non_queries: filler drawn from the whole vocabulary. With a small
    # vocabulary, filler often repeats keys and values and builds false pairs; False
    # fills with token 0 (neither a key nor a value) instead.
    random_filler: bool = True
    question_first: bool = False  # JRT: the queried keys also stated before the pairs

    def validate(self) -> None:
        self.require_int("vocab_size", 4)
        if isinstance(self.n_pairs, list):  # TOML and JSON give lists; keep the config hashable
            object.__setattr__(self, "n_pairs", tuple(self.n_pairs))
        is_range = isinstance(self.n_pairs, tuple)
        require(
            self.n_pairs is None
            or (is_int(self.n_pairs) and self.n_pairs >= 1)
            or (
                is_range
                and len(self.n_pairs) == 2
                and all(is_int(k) for k in self.n_pairs)
                and 1 <= self.n_pairs[0] <= self.n_pairs[1]
            ),
            "n_pairs",
            self.n_pairs,
            "must be an integer >= 1, None, or a [min, max] range with 1 <= min <= max",
        )
        for flag in ("random_filler", "question_first"):
            value = getattr(self, flag)
            require(isinstance(value, bool), flag, value, "must be true or false")
        n_keys = self.vocab_size // 2 - 1
        require(
            self.n_pairs is None or (self.n_pairs[1] if is_range else self.n_pairs) <= n_keys,
            "n_pairs",
            self.n_pairs,
            f"must be at most {n_keys}, the keys in vocab_size={self.vocab_size}",
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
        if self.config.n_pairs is None:
            return 16  # K = L // 16 >= 1; K pairs and K query slots then fit in 4K <= L / 4
        # Per pair: the key and value, a query slot (the key and the token after it) and,
        # with the question first, the key stated up front.
        return (5 if self.config.question_first else 4) * self.pair_range(0)[1]

    def pair_range(self, seq_len: int) -> tuple[int, int]:
        """The fewest and the most pairs an example holds at length ``seq_len``."""
        k = self.config.n_pairs
        if k is None:
            return seq_len // 16, seq_len // 16
        return (k, k) if is_int(k) else (k[0], k[1])

    def n_pairs(self, seq_len: int) -> int:
        """K at length ``seq_len`` (with a range of K, the most pairs an example holds)."""
        return self.pair_range(seq_len)[1]

    def _generate(self, n: int, seq_len: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        k_min, k_max = self.pair_range(seq_len)
        vocab = self.config.vocab_size
        n_keys = vocab // 2 - 1
        if k_max > n_keys:  # only reachable with n_pairs=None: K grows with the length
            raise TaskConfigError(
                f"seq_len={seq_len} gives n_pairs={k_max} (seq_len // 16), more than the "
                f"{n_keys} keys of vocab_size={vocab}; use seq_len <= {16 * n_keys + 15}, "
                "a larger vocab_size or a fixed n_pairs"
            )
        varies = k_min < k_max
        if varies:  # each example its own K, uniform in [k_min, k_max]; pairs past K unused
            k = torch.randint(k_min, k_max + 1, (n, 1), generator=generator)
        else:
            k = torch.full((n, 1), k_max)
        # The first K of a uniform ordered k_max-subset are a uniform ordered K-subset.
        keys = 1 + distinct(n, n_keys, k_max, generator)  # (n, k_max) distinct, 1 … V/2 - 1
        values = vocab // 2 + distinct(n, vocab - vocab // 2, k_max, generator)  # (n, k_max)
        span = 3 if self.config.question_first else 2  # tokens per pair before the queries
        pairs_at = k * (span - 2)  # (n, 1): after the keys stated up front, if any
        context = span * k  # (n, 1): queries start here
        slots = (seq_len - context) // 2  # (n, 1) query slots: even offsets after the pairs
        most = (seq_len - span * k_min) // 2  # the slots of the fewest pairs
        gaps = self._power_law_gaps(slots, most, k_max, varies, generator)  # (n, k_max)
        query_at = context + 2 * gaps  # (n, k_max) positions of the queried keys

        # With K per example, the writes for pairs past an example's K go to one extra
        # column, cut off at the end.
        width = seq_len + 1 if varies else seq_len
        if self.config.random_filler:
            inputs = torch.randint(0, vocab, (n, width), generator=generator)
        else:
            inputs = torch.zeros(n, width, dtype=torch.long)
        targets = torch.full((n, width), IGNORE)
        j = torch.arange(k_max)
        used = j < k  # (n, k_max)

        def at(positions: Tensor) -> Tensor:
            return positions.where(used, seq_len)

        inputs.scatter_(1, at(pairs_at + 2 * j), keys)
        inputs.scatter_(1, at(pairs_at + 2 * j + 1), values)
        inputs.scatter_(1, at(query_at), keys)
        targets.scatter_(1, at(query_at), values)
        if self.config.question_first:  # the keys in the order they will be queried
            order = gaps.masked_fill(~used, most).argsort(dim=1, stable=True)
            inputs.scatter_(1, at(j.expand(n, k_max)), keys.gather(1, order))
        return inputs[:, :seq_len].contiguous(), targets[:, :seq_len].contiguous()

    def _power_law_gaps(
        self, slots: Tensor, most: int, k: int, varies: bool, generator: torch.Generator
    ) -> Tensor:
        """``k`` distinct gaps per row in ``range(slots)`` (``slots``: ``(n, 1)``, at most
        ``most``), drawn without replacement with p(g) ∝ (g+1)^(a-1).

        Efraimidis & Spirakis (2006): the k smallest of E_g / p(g), E_g ~ Exp(1), are a
        weighted draw without replacement (float64 keeps ties out of reach), and in
        increasing order they are the draw's order, so the first K of a row are a draw of
        K: ``varies`` (K per example) sorts them. A fixed K keeps them in no particular
        order, which is how the pinned batches were made; the keys they are paired with
        are in random order either way.
        """
        n = slots.shape[0]
        inverse_p = torch.arange(1, most + 1, dtype=torch.float64) ** (1 - self.config.power_a)
        exponential = torch.rand(n, most, generator=generator, dtype=torch.float64).log_().neg_()
        scores = (exponential * inverse_p).masked_fill_(torch.arange(most) >= slots, math.inf)
        return scores.topk(k, dim=1, largest=False, sorted=varies).indices
