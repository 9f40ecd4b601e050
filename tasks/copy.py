"""Copy: repeat a random string after a separator.

Jelassi, Brandfonbrener, Kakade & Malach (2024), "Repeat After Me: Transformers are
Better than State Space Models at Copying": a string over a 26-letter alphabet, then
the same string again.

    inputs   BOS x1 x2 … xn SEP x1 x2 … xn
    targets   ·  ·  ·  …  · x1  x2 x3 … ·     (scored: the second copy, x1 … xn)

At length L the string has n = (L - 2) // 2 symbols (an odd L leaves one PAD at the
end), so longer eval lengths mean longer strings: copy extrapolation. With ``min_len``
set, each example draws its own n uniformly from [min_len, (L - 2) // 2] and is padded
on the right — training on varied lengths is what lets a Transformer copy strings of
every length up to the longest it saw (measured on a 2-core CPU: trained on
n in [1, 32], a 2-layer Transformer copies n=32 at 0.99 after ~650 steps).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .base import IGNORE, Task, TaskConfig
from .registry import register


@dataclass(frozen=True)
class CopyConfig(TaskConfig):
    alphabet: int = 26  # symbols to copy (the paper's letters)
    min_len: int | None = None  # None: every string fills the sequence; k: n ~ U[k, (L-2)//2]

    def validate(self) -> None:
        self.require_int("alphabet", 2)
        self.require_int("min_len", 1, optional=True)


@register("copy")
class Copy(Task):
    Config = CopyConfig

    def __init__(self, config: CopyConfig | None = None) -> None:
        super().__init__(config)
        a = self.config.alphabet
        self.bos, self.sep, self.pad = a, a + 1, a + 2  # symbols are 0 … alphabet - 1

    @property
    def vocab_size(self) -> int:
        return self.config.alphabet + 3

    @property
    def min_seq_len(self) -> int:
        return 2 * (self.config.min_len or 1) + 2

    def _generate(self, n: int, seq_len: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        n_max = (seq_len - 2) // 2
        x = torch.randint(0, self.config.alphabet, (n, n_max), generator=generator)
        inputs = torch.empty((n, seq_len), dtype=torch.long)
        targets = torch.full((n, seq_len), IGNORE)
        if self.config.min_len is None:  # every string has n_max symbols: plain slices
            inputs[:, 0] = self.bos
            inputs[:, 1 : n_max + 1] = x
            inputs[:, n_max + 1] = self.sep
            inputs[:, n_max + 2 : 2 * n_max + 2] = x
            inputs[:, 2 * n_max + 2 :] = self.pad  # odd seq_len: one PAD
            targets[:, n_max + 1 : 2 * n_max + 1] = x  # SEP and x1 … x(n-1) predict x1 … xn
            return inputs, targets
        lengths = torch.randint(self.config.min_len, n_max + 1, (n, 1), generator=generator)
        at = lengths + torch.arange(n_max)  # (n, n_max): n + j
        dropped = at >= 2 * lengths  # j >= n: past each example's string
        # Lay the string out at 1 … n_max (PAD past its length), then write SEP and the
        # copy over it from n + 1 on; the copy's PADs run to 2·n_max + 1 at most.
        targets[:, 1:].scatter_(1, at, x.masked_fill(dropped, IGNORE))  # from n + 1 on
        string = x.masked_fill_(dropped, self.pad)
        inputs[:, 0] = self.bos
        inputs[:, 1 : n_max + 1] = string
        inputs[:, n_max + 1 :] = self.pad
        inputs.scatter_(1, lengths + 1, self.sep)
        inputs[:, 2:].scatter_(1, at, string)  # the copy, from n + 2 on
        return inputs, targets

    def token_str(self, token: int) -> str:
        specials = {self.bos: "BOS", self.sep: "SEP", self.pad: "PAD"}
        if token in specials:
            return specials[token]
        return chr(ord("a") + token) if self.config.alphabet <= 26 else str(token)
