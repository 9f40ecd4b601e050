"""Set disjointness: two sets of distinct tokens share exactly one; name it at the end.

Arora, Timalsina, Singhal, Spector, Eyuboglu, Zhao, Rao, Rudra & Ré (2024), "Just read
twice: closing the recall gap for recurrent language models" (arXiv 2407.05483): the
synthetic of their Figure 2, after its generator ``disjoint_sets``
(HazyResearch/prefix-linear-attention, ``synthetic/zoology/data/non_autoreg.py``). A
start token, the first set, a separator, the second set and an answer marker, after
which the model must output the one token both sets hold. Recall reduces to this
problem, and the recurrent memory it needs depends on the order: a model that reads the
small set first only has to keep the small set, so ``small_first=False`` is the hard
order for a fixed-size state.

    inputs   BOS a1 … as SEP b1 … bl ANS        (a the small set, b the large set)
    targets    ·  · …  ·   ·  · …  ·  x         (scored: after ANS, x the shared token)

Tokens as in the reference: 0 padding (``·``, its unused mask token), 1 ``BOS``,
2 ``SEP``, 3 ``ANS``, and the set members 4 … vocab_size - 1. The s + l - 1 tokens of
an example are distinct and uniformly drawn; the shared token sits at a uniformly
random place in each set. A length beyond the content (s + l + 3 tokens) is padding
before ``BOS``, so the answer is always the last position (as in induction and needle)
and a longer evaluation length only moves the same content later, never adds to it.
Worked examples (``small_size=2``, ``large_size=3``, ``vocab_size=12``, L = 10;
``_`` unscored):

    small_first=True    inputs   · · BOS 9 7 SEP 4 8 7 ANS
                        targets  _ _ _   _ _ _   _ _ _ 7
    small_first=False   inputs   · · BOS 11 9 4 SEP 8 11 ANS
                        targets  _ _ _   _  _ _ _   _ _  11
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .base import IGNORE, Task, TaskConfig, distinct, require
from .registry import register

N_SPECIAL = 4  # padding, BOS, SEP, ANS


@dataclass(frozen=True)
class SetDisjointnessConfig(TaskConfig):
    small_size: int = 4  # tokens in the small set (the reference sweeps 1 … 768 per side)
    large_size: int = 16  # tokens in the large set
    vocab_size: int = 2048  # the reference's vocabulary, the 4 special tokens included
    small_first: bool = True  # True: the small set comes first (the easy order)

    def validate(self) -> None:
        self.require_int("small_size", 1)
        self.require_int("large_size", 1)
        self.require_int("vocab_size", N_SPECIAL + 1)
        require(
            isinstance(self.small_first, bool),
            "small_first",
            self.small_first,
            "must be true or false",
        )
        require(
            self.small_size <= self.large_size,
            "small_size",
            self.small_size,
            f"must be at most large_size={self.large_size}",
        )
        needed = N_SPECIAL + self.small_size + self.large_size - 1
        require(
            self.vocab_size >= needed,
            "vocab_size",
            self.vocab_size,
            f"must be at least {needed}: {N_SPECIAL} special tokens and the "
            f"small_size + large_size - 1 = {needed - N_SPECIAL} distinct set tokens",
        )


@register("set_disjointness")
class SetDisjointness(Task):
    Config = SetDisjointnessConfig

    pad, bos, sep, ans = range(N_SPECIAL)

    @property
    def vocab_size(self) -> int:
        return self.config.vocab_size

    @property
    def min_seq_len(self) -> int:
        return self.config.small_size + self.config.large_size + 3  # BOS, SEP, ANS

    def _generate(self, n: int, seq_len: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        small_k, large_k = self.config.small_size, self.config.large_size
        members = self.config.vocab_size - N_SPECIAL
        # small_k + large_k - 1 distinct tokens: the small set is the first small_k, the
        # large set the last large_k, so the two share exactly the token at small_k - 1.
        draws = N_SPECIAL + distinct(n, members, small_k + large_k - 1, generator)
        shared = draws[:, small_k - 1]  # (n,)
        # Shuffle each set (a uniform permutation): the shared token lands anywhere in both.
        small = draws[:, :small_k].gather(1, distinct(n, small_k, small_k, generator))
        large = draws[:, small_k - 1 :].gather(1, distinct(n, large_k, large_k, generator))
        first, second = (small, large) if self.config.small_first else (large, small)

        def column(token: int) -> Tensor:
            return torch.full((n, 1), token)

        content = torch.cat(
            [column(self.bos), first, column(self.sep), second, column(self.ans)], dim=1
        )  # (n, small_k + large_k + 3)
        inputs = torch.full((n, seq_len), self.pad)
        inputs[:, seq_len - content.shape[1] :] = content  # padding before BOS
        targets = torch.full((n, seq_len), IGNORE)
        targets[:, -1] = shared  # after ANS: the token both sets hold
        return inputs, targets

    def token_str(self, token: int) -> str:
        return {self.pad: "·", self.bos: "BOS", self.sep: "SEP", self.ans: "ANS"}.get(
            token, str(token)
        )
