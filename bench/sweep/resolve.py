"""Resolving what a run names, and checking it can be built, before anything runs.

An architecture name (registered, or ``package.module:Class``), the device ``auto``
means here, the width that parameter matching picks (``model.params``), the run's task
(built once, ``build_task``), and a last check that the block and task accept the run's
settings and lengths. Each failure is a ``SweepConfigError`` naming the value and what
is allowed.

The caches here are keyed by ``freeze(settings)`` (``bench.sweep.frozen``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import torch

import architectures
import tasks
from bench.sweep.config import RunConfig, SweepConfigError
from bench.sweep.frozen import Frozen, freeze, thaw


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


def match_width(
    arch: str,
    vocab_size: int,
    n_layers: int,
    settings: Mapping[str, Any],
    target: int,
    tolerance: float = 0.05,
) -> int:
    """The d_model whose parameter count is closest to ``target`` (within ``tolerance``),
    for the architecture with ``settings``. Widths that are multiples of 8 (friendlier to
    kernels) win when one is close enough. Cached: a sweep asks once per distinct run."""
    return _match_width(arch, vocab_size, n_layers, freeze(settings), target, tolerance)


@functools.lru_cache(maxsize=256, typed=True)
def _match_width(
    arch: str, vocab_size: int, n_layers: int, settings: Frozen, target: int, tolerance: float
) -> int:
    arch_settings = thaw(settings)
    counts: dict[int, int] = {}
    for d in range(2, 8193):
        n = _params_at(arch, vocab_size, d, n_layers, arch_settings)
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


def build_task(name: str, settings: Mapping[str, Any]) -> tasks.Task:
    """The task ``name`` with ``settings``, built once: resolving a run (its vocabulary for
    parameter matching, its length checks) and executing it share one instance. Tasks are
    stateless after construction (``Task.sample`` is a function of its generator)."""
    try:
        return _build_task(tasks.get(name), name, freeze(settings))
    except tasks.TaskConfigError as error:
        raise SweepConfigError(f"task.{name}: {error}") from None


@functools.lru_cache(maxsize=64)
def _build_task(task_class: type[tasks.Task], name: str, settings: Frozen) -> tasks.Task:
    # Keyed by the class too: a test or plugin that registers another class under the
    # same name gets its own instance. A config error is raised, so never cached.
    return tasks.create(name, **thaw(settings))


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
    task = build_task(run.task, run.task_config)
    try:
        lengths = [run.train.seq_len, *run.eval.seq_lens]
        for length in lengths:
            if length < task.min_seq_len:
                raise SweepConfigError(
                    f"sequence length {length} is too short for task "
                    f"{run.task}: it needs at least {task.min_seq_len}"
                )
            # A corpus bounds the length from above: a window must fit in every split.
            longest = getattr(task, "max_seq_len", None)
            if longest is not None and length > longest:
                raise SweepConfigError(
                    f"sequence length {length} is too long for task {run.task}: "
                    f"its corpus allows at most {longest} (the smallest split's bytes)"
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
