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
is ``bench.sweep.config``; which of the file's tables, the grid and ``--set`` decides a
run's setting is ``bench.sweep.runs`` (a ``--set`` beats every table in the file);
names, widths and devices are resolved by ``bench.sweep.resolve``. Everything is
validated before anything runs; a mistake raises ``SweepConfigError`` naming the key,
the value and what is allowed.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bench.sweep import papers
from bench.sweep.config import Sweep, SweepConfig, SweepConfigError
from bench.sweep.resolve import resolve_device, validate_run
from bench.sweep.runs import (
    PER_TASK_SECTIONS,
    Overrides,
    expand_grid,
    parse_override,
    pydantic_message,
    run_config,
    sweep_table,
)

__all__ = ["build_sweep", "load_sweep", "parse_override", "preset_description", "presets"]

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


def load_sweep(
    source: str,
    overrides: Sequence[str] = (),
    device: str | None = None,
    check_device: bool = True,
) -> Sweep:
    """Read, override, validate and expand a sweep. Raises ``SweepConfigError``."""
    return build_sweep(read_toml(source), check_device, overrides, device)


def build_sweep(
    raw: dict[str, Any],
    check_device: bool = True,
    overrides: Sequence[str] = (),
    device: str | None = None,
) -> Sweep:
    """The sweep a file's table describes, with the ``--set`` ``overrides`` (the rule of
    which setting wins is ``bench.sweep.runs``'s) and ``device`` (``--device``, which
    beats ``--set device=``). ``raw`` is left as it was."""
    settings = Overrides.parse(overrides)
    raw = sweep_table(raw, settings)
    if device is not None:
        raw = {**raw, "device": device}
    try:
        config = SweepConfig.model_validate(raw)
    except ValidationError as error:
        raise SweepConfigError(pydantic_message(error)) from None
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
            tables = (getattr(config, section, None) or {}) if key else {}
            for table_name, table in tables.items():
                if table_name not in grid_tasks:  # another grid's task: not shadowed here
                    continue
                if settings.sets(section, table_name, key):  # --set beats both: no shadow
                    continue
                if section in PER_TASK_SECTIONS and isinstance(table, dict) and key in table:
                    raise SweepConfigError(
                        f"{section}.{table_name}.{key} is shadowed by the grid axis {axis!r}, "
                        f"which wins for every task; remove one of them"
                    )
    findings = _findings(config)
    runs = [run_config(config, settings, point, device) for point in expand_grid(config)]
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
