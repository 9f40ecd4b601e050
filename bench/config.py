"""Sweep configs: TOML in, a validated grid of run configs out.

A sweep file (or a preset in ``bench/presets/``) names the sweep, lists its grid axes
and gives the settings shared by every run::

    name = "quick"
    [grid]                      # every list is a sweep axis
    architecture = ["transformer", "lstm"]
    task = ["copy", "mqar"]
    seed = [0, 1]
    "train.seq_len" = [64, 128] # any setting can be an axis, by its dotted key
    [model]                     # d_model, n_layers, params; per-architecture tables
    [model.mamba]
    d_state = 16
    [task.mqar]                 # per-task tables
    vocab_size = 64
    [train] / [eval] / [measure]

Everything is validated before anything runs; a mistake raises ``SweepConfigError``
naming the key, the value and what is allowed.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import itertools
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

import architectures
import tasks

PRESET_DIR = Path(__file__).parent / "presets"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class SweepConfigError(ValueError):
    """A mistake in a sweep config or a command-line setting."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSection(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)  # extras: per-architecture tables

    d_model: int = Field(64, gt=0)
    n_layers: int = Field(2, gt=0)
    params: int | None = Field(None, gt=0, description="match parameter counts to this")
    params_tolerance: float = Field(
        0.05, gt=0, lt=1, description="how far a matched count may be from model.params"
    )


class TrainSection(_Section):
    seq_len: int = Field(64, gt=0)
    steps: int = Field(300, ge=0)
    batch_size: int = Field(32, gt=0)
    lr: float = Field(3e-3, gt=0)
    weight_decay: float = Field(0.1, ge=0)
    warmup: int = Field(30, ge=0)
    schedule: Literal["cosine", "linear", "constant"] = "cosine"
    grad_clip: float = Field(1.0, ge=0, description="0 disables clipping")
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    # The budget is ``steps`` (the same for every architecture of a task); the clock is a
    # safety cap only, off by default, because a time budget gives a fast block more
    # examples than a slow one and makes the numbers depend on the machine.
    max_time_s: float | None = Field(
        None, gt=0, description="safety cap: stop training after this many seconds (off)"
    )
    early_stop: float | None = Field(0.99, gt=0, le=1, description="stop at this batch accuracy")
    log_every: int = Field(10, gt=0)


class EvalSection(_Section):
    seq_lens: list[int] = Field(default_factory=list, description="default: the training length")
    n: int = Field(256, gt=0)
    val_n: int = Field(
        256, gt=0, description="validation examples (at the training length) for selection"
    )
    batch_size: int = Field(64, gt=0)
    depths: list[float] | None = Field(None, description="needle depths; default: the task's grid")

    @model_validator(mode="after")
    def _check(self) -> EvalSection:
        for length in self.seq_lens:
            if length <= 0:
                raise ValueError(f"eval.seq_lens contains {length}; lengths must be positive")
        for depth in self.depths or []:
            if not 0 <= depth <= 1:
                raise ValueError(f"eval.depths contains {depth}; depths must be in [0, 1]")
        return self


class MeasureSection(_Section):
    cost: bool = Field(True, description="measure throughput and memory of trained runs")
    seq_lens: list[int] = Field(default_factory=list, description="lengths of a cost-only sweep")
    batch_size: int = Field(8, gt=0)
    repeats: int = Field(5, gt=0)
    warmup: int = Field(2, ge=0)
    decode_steps: int = Field(16, gt=0)
    vocab_size: int = Field(256, gt=1, description="vocabulary of cost-only models")
    max_time_s: float = Field(
        60.0, gt=0, description="skip longer lengths once a point takes this long"
    )


class SweepConfig(_Section):
    name: str = Field(min_length=1)
    description: str = ""
    kind: Literal["train", "cost"] = "train"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    grid: dict[str, Any]
    # Grid axes to select over (e.g. ["train.lr"]): for each remaining cell the report
    # keeps the value with the best mean validation accuracy (docs/design.md, protocol).
    select: list[str] = Field(default_factory=list)
    model: dict[str, Any] = Field(default_factory=dict)
    task: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # train and eval may hold a table per task ([train.copy] seq_len = 34) that overrides
    # the shared settings for that task; they are validated per run.
    train: dict[str, Any] = Field(default_factory=dict)
    eval: dict[str, Any] = Field(default_factory=dict)
    measure: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class RunModel:
    """The model of one run, resolved: the width parameter matching picked, and the
    settings of this run's architecture only (not every ``[model.<arch>]`` table)."""

    d_model: int
    n_layers: int
    params: int | None = None
    # Set only when ``params`` is: a run without matching keeps it out of its config (and
    # so out of its hash), as records on disk have always done.
    params_tolerance: float | None = None
    arch: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        tolerance = (
            {} if self.params_tolerance is None else {"params_tolerance": self.params_tolerance}
        )
        return {
            "d_model": self.d_model,
            "n_layers": self.n_layers,
            "params": self.params,
            **tolerance,
            "arch": dict(self.arch),
        }


@dataclass(frozen=True)
class RunConfig:
    """One run: everything that determines its result, normalized and hashable.

    The sections are the validated, frozen section models, read as attributes
    (``run.train.seq_len``). A cost-only run (``kind == "cost"``) trains and evaluates
    nothing: its ``train`` and ``eval`` are ``None`` (``{}`` in ``to_dict``, so its
    hash is what it has always been); a training run has both. ``eval.seq_lens`` is
    never empty in a run: it defaults to the training length.
    """

    kind: Literal["train", "cost"]
    architecture: str
    task: str  # "none" for cost-only runs
    seed: int
    device: str
    model: RunModel
    task_config: dict[str, Any]  # the task's own settings, passed to tasks.create
    train: TrainSection | None
    eval: EvalSection | None
    measure: MeasureSection

    def __post_init__(self) -> None:
        trains = self.kind == "train"
        if (self.train is not None, self.eval is not None) != (trains, trains):
            raise ValueError(
                f"a {self.kind!r} run must have train and eval sections "
                + ("set" if trains else "None (a cost-only run trains nothing)")
            )

    @property
    def dtype(self) -> str:
        """The dtype the model runs in: ``train.dtype``; float32 for a cost-only run."""
        return self.train.dtype if self.train is not None else "float32"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "architecture": self.architecture,
            "task": self.task,
            "seed": self.seed,
            "device": self.device,
            "model": self.model.to_dict(),
            "task_config": self.task_config,
            "train": self.train.model_dump() if self.train is not None else {},
            "eval": self.eval.model_dump() if self.eval is not None else {},
            "measure": self.measure.model_dump(),
        }

    @property
    def hash(self) -> str:
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        """The inverse of ``to_dict``: a record's ``config`` read back (same hash)."""
        return cls(
            kind=d["kind"],
            architecture=d["architecture"],
            task=d["task"],
            seed=d["seed"],
            device=d["device"],
            model=RunModel(**d["model"]),
            task_config=dict(d["task_config"]),
            train=TrainSection.model_validate(d["train"]) if d["train"] else None,
            eval=EvalSection.model_validate(d["eval"]) if d["eval"] else None,
            measure=MeasureSection.model_validate(d["measure"]),
        )

    def label(self) -> str:
        return f"{self.architecture} · {self.task} · seed {self.seed}"


@dataclass(frozen=True)
class Sweep:
    name: str
    runs: list[RunConfig]
    config: SweepConfig

    @property
    def select(self) -> list[str]:
        return list(self.config.select)

    def varying_axes(self) -> list[str]:
        """Grid axes with more than one value (seed included), in grid order."""
        return [
            axis
            for axis, values in self.config.grid.items()
            if isinstance(values, list) and len({json.dumps(v) for v in values}) > 1
        ]


# --- loading --------------------------------------------------------------------------------


def presets() -> dict[str, Path]:
    return {p.stem: p for p in sorted(PRESET_DIR.glob("*.toml"))}


def preset_description(path: Path) -> str:
    try:
        return tomllib.loads(path.read_text()).get("description", "")
    except (OSError, tomllib.TOMLDecodeError):
        return ""


def read_toml(source: str) -> dict[str, Any]:
    """A preset name or a path to a TOML file."""
    path = presets().get(source) or Path(source)
    if not path.is_file():
        raise SweepConfigError(
            f"no preset or config file {source!r}; presets: "
            f"{', '.join(presets())} (or give a path to a .toml file)"
        )
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise SweepConfigError(f"{path}: not valid TOML: {error}") from None


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"train.steps=200"`` -> (["train", "steps"], 200); values are TOML, bare words strings."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise SweepConfigError(f"--set {text!r} must look like KEY=VALUE, e.g. train.steps=200")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    if key.startswith("grid."):  # grid axes may themselves be dotted keys
        return ["grid", key.removeprefix("grid.")], value
    return key.split("."), value


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``--set`` overrides. A setting applies wherever the sweep sets it: a shared
    ``train.max_time_s`` also replaces the value in every ``[train.<task>]`` table that
    sets it, and a setting that is a grid axis replaces that axis with its one value."""
    raw = copy.deepcopy(raw)
    for text in overrides:
        path, value = parse_override(text)
        node = raw
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise SweepConfigError(f"--set {text!r}: {part!r} is a value, not a table")
            node = child
        node[path[-1]] = value
        if path[0] in _PER_TASK_SECTIONS and len(path) == 2:
            for table in raw[path[0]].values():  # [train.copy] etc.
                if isinstance(table, dict) and path[1] in table:
                    table[path[1]] = copy.deepcopy(value)
        dotted = ".".join(path)
        grid = raw.get("grid")
        if path[0] != "grid" and isinstance(grid, dict) and dotted in grid:
            grid[dotted] = [value]
    return raw


_PER_TASK_SECTIONS = ("train", "eval", "measure")


def _pydantic_message(error: ValidationError, prefix: str = "") -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in (prefix, *first["loc"]) if p != "") or "config"
    if first["type"] == "extra_forbidden":
        return f"unknown key {where!r}"
    if first["type"] == "missing":
        return f"missing key {where!r}"
    value = first.get("input")
    return f"{where}={value!r}: {first['msg'].removeprefix('Value error, ')}"


def load_sweep(
    source: str, overrides: list[str] = (), device: str | None = None, check_device: bool = True
) -> Sweep:
    """Read, override, validate and expand a sweep. Raises ``SweepConfigError``."""
    raw = apply_overrides(read_toml(source), list(overrides))
    if device is not None:
        raw["device"] = device
    return build_sweep(raw, check_device)


def build_sweep(raw: dict[str, Any], check_device: bool = True) -> Sweep:
    try:
        config = SweepConfig.model_validate(raw)
    except ValidationError as error:
        raise SweepConfigError(_pydantic_message(error)) from None
    device = resolve_device(config.device, check_device)
    for axis in config.select:
        values = config.grid.get(axis)
        if axis in ("architecture", "task", "seed") or "." not in axis:
            raise SweepConfigError(
                f"select contains {axis!r}; select over a setting axis such as 'train.lr'"
            )
        if not isinstance(values, list) or len(values) < 2:
            raise SweepConfigError(
                f"select contains {axis!r}, which is not a grid axis with several values; "
                f'add it to [grid], e.g. "{axis}" = [1e-3, 3e-3]'
            )
    for axis in config.grid:  # a grid axis would silently beat a per-task table
        section, _, key = axis.partition(".")
        for task_name, table in getattr(config, section, {}).items() if key else ():
            if section in _PER_TASK_SECTIONS and isinstance(table, dict) and key in table:
                raise SweepConfigError(
                    f"{section}.{task_name}.{key} is shadowed by the grid axis {axis!r}, which "
                    f"wins for every task; remove one of them"
                )
    runs = [_run_config(config, point, device) for point in expand_grid(config)]
    if not runs:
        raise SweepConfigError("the grid is empty: every axis in [grid] needs at least one value")
    for run in runs:
        validate_run(run)
    unique = list({run.hash: run for run in runs}.values())
    return Sweep(config.name, unique, config)


def resolve_device(device: str, check: bool = True) -> str:
    """``auto`` -> what this machine has; ``cuda`` must exist here unless ``check`` is off."""
    if check and device == "cuda" and not torch.cuda.is_available():
        raise SweepConfigError(
            "device='cuda' but no CUDA device is available here; use cpu or auto"
        )
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


# --- the grid -----------------------------------------------------------------------------

_SECTIONS = ("model", "train", "eval", "measure", "task")


def expand_grid(config: SweepConfig) -> list[dict[str, Any]]:
    """Cartesian product of the grid axes: a list of {axis: value}."""
    grid = dict(config.grid)
    required = ("architecture",) if config.kind == "cost" else ("architecture", "task")
    for axis in required:
        if axis not in grid:
            raise SweepConfigError(f"missing key 'grid.{axis}' (a list of names)")
    if config.kind == "cost":
        grid.pop("task", None)
    grid.setdefault("seed", [0])
    axes = {k: v if isinstance(v, list) else [v] for k, v in grid.items()}
    for axis in axes:
        if axis not in ("architecture", "task", "seed") and axis.split(".")[0] not in _SECTIONS:
            raise SweepConfigError(
                f"unknown grid axis {axis!r}; axes are architecture, task, seed "
                f"or a dotted setting such as 'train.seq_len'"
            )
    for seed in axes["seed"]:
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise SweepConfigError(
                f"grid.seed contains {seed!r}; seeds must be non-negative integers"
            )
    keys = list(axes)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*axes.values())]


def _run_config(config: SweepConfig, point: dict[str, Any], device: str) -> RunConfig:
    arch = _architecture(point["architecture"])
    task = "none" if config.kind == "cost" else _name(point["task"], tasks.available(), "task")
    sections = {
        name: copy.deepcopy(getattr(config, name))
        for name in ("model", "task", "train", "eval", "measure")
    }
    for section in ("train", "eval"):  # per-task tables override the shared settings
        per_task = {
            k: sections[section].pop(k)
            for k in list(sections[section])
            if k in tasks.available() and isinstance(sections[section][k], dict)
        }
        sections[section].update(per_task.get(task, {}))
    for axis, value in point.items():
        if "." in axis:
            section, *path = axis.split(".")
            node = sections[section]
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = value

    model = _validate(ModelSection, sections["model"], "model")
    train = _validate(TrainSection, sections["train"], "train")
    eval_ = _validate(EvalSection, sections["eval"], "eval")
    measure = _validate(MeasureSection, sections["measure"], "measure")
    for key in model.model_extra or {}:
        if key not in architectures.names() and not _is_block_path(key):
            raise SweepConfigError(
                f"unknown key 'model.{key}': model settings are d_model, "
                f"n_layers, params, or a table per architecture "
                f"({', '.join(architectures.names())})"
            )
    for key in sections["task"]:
        if key not in tasks.available():
            raise SweepConfigError(
                f"unknown key 'task.{key}': task settings go in a table per "
                f"task ({', '.join(tasks.available())})"
            )
    arch_settings = (model.model_extra or {}).get(arch, {})
    if not isinstance(arch_settings, dict):
        raise SweepConfigError(f"model.{arch} must be a table of {arch} settings")
    for placed in ("layer_idx", "n_layers"):
        if placed in arch_settings:
            raise SweepConfigError(
                f"model.{arch}.{placed} is set by the model for each block; "
                f"set the depth with model.n_layers"
            )
    block_fields = architectures.get(arch).Config.field_names()
    if config.kind == "train" and "l_max" in block_fields and "l_max" not in arch_settings:
        # A long-convolution filter is laid out over the training length, as M2 sets
        # l_max to the sequence length it trains on (docs/architectures.md).
        arch_settings = {**arch_settings, "l_max": train.seq_len}
    task_settings = dict(sections["task"].get(task, {})) if task != "none" else {}

    d_model = model.d_model
    if model.params is not None:  # parameter matching: record the width it picks
        vocab_size = (
            measure.vocab_size
            if task == "none"
            else _task_vocab(task, json.dumps(task_settings, sort_keys=True))
        )
        d_model = match_width(
            arch,
            vocab_size,
            model.n_layers,
            json.dumps(arch_settings, sort_keys=True),
            model.params,
            model.params_tolerance,
        )
    if not eval_.seq_lens:
        eval_ = eval_.model_copy(update={"seq_lens": [train.seq_len]})
    trains = config.kind == "train"
    return RunConfig(
        kind=config.kind,
        architecture=arch,
        task=task,
        seed=point.get("seed", 0),
        device=device,
        model=RunModel(
            d_model=d_model,
            n_layers=model.n_layers,
            params=model.params,
            params_tolerance=model.params_tolerance if model.params else None,
            arch=dict(arch_settings),
        ),
        task_config=task_settings,
        train=train if trains else None,
        eval=eval_ if trains else None,
        measure=measure,
    )


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


def _task_vocab(task: str, settings: str) -> int:
    try:
        return tasks.create(task, **json.loads(settings)).vocab_size
    except tasks.TaskConfigError as error:
        raise SweepConfigError(f"task.{task}: {error}") from None


def _validate(section: type[BaseModel], values: dict[str, Any], prefix: str) -> Any:
    try:
        return section.model_validate(values)
    except ValidationError as error:
        raise SweepConfigError(_pydantic_message(error, prefix)) from None


def _name(value: Any, valid: list[str], what: str) -> str:
    if value not in valid:
        raise SweepConfigError(f"grid.{what} contains {value!r}; available: {', '.join(valid)}")
    return value


def _is_block_path(key: str) -> bool:
    """Whether a ``[model."package.module:Class"]`` table names an importable block."""
    try:
        return ":" in key and architectures.get(key) is not None
    except architectures.ConfigError:
        return False


def _architecture(value: Any) -> str:
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
    if run.kind == "cost":
        if not run.measure.seq_lens:
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
