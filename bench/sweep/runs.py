"""From a sweep to its runs: where each setting of a run comes from, and which wins.

    overrides = Overrides.parse(["train.steps=200"])   # the --set settings, sorted
    for point in expand_grid(config): run_config(config, overrides, point, device)

A run's settings are read in layers, each beating the ones above it:

    1. the schema's defaults                    (bench.sweep.config)
    2. the file's shared table                  [train] seq_len = 64
    3. the file's table for the run's task      [train.copy] seq_len = 34
    4. the run's grid point                     "train.seq_len" = [64, 128]
    5. a --set of the setting                   --set train.seq_len=48
    6. a --set of it for the run's task         --set train.copy.seq_len=40

So a ``--set`` beats every table in the file, shared and per-task; a grid axis it names
becomes that one value (``sweep_table``), and for the run's task a per-task ``--set``
beats a shared one, in whatever order they were given (of two ``--set`` of one key, the
last wins). Layers 3 and 4 never disagree: a grid axis that would shadow a per-task
table is an error (``bench.sweep.load``), unless a ``--set`` of the key settles both.
Per-task tables exist in train, eval, measure and reach; ``model`` holds a table per
architecture and ``task`` one per task, which the layers reach by their dotted keys
(``model.mamba.d_state``). Each section is merged, then validated once into its frozen
typed model; nothing is copied or merged again.
"""

from __future__ import annotations

import itertools
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

import architectures
import tasks
from bench.sweep.config import (
    EvalSection,
    MeasureSection,
    ModelSection,
    ReachSection,
    RunConfig,
    RunModel,
    SweepConfig,
    SweepConfigError,
    TrainSection,
)
from bench.sweep.resolve import (
    architecture_name,
    build_task,
    is_block_path,
    match_width,
    task_name,
)

SECTIONS = ("model", "task", "train", "eval", "measure", "reach")
PER_TASK_SECTIONS = ("train", "eval", "measure", "reach")  # may hold a [section.<task>] table
Path = tuple[str, ...]  # keys inside a table: ("mamba", "d_state")


# --- the command line ----------------------------------------------------------------------


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


@dataclass(frozen=True)
class Override:
    """One ``--set KEY=VALUE``: the table it writes into and where in it."""

    text: str  # as typed, for error messages
    section: str  # a section (train, model …), "grid" for an axis, "" for a key of the sweep
    task: str | None  # the task a per-task setting (train.copy.seq_len) is for
    path: Path  # inside the section (inside the task's table when ``task`` is set)
    value: Any

    @property
    def key(self) -> str:
        """The dotted key a grid axis of this setting has (``train.seq_len``)."""
        return ".".join((self.section, *self.path))


@dataclass(frozen=True)
class Overrides:
    """The ``--set`` settings of a sweep, in the order given (see the module docstring)."""

    items: tuple[Override, ...] = field(default_factory=tuple)

    @classmethod
    def parse(cls, texts: Sequence[str]) -> Overrides:
        items = []
        task_names = tasks.available()
        for text in texts:
            path, value = parse_override(text)
            head, rest = path[0], tuple(path[1:])
            per_task = head in PER_TASK_SECTIONS and bool(rest) and rest[0] in task_names
            if head not in SECTIONS and (head != "grid" or not rest):  # the sweep's own
                items.append(Override(text, "", None, tuple(path), value))
            elif not rest and isinstance(value, dict):  # train={steps=2}: each key
                items += [Override(text, head, None, (k,), v) for k, v in value.items()]
            elif not rest:
                raise SweepConfigError(
                    f"--set {text!r}: [{head}] is a table; set a key inside it, "
                    f"e.g. {head}.<key>=VALUE"
                )
            elif per_task and len(rest) == 1 and isinstance(value, dict):
                # train.copy={seq_len=34}: each key of the table, for that task
                items += [Override(text, head, rest[0], (k,), v) for k, v in value.items()]
            elif per_task and len(rest) > 1:
                items.append(Override(text, head, rest[0], rest[1:], value))
            else:
                items.append(Override(text, head, None, rest, value))
        return cls(tuple(items))

    def of(self, section: str, task: str | None = None) -> list[Override]:
        """The settings of ``section`` (for ``task``: only those for that task), in order."""
        return [o for o in self.items if o.section == section and o.task == task]

    def sets(self, section: str, task: str, key: str) -> bool:
        """Whether a ``--set`` decides ``section.key`` for ``task`` (shared or per-task)."""
        return any(o.path == (key,) for o in (*self.of(section), *self.of(section, task)))


def written(table: dict[str, Any], path: Path, value: Any, where: str) -> dict[str, Any]:
    """``table`` with ``value`` at ``path``: the tables along the path are copied, the rest
    is shared with ``table``, which is left as it was."""
    head, *rest = path
    if rest:
        inner = table.get(head, {})
        if not isinstance(inner, dict):
            raise SweepConfigError(f"{where}: {head!r} is a value, not a table")
        value = written(inner, tuple(rest), value, where)
    return {**table, head: value}


def sweep_table(raw: dict[str, Any], overrides: Overrides) -> dict[str, Any]:
    """The sweep file's table as the command line changes it, before it is validated: the
    sweep's own keys (name, kind, device, select …) replaced, ``grid.<axis>`` set in every
    grid, then every grid axis a ``--set`` names made that one value (layer 5 beats 4)."""
    for item in overrides.of(""):
        raw = written(raw, item.path, item.value, f"--set {item.text!r}")
    table = raw.get("grid", {} if overrides.of("grid") else None)
    grids = table if isinstance(table, list) else [table]
    if not all(isinstance(grid, dict) for grid in grids):
        return raw  # no grid, or not tables: the schema says so
    changed = []
    for grid in grids:
        grid = dict(grid)
        for item in overrides.of("grid"):
            grid[".".join(item.path)] = item.value
        for item in overrides.items:
            if item.section in SECTIONS and item.task is None and item.key in grid:
                grid[item.key] = [item.value]
        changed.append(grid)
    return {**raw, "grid": changed if isinstance(table, list) else changed[0]}


# --- the grid ------------------------------------------------------------------------------


def expand_grid(config: SweepConfig) -> list[dict[str, Any]]:
    """The points of the sweep, a list of {axis: value}: the Cartesian product of each
    grid's axes, grid after grid."""
    points = []
    for grid in config.grids:
        points += _product(config, dict(grid))
    return points


def _product(config: SweepConfig, grid: dict[str, Any]) -> list[dict[str, Any]]:
    required = ("architecture",) if config.kind == "cost" else ("architecture", "task")
    for axis in required:
        if axis not in grid:
            raise SweepConfigError(f"missing key 'grid.{axis}' (a list of names)")
    if config.kind == "cost":
        grid.pop("task", None)
    grid.setdefault("seed", [0])
    axes = {k: v if isinstance(v, list) else [v] for k, v in grid.items()}
    for axis in axes:
        if axis not in ("architecture", "task", "seed") and axis.split(".")[0] not in SECTIONS:
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


# --- one run -------------------------------------------------------------------------------


def task_tables(section: str, table: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The ``[section.<task>]`` tables of a section of the file: task -> its table."""
    if section not in PER_TASK_SECTIONS:
        return {}
    names = tasks.available()
    return {k: v for k, v in table.items() if k in names and isinstance(v, dict)}


def section_values(
    config: SweepConfig, overrides: Overrides, section: str, task: str, point: dict[str, Any]
) -> dict[str, Any]:
    """One section's settings for one run, layer over layer (the module docstring)."""
    table = getattr(config, section) or {}  # reach: None when the sweep has no [reach]
    per_task = task_tables(section, table)
    values = {k: v for k, v in table.items() if k not in per_task}  # layer 2
    values.update(per_task.get(task, {}))  # layer 3
    for axis, value in point.items():  # layer 4
        name, _, key = axis.partition(".")
        if name == section and key:
            values = written(values, tuple(key.split(".")), value, f"grid axis {axis!r}")
    for item in (*overrides.of(section), *overrides.of(section, task)):  # layers 5, 6
        values = written(values, item.path, item.value, f"--set {item.text!r}")
    return values


def run_config(
    config: SweepConfig, overrides: Overrides, point: dict[str, Any], device: str
) -> RunConfig:
    """The run at one grid point: its sections resolved, validated and frozen."""
    arch = architecture_name(point["architecture"])
    task = "none" if config.kind == "cost" else task_name(point["task"])
    values = {name: section_values(config, overrides, name, task, point) for name in SECTIONS}

    model = validated(ModelSection, values["model"], "model")
    train = validated(TrainSection, values["train"], "train")
    eval_values = values["eval"]
    if eval_values.get("seq_lens", []) == []:  # evaluated at the training length
        eval_values = {**eval_values, "seq_lens": [train.seq_len]}
    eval_ = validated(EvalSection, eval_values, "eval")
    measure = validated(MeasureSection, values["measure"], "measure")
    reach = None
    if measures_reach(config, overrides, point, task):
        if config.kind == "cost":
            raise SweepConfigError(
                "[reach] measures trained models; a cost-only sweep (kind = 'cost') trains none"
            )
        reach = validated(ReachSection, values["reach"], "reach")
    for key in model.model_extra or {}:
        if key not in architectures.names() and not is_block_path(key):
            raise SweepConfigError(
                f"unknown key 'model.{key}': model settings are d_model, "
                f"n_layers, params, or a table per architecture "
                f"({', '.join(architectures.names())})"
            )
    for key in values["task"]:
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
    task_settings = dict(values["task"].get(task, {})) if task != "none" else {}

    d_model = model.d_model
    if model.params is not None:  # parameter matching: record the width it picks
        vocab_size = (
            measure.vocab_size if task == "none" else build_task(task, task_settings).vocab_size
        )
        d_model = match_width(
            arch, vocab_size, model.n_layers, arch_settings, model.params, model.params_tolerance
        )
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
        reach=reach,
    )


def measures_reach(
    config: SweepConfig, overrides: Overrides, point: dict[str, Any], task: str
) -> bool:
    """Whether a run measures influence by distance (``SweepConfig.reach`` says when)."""
    table = config.reach
    if table is not None:
        per_task = task_tables("reach", table)
        if not table or len(per_task) < len(table) or task in per_task:
            return True  # [reach] of its own (every run), or [reach.<this task>]
    if any(axis.split(".")[0] == "reach" for axis in point):
        return True
    return bool(overrides.of("reach") or overrides.of("reach", task))


def validated(section: type[BaseModel], values: dict[str, Any], prefix: str) -> Any:
    """``values`` as the frozen ``section`` model; a mistake raises ``SweepConfigError``."""
    try:
        return section.model_validate(values)
    except ValidationError as error:
        raise SweepConfigError(pydantic_message(error, prefix)) from None


def pydantic_message(error: ValidationError, prefix: str = "") -> str:
    """The first problem pydantic found, as one line naming the key and the value."""
    first = error.errors()[0]
    where = ".".join(str(p) for p in (prefix, *first["loc"]) if p != "") or "config"
    if first["type"] == "extra_forbidden":
        return f"unknown key {where!r}"
    if first["type"] == "missing":
        return f"missing key {where!r}"
    value = first.get("input")
    return f"{where}={value!r}: {first['msg'].removeprefix('Value error, ')}"
