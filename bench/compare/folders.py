"""BASE → NEW: the same runs apart from one setting, paired by seed, with intervals.

What is compared:

- two results folders (``seqbench compare results/base results/new``): the compared
  setting is the folder (another version of a block, of seqbench, another machine);
- two values of one axis in one folder (``--axis train.lr=0.001,0.003``,
  ``--axis architecture=transformer,mypkg.blocks:MyBlock``).

This module picks the two sides; ``bench.compare.stats`` pairs their runs and computes
the intervals (the method is described there), ``bench.compare.render`` shows the result
as text and HTML. Their public names are importable from here too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from bench import store
from bench.compare.render import display_frame, html_section, insert_section, rich_table
from bench.compare.stats import (
    COST_METRICS,
    GUARDED,
    LEVEL,
    METHOD,
    PROVENANCE,
    TRAIN_METRICS,
    UNCOMPARABLE,
    CompareError,
    Comparison,
    Metric,
    compare,
    paired_interval,
    same_value,
    show_value,
    shown_values,
)
from bench.store import cells
from bench.sweep.config import SweepConfigError
from bench.sweep.load import parse_override

__all__ = [
    "COST_METRICS",
    "GUARDED",
    "LEVEL",
    "METHOD",
    "TRAIN_METRICS",
    "CompareError",
    "Comparison",
    "Metric",
    "compare",
    "compare_axis",
    "compare_folders",
    "display_frame",
    "html_section",
    "insert_section",
    "paired_interval",
    "parse_axis",
    "rich_table",
]


def compare_folders(base_dir: Path, new_dir: Path) -> Comparison:
    """BASE folder → NEW folder."""
    base, new = _load(base_dir), _load(new_dir)
    comparison = compare(base, new, None, str(base_dir), str(new_dir))
    for column, what in (("device_name", "machines"), ("git_commit", "seqbench commits")):
        if column in base and column in new:
            before, after = shown_values(base[column]), shown_values(new[column])
            if before != after and column == "device_name":
                comparison.notes.append(
                    f"BASE and NEW ran on different {what} ({', '.join(before)}; "
                    f"{', '.join(after)}): cost differences include the machine"
                )
    return comparison


def compare_axis(directory: Path, spec: str) -> Comparison:
    """Two values of one axis within one folder: ``spec`` = ``"train.lr=0.001,0.003"``."""
    frame = _load(directory)
    column, base_value, new_value = parse_axis(spec, frame)
    sides = []
    for value in (base_value, new_value):
        mask = frame[column].map(cells._hashable).map(lambda v, value=value: same_value(v, value))
        if not mask.any():
            present = ", ".join(shown_values(frame[column]))
            raise CompareError(
                f"--axis {spec!r}: no runs in {directory} have {column}={show_value(value)}; "
                f"values there: {present}"
            )
        sides.append(frame[mask])
    labels = [f"{_short(column)}={show_value(value)}" for value in (base_value, new_value)]
    return compare(sides[0], sides[1], column, *labels)


def parse_axis(spec: str, frame: pd.DataFrame) -> tuple[str, Any, Any]:
    """``"train.lr=0.001,0.003"`` -> ("train.lr", 0.001, 0.003); the key must be a column
    of ``frame`` (``model.mamba.d_state`` is the column ``model.d_state``)."""
    key, sep, raw = spec.partition("=")
    parts = raw.split(",")
    if not sep or len(parts) != 2 or not all(p.strip() for p in parts):
        raise CompareError(
            f"--axis {spec!r} must look like KEY=BASE,NEW, e.g. train.lr=0.001,0.003"
        )
    key = key.strip()
    pieces = key.split(".")
    if key not in frame.columns and pieces[0] == "model" and len(pieces) == 3:
        key = f"model.{pieces[2]}"  # per-architecture tables are flattened in the results
    axes = ["architecture", "task", *cells.setting_columns(frame)]
    if key in UNCOMPARABLE:
        raise CompareError(
            f"--axis {key!r} is the digest of the text the runs read: runs on different "
            "corpora are never paired"
        )
    if key not in axes or key in PROVENANCE:
        varying = ["architecture"] if frame["architecture"].nunique() > 1 else []
        varying += ["task"] if frame["task"].nunique() > 1 else []
        varying += [c for c in cells.varying(frame) if c not in PROVENANCE]
        raise CompareError(
            f"--axis {key!r} is not a setting of these runs; settings that vary here: "
            f"{', '.join(varying) or 'none'}"
        )
    values = []
    for part in parts:
        try:
            values.append(parse_override(f"v={part.strip()}")[1])
        except SweepConfigError as error:
            raise CompareError(f"--axis {spec!r}: {error}") from None
    if same_value(values[0], values[1]):
        raise CompareError(f"--axis {spec!r} names the same value twice")
    return key, values[0], values[1]


def _load(directory: Path) -> pd.DataFrame:
    frame = store.load(directory)
    if frame.empty:
        raise store.StoreError(f"{str(directory)!r} has no readable run files in runs/")
    return frame


def _short(column: str) -> str:
    return column.split(".", 1)[1] if "." in column else column
