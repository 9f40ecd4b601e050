"""The task contract: a task makes batches of token sequences to train and score on.

``Task.sample(n, seq_len, generator) -> Batch(inputs, targets)``: two LongTensors of
shape ``(n, seq_len)`` in next-token format — ``targets[:, t]`` is what a model should
output after reading ``inputs[:, :t + 1]`` — with ``IGNORE = -100`` wherever nothing is
scored (the default ``ignore_index`` of ``F.cross_entropy``). Every task states its
vocabulary (``vocab_size``, special tokens included) and the shortest sequence its
config can produce (``min_seq_len``); any longer length works, which is how
extrapolation is measured.

Generation is vectorized over examples and positions, and reproducible: every random
draw is ``torch.randint`` / ``torch.rand`` on a CPU ``torch.Generator``, so one seed
gives one batch on any machine.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from seqbench import UserError

IGNORE = -100  # target at positions that are not scored


class TaskConfigError(UserError):
    """A user-facing mistake in a task name, setting or sampling request (one line)."""


def require(ok: bool, field: str, value: Any, rule: str) -> None:
    """Raise ``TaskConfigError("field=value must <rule>")`` unless ``ok``."""
    if not ok:
        raise TaskConfigError(f"{field}={value!r} {rule}")


def is_int(value: Any) -> bool:
    """A real integer (``True`` is not a length)."""
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class TaskConfig:
    """Base of every task's settings; families subclass it with their knobs."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Family-specific checks; call ``require`` for each rule."""

    def require_int(self, field: str, minimum: int, optional: bool = False) -> None:
        value = getattr(self, field)
        if optional and value is None:
            return
        rule = f"must be an integer >= {minimum}" + (" or None" if optional else "")
        require(is_int(value) and value >= minimum, field, value, rule)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Batch:
    """``inputs`` and ``targets``: LongTensors ``(n, seq_len)``; targets ``-100`` = unscored."""

    inputs: Tensor
    targets: Tensor

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        return Batch(
            self.inputs.to(device, non_blocking=non_blocking),
            self.targets.to(device, non_blocking=non_blocking),
        )

    def __len__(self) -> int:
        return self.inputs.shape[0]


class Task:
    """A family of synthetic sequences. Subclasses set ``Config`` and implement
    ``vocab_size``, ``min_seq_len`` and ``_generate``; ``name`` comes from ``@register``.

    Tasks whose sampling takes arguments (needle: ``depth``) list them in
    ``sample_arg_names`` and say which values an evaluation grid should cover in
    ``sample_args()``.
    """

    Config: ClassVar[type[TaskConfig]] = TaskConfig
    name: ClassVar[str] = ""
    sample_arg_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: TaskConfig | None = None) -> None:
        config = self.Config() if config is None else config
        if not isinstance(config, self.Config):
            raise TypeError(
                f"{type(self).__name__} takes a {self.Config.__name__}, got {type(config).__name__}"
            )
        self.config = config

    # -- the contract ---------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        """Number of distinct tokens, special tokens included."""
        raise NotImplementedError

    @property
    def min_seq_len(self) -> int:
        """Shortest ``seq_len`` this config can produce."""
        raise NotImplementedError

    def sample(self, n: int, seq_len: int, generator: torch.Generator, **sample_args: Any) -> Batch:
        """``n`` fresh examples of length ``seq_len`` drawn with ``generator`` (on CPU)."""
        require(is_int(n) and n >= 1, "n", n, "must be a positive integer")
        require(
            is_int(seq_len) and seq_len >= self.min_seq_len,
            "seq_len",
            seq_len,
            f"must be an integer >= {self.min_seq_len} (the shortest {self.name or 'task'} "
            f"sequence with {self._config_str()})",
        )
        if not isinstance(generator, torch.Generator) or generator.device.type != "cpu":
            raise TaskConfigError(
                f"generator={generator!r} must be a CPU torch.Generator "
                "(batches are made on CPU so a seed means the same data everywhere)"
            )
        unknown = sorted(set(sample_args) - set(self.sample_arg_names))
        if unknown:
            valid = ", ".join(self.sample_arg_names) or "none"
            raise TaskConfigError(
                f"{self.name or type(self).__name__} has no sampling argument "
                f"{unknown[0]!r}; valid sampling arguments: {valid}"
            )
        inputs, targets = self._generate(n, seq_len, generator, **sample_args)
        return Batch(inputs, targets)

    def sample_args(self) -> dict[str, list]:
        """Evaluation-grid axes: sampling argument -> the values to evaluate at."""
        return {}

    def _generate(
        self, n: int, seq_len: int, generator: torch.Generator, **sample_args: Any
    ) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    # -- for people -------------------------------------------------------------------
    def token_str(self, token: int) -> str:
        """How one token reads in ``render``; tasks name their special tokens."""
        return str(token)

    def render(self, tokens: Tensor) -> str:
        """One sequence as text, e.g. ``BOS c a b SEP c a b``."""
        return " ".join(self.token_str(int(t)) for t in tokens)

    def _config_str(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.config.to_dict().items()) or "defaults"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._config_str()})"


# -- shared draws ---------------------------------------------------------------------------


def distinct(n: int, population: int, k: int, generator: torch.Generator) -> Tensor:
    """``(n, k)`` indices into ``range(population)``, distinct within a row, in random order.

    Each row is a uniformly random ordered k-subset. Up to half the population: draw a
    few more than k values independently and keep the first k distinct ones (a row with
    too few is drawn again). What is kept depends only on where values repeat, never on
    the values themselves, so the result is invariant under relabelling the population
    and hence uniform. Beyond half: the k largest of ``population`` random 62-bit
    scores, in score order (a tie has probability ~ population² / 2⁶³).
    """
    if 2 * k > population:
        scores = torch.randint(0, 2**62, (n, population), generator=generator)
        top = scores.topk(k, dim=1, sorted=False)
        order = top.values.argsort(dim=1, descending=True)  # random order, by score
        return top.indices.gather(1, order)
    repeats = k * k / (2 * population)  # expected repeats among k draws (at most k / 4)
    m = k + int(repeats + 6 * repeats**0.5) + 8  # draws per row: a retry is rare
    out = torch.empty(n, k, dtype=torch.long)
    rows = torch.arange(n)  # rows still to fill
    while rows.numel() > 0:
        draws = torch.randint(0, population, (rows.numel(), m), generator=generator)
        values, index = draws.sort(dim=1, stable=True)  # (r, m); equal values keep their order
        new_sorted = torch.ones_like(values, dtype=torch.bool)
        new_sorted[:, 1:] = values[:, 1:] != values[:, :-1]
        new = torch.zeros_like(new_sorted).scatter_(1, index, new_sorted)  # first occurrences
        keep = new & (new.cumsum(dim=1) <= k)  # the first k distinct values of each row
        enough = keep.sum(dim=1) == k
        if rows.numel() == n and bool(enough.all()):  # the usual case: no retry
            return draws[keep].view(n, k)
        out[rows[enough]] = draws[enough][keep[enough]].view(-1, k)
        rows = rows[~enough]
    return out


def sorted_positions(n: int, length: int, k: int, generator: torch.Generator) -> Tensor:
    """``(n, k)`` distinct positions in ``range(length)``, increasing along each row."""
    return distinct(n, length, k, generator).sort(dim=1).values
