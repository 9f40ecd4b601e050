"""Reading a sweep: TOML in, overrides applied, the grid expanded into validated runs.

    load_sweep("quick", ["train.steps=200"]) -> Sweep

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

A sweep of several experiments lists several grids (``[[grid]]`` tables); its runs are
the union of each grid's product, so one preset can pair, say, a width sweep on MQAR
with a fixed-width induction experiment. The schema these sections are checked against
is ``bench.sweep.config``; names, widths and devices are resolved by ``bench.sweep.resolve``.
Everything is validated before anything runs; a mistake raises ``SweepConfigError``
naming the key, the value and what is allowed.
"""

from __future__ import annotations

import copy
import itertools
import json
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

import architectures
import tasks
from bench.sweep import papers
from bench.sweep.config import (
    EvalSection,
    MeasureSection,
    ModelSection,
    RunConfig,
    RunModel,
    Sweep,
    SweepConfig,
    SweepConfigError,
    TrainSection,
)
from bench.sweep.resolve import (
    architecture_name,
    is_block_path,
    match_width,
    resolve_device,
    task_name,
    task_vocab,
    validate_run,
)

PRESET_DIR = Path(__file__).parent / "presets"


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
    sets it, and a setting that is a grid axis replaces that axis with its one value.
    With several ``[[grid]]`` tables, ``grid.<axis>`` is set in each of them."""
    raw = copy.deepcopy(raw)
    for text in overrides:
        path, value = parse_override(text)
        grids = raw.get("grid")
        grids = grids if isinstance(grids, list) else [grids] if isinstance(grids, dict) else []
        if path[0] == "grid" and isinstance(raw.get("grid"), list):
            for grid in grids:
                grid[path[1]] = copy.deepcopy(value)
            continue
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
        for grid in grids if path[0] != "grid" else ():
            if dotted in grid:
                grid[dotted] = [copy.deepcopy(value)]
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
        if axis in ("architecture", "task", "seed") or "." not in axis:
            raise SweepConfigError(
                f"select contains {axis!r}; select over a setting axis such as 'train.lr'"
            )
        if not any(_several(grid.get(axis)) for grid in config.grids):
            raise SweepConfigError(
                f"select contains {axis!r}, which is not a grid axis with several values; "
                f'add it to [grid], e.g. "{axis}" = [1e-3, 3e-3]'
            )
    for grid in config.grids:  # a grid axis would silently beat a per-task table
        grid_tasks = papers.listed(grid.get("task"))
        for axis in grid:
            section, _, key = axis.partition(".")
            for table_name, table in getattr(config, section, {}).items() if key else ():
                if table_name not in grid_tasks:  # another grid's task: not shadowed here
                    continue
                if section in _PER_TASK_SECTIONS and isinstance(table, dict) and key in table:
                    raise SweepConfigError(
                        f"{section}.{table_name}.{key} is shadowed by the grid axis {axis!r}, "
                        f"which wins for every task; remove one of them"
                    )
    findings = _findings(config)
    runs = [_run_config(config, point, device) for point in expand_grid(config)]
    if not runs:
        raise SweepConfigError("the grid is empty: every axis in [grid] needs at least one value")
    for run in runs:
        validate_run(run)
    unique = list({run.hash: run for run in runs}.values())
    return Sweep(config.name, unique, config, findings)


def _findings(config: SweepConfig) -> list[papers.Finding]:
    """The sweep's ``[[paper]]`` tables, checked well formed and naming runs a grid makes."""
    try:
        findings = papers.parse(config.paper)
        papers.check_against_grids(findings, config.grids)
    except ValueError as error:
        raise SweepConfigError(str(error)) from None
    return findings


def _several(values: Any) -> bool:
    return isinstance(values, list) and len(values) >= 2


# --- the grid -----------------------------------------------------------------------------

_SECTIONS = ("model", "train", "eval", "measure", "task")


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
    arch = architecture_name(point["architecture"])
    task = "none" if config.kind == "cost" else task_name(point["task"])
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
        if key not in architectures.names() and not is_block_path(key):
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
            else task_vocab(task, json.dumps(task_settings, sort_keys=True))
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


def _validate(section: type[BaseModel], values: dict[str, Any], prefix: str) -> Any:
    try:
        return section.model_validate(values)
    except ValidationError as error:
        raise SweepConfigError(_pydantic_message(error, prefix)) from None
