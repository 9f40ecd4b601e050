"""Resolving what a run names, and checking it can be built, before anything runs.

An architecture name (registered, or ``package.module:Class``), the device ``auto``
means here, the width that parameter matching picks (``model.params``), and a last
check that the block and task accept the run's settings and lengths. Each failure is a
``SweepConfigError`` naming the value and what is allowed.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import torch

import architectures
import tasks
from bench.sweep.config import RunConfig, SweepConfigError


def resolve_device(device: str, check: bool = True) -> str:
    """``auto`` -> what this machine has; ``cuda`` must exist here unless ``check`` is off."""
    if check and device == "cuda" and not torch.cuda.is_available():
        raise SweepConfigError(
            "device='cuda' but no CUDA device is available here; use cpu or auto"
        )
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _params_at(
    arch: str, vocab_size: int, d_model: int, n_layers: int, settings: dict
) -> int | None:
    try:
        with torch.device("meta"):
            return architectures.SequenceModel(
                arch, vocab_size, d_model, n_layers, **settings
            ).num_params()
    except architectures.ConfigError:
        return None


@functools.lru_cache(maxsize=256)
def match_width(
    arch: str, vocab_size: int, n_layers: int, settings: str, target: int, tolerance: float = 0.05
) -> int:
    """The d_model whose parameter count is closest to ``target`` (within ``tolerance``).

    ``settings`` are the architecture's settings as a JSON string (hashable, for the cache).
    Widths that are multiples of 8 (friendlier to kernels) win when one is close enough.
    """
    counts: dict[int, int] = {}
    for d in range(2, 8193):
        n = _params_at(arch, vocab_size, d, n_layers, json.loads(settings))
        if n is not None:
            counts[d] = n
            if n > target * (1 + tolerance):
                break
    if not counts:
        raise SweepConfigError(f"model.params={target}: no valid d_model for {arch}")

    def closest(widths: list[int]) -> int | None:
        return min(widths, key=lambda d: abs(counts[d] - target)) if widths else None

    for best in (closest([d for d in counts if d % 8 == 0]), closest(list(counts))):
        if best is not None and abs(counts[best] - target) <= tolerance * target:
            return best
    best = closest(list(counts))
    raise SweepConfigError(
        f"model.params={target}: {arch} cannot be matched within {tolerance:.0%} "
        f"(closest: {counts[best]} parameters at d_model={best}); change [model.{arch}] "
        f"settings or raise model.params_tolerance"
    )


def task_vocab(task: str, settings: str) -> int:
    try:
        return tasks.create(task, **json.loads(settings)).vocab_size
    except tasks.TaskConfigError as error:
        raise SweepConfigError(f"task.{task}: {error}") from None


def task_name(value: Any) -> str:
    """A registered task name, or a one-line error listing them."""
    valid = tasks.available()
    if value not in valid:
        raise SweepConfigError(f"grid.task contains {value!r}; available: {', '.join(valid)}")
    return value


def is_block_path(key: str) -> bool:
    """Whether a ``[model."package.module:Class"]`` table names an importable block."""
    try:
        return ":" in key and architectures.get(key) is not None
    except architectures.ConfigError:
        return False


def architecture_name(value: Any) -> str:
    """A registered name, or ``"package.module:Class"`` resolved as ``seqbench check`` does."""
    if isinstance(value, str) and ":" in value and value not in architectures.names():
        try:
            architectures.get(value)
        except architectures.ConfigError as error:
            raise SweepConfigError(f"grid.architecture contains {value!r}: {error}") from None
        return value
    valid = architectures.names()
    if value not in valid:
        raise SweepConfigError(
            f"grid.architecture contains {value!r}; available: {', '.join(valid)} (or module:Class)"
        )
    return value


def validate_run(run: RunConfig) -> None:
    """Build the architecture and task configs now so mistakes surface before any run."""
    try:
        architectures.make_config(run.architecture, d_model=run.model.d_model, **run.model.arch)
    except architectures.ConfigError as error:
        raise SweepConfigError(f"model.{run.architecture}: {error}") from None
    if run.measure.attention in ("efficient", "cudnn") and run.device != "cuda":
        raise SweepConfigError(
            f"measure.attention={run.measure.attention!r} is a CUDA kernel; on a CPU use "
            "'math', 'flash' or 'auto'"
        )
    if run.kind == "cost":
        if not run.measure.seq_lens and run.measure.generate is None:
            raise SweepConfigError(
                "measure.seq_lens is empty; a cost sweep needs lengths to measure"
            )
        return
    try:
        task = tasks.create(run.task, **run.task_config)
        lengths = [run.train.seq_len, *run.eval.seq_lens]
        for length in lengths:
            if length < task.min_seq_len:
                raise SweepConfigError(
                    f"sequence length {length} is too short for task "
                    f"{run.task}: it needs at least {task.min_seq_len}"
                )
        # Sampling one example checks settings that depend on the length (e.g. MQAR pairs).
        generator = torch.Generator().manual_seed(0)
        for length in sorted(set(lengths)):
            task.sample(1, length, generator)
    except tasks.TaskConfigError as error:
        raise SweepConfigError(f"task.{run.task}: {error}") from None
    if run.train.dtype == "float16" and run.device == "cpu":
        raise SweepConfigError(
            "train.dtype='float16' needs a CUDA device; use bfloat16 or float32 on CPU"
        )
