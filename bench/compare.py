"""BASE → NEW: the same runs apart from one setting, paired by seed, with intervals.

What is compared:

- two results folders (``seqbench compare results/base results/new``): the compared
  setting is the folder (another version of a block, of seqbench, another machine);
- two values of one axis in one folder (``--axis train.lr=0.001,0.003``,
  ``--axis architecture=transformer,mypkg.blocks:MyBlock``).

Pairing follows the comparison protocol (docs/design.md): a BASE run and a NEW run pair
when they agree on architecture, task, seed and every setting column of
``bench.cells.setting_columns`` except the compared one. Between folders the sweep name,
commit and device are what is compared, not settings. Settings that one side does not
have at all (another architecture's table, a key that newer code added) are left out,
and comparing architectures ignores their own settings (and ``d_model`` when parameter
counts are matched). Cells are labelled in ``bench.cells``'s vocabulary (``lr=0.001``).

Statistics: per cell and seed, Δ = NEW − BASE. The interval is the 95 % paired t
interval of the mean difference over seeds (``scipy.stats.ttest_rel``); with one seed
there is none. The t interval rather than a bootstrap because cells have 2–5 seeds, where
a bootstrap interval cannot be wider than the few differences observed. Costs
(throughput, memory, parameters) compare as ratios: the same interval on log(NEW/BASE),
shown as a percentage change (a geometric mean over seeds).
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import cells, store
from .config import SweepConfigError, parse_override

LEVEL = 0.95
METHOD = (
    "Δ = NEW − BASE for each seed; [low, high] is the 95 % paired t interval of the mean "
    "difference over seeds (scipy.stats.ttest_rel), none with one seed; costs are ratios "
    "NEW/BASE (geometric mean over seeds, the same interval on their logarithm)"
)
_PROVENANCE = ("sweep", "git_commit", "device_name", "code_block", "code_task")
# model.* settings every architecture shares (the rest are one architecture's own).
_SHARED_MODEL = ("model.d_model", "model.n_layers", "model.params", "model.params_tolerance")


class CompareError(ValueError):
    """Runs that cannot be compared as asked; one line for people."""


@dataclass(frozen=True)
class Metric:
    column: str
    label: str
    ratio: bool  # compared as NEW/BASE rather than NEW − BASE


TRAIN_METRICS = (
    Metric("acc_train", "acc @ train len", ratio=False),
    Metric("acc_longest", "acc @ longest", ratio=False),
    Metric("train_steps", "steps", ratio=False),
    Metric("train_tokens_per_s", "train tok/s", ratio=True),
    Metric("peak_memory_train_bytes", "peak mem", ratio=True),
    Metric("params", "params", ratio=True),
)
COST_METRICS = (
    Metric("train_tokens_per_s", "train tok/s", ratio=True),
    Metric("prefill_tokens_per_s", "prefill tok/s", ratio=True),
    Metric("decode_tokens_per_s", "decode tok/s", ratio=True),
    Metric("peak_memory_train_bytes", "peak mem", ratio=True),
    Metric("state_bytes", "state", ratio=True),
)
GUARDED = "acc_train"  # what --fail-below checks


@dataclass
class Comparison:
    """One row per cell in ``cells``: architecture, task, setting, pairs, the ok runs of
    each side, and for every metric ``<m>_base``, ``<m>_new`` (means over paired seeds),
    ``<m>_delta``, ``<m>_low``, ``<m>_high`` and ``<m>_n`` (seeds with both values)."""

    base_label: str
    new_label: str
    compared: str
    cells: pd.DataFrame
    metrics: list[Metric]
    notes: list[str] = field(default_factory=list)

    def failures(self, fail_below: float) -> list[tuple[str, str]]:
        """(cell, why) for every cell where NEW is worse than ``fail_below`` beyond the
        interval (the interval's upper end, or with one seed the difference itself, is
        below it), or where NEW failed runs that BASE finished."""
        if not any(m.column == GUARDED for m in self.metrics):
            raise CompareError(
                "--fail-below checks accuracy at the training length; these runs have none "
                "(cost-only runs, or no run evaluated)"
            )
        out = []
        for _, row in self.cells.iterrows():
            name = _cell_name(row)
            if row["new_ok"] < row["base_ok"]:
                out.append(
                    (
                        name,
                        f"NEW finished {row['new_ok']} of {row['pairs']} runs, BASE {row['base_ok']}",
                    )
                )
            if pd.isna(row.get(f"{GUARDED}_delta", math.nan)):
                continue
            high = row[f"{GUARDED}_high"]
            bound = row[f"{GUARDED}_delta"] if pd.isna(high) else high
            if bound < fail_below:
                why = f"Δ acc @ train len {_interval(row, GUARDED, False)} is below {fail_below:+g}"
                out.append((name, why))
        return out


# --- entry points --------------------------------------------------------------------------


def compare_folders(base_dir: Path, new_dir: Path) -> Comparison:
    """BASE folder → NEW folder."""
    base, new = _load(base_dir), _load(new_dir)
    comparison = compare(base, new, None, str(base_dir), str(new_dir))
    for column, what in (("device_name", "machines"), ("git_commit", "seqbench commits")):
        if column in base and column in new:
            before, after = _values(base[column]), _values(new[column])
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
        mask = frame[column].map(cells._hashable).map(lambda v, value=value: _same(v, value))
        if not mask.any():
            present = ", ".join(_values(frame[column]))
            raise CompareError(
                f"--axis {spec!r}: no runs in {directory} have {column}={_show(value)}; "
                f"values there: {present}"
            )
        sides.append(frame[mask])
    labels = [f"{_short(column)}={_show(value)}" for value in (base_value, new_value)]
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
    if key not in axes or key in _PROVENANCE:
        varying = ["architecture"] if frame["architecture"].nunique() > 1 else []
        varying += ["task"] if frame["task"].nunique() > 1 else []
        varying += [c for c in cells.varying(frame) if c not in _PROVENANCE]
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
    if _same(values[0], values[1]):
        raise CompareError(f"--axis {spec!r} names the same value twice")
    return key, values[0], values[1]


def compare(
    base: pd.DataFrame, new: pd.DataFrame, axis: str | None, base_label: str, new_label: str
) -> Comparison:
    """Pair the runs of ``base`` and ``new`` (``store.load`` frames) and compare each cell.
    ``axis``: the compared column, or None when the two come from different folders."""
    frame = pd.concat([base.assign(_side="base"), new.assign(_side="new")], ignore_index=True)
    keys = _pairing_columns(frame, axis)
    labelled = frame[["config_hash", "architecture", "task", "seed", "row_kind", "status", *keys]]
    labelled = labelled.assign(select="[]")  # pair every run, selected or not
    if axis == "architecture":
        labelled = labelled.assign(
            architecture=f"{base['architecture'].iloc[0]} → {new['architecture'].iloc[0]}"
        )
    frame["variant"] = cells.prepare(labelled)["variant"]
    frame["architecture"] = labelled["architecture"]
    cost = (frame["row_kind"] == "cost").all()
    metrics = list(COST_METRICS if cost else TRAIN_METRICS)
    runs = _per_run(frame, cost)
    cell_keys = ["architecture", "task", "variant"] + (["eval_seq_len"] if cost else [])
    rows, unpaired = [], {"base": 0, "new": 0}
    for cell, group in runs.groupby(cell_keys, sort=True, dropna=False):
        sides = {side: part.groupby("seed").mean(numeric_only=True) for side, part in
                 group.groupby("_side")}  # fmt: skip
        status = {side: part.groupby("seed")["ok"].min() for side, part in group.groupby("_side")}
        base_seeds = set(sides.get("base", pd.DataFrame()).index)
        new_seeds = set(sides.get("new", pd.DataFrame()).index)
        seeds = sorted(base_seeds & new_seeds)
        unpaired["base"] += len(base_seeds - new_seeds)
        unpaired["new"] += len(new_seeds - base_seeds)
        if not seeds:
            continue
        row: dict[str, Any] = dict(zip(cell_keys, cell, strict=True))
        row["setting"] = row.pop("variant") or ""
        row.update(
            pairs=len(seeds),
            base_ok=int(status["base"].loc[seeds].sum()),
            new_ok=int(status["new"].loc[seeds].sum()),
        )
        for metric in metrics:
            if metric.column not in sides["base"] or metric.column not in sides["new"]:
                continue
            pair = pd.DataFrame(
                {"base": sides["base"].loc[seeds, metric.column],
                 "new": sides["new"].loc[seeds, metric.column]}
            ).dropna()  # fmt: skip
            if metric.ratio:
                pair = pair[(pair["base"] > 0) & (pair["new"] > 0)]
            if pair.empty:
                continue
            estimate, low, high = paired_interval(pair["base"], pair["new"], metric.ratio)
            row.update(
                {
                    f"{metric.column}_base": pair["base"].mean(),
                    f"{metric.column}_new": pair["new"].mean(),
                    f"{metric.column}_delta": estimate,
                    f"{metric.column}_low": low,
                    f"{metric.column}_high": high,
                    f"{metric.column}_n": len(pair),
                }
            )
        rows.append(row)
    if not rows:
        raise CompareError(_why_nothing_pairs(base, new, keys, axis, base_label, new_label))
    table = pd.DataFrame(rows)
    metrics = [m for m in metrics if f"{m.column}_delta" in table]
    if "acc_longest" in table and _same_lengths(runs):
        metrics = [m for m in metrics if m.column != "acc_longest"]
    notes = []
    if unpaired["base"] or unpaired["new"]:
        notes.append(
            f"{unpaired['base']} BASE and {unpaired['new']} NEW runs have no partner "
            "(another seed or setting on the other side) and are left out"
        )
    return Comparison(base_label, new_label, axis or "folder", table, metrics, notes)


def paired_interval(base: pd.Series, new: pd.Series, ratio: bool) -> tuple[float, float, float]:
    """(estimate, low, high) of NEW − BASE over paired seeds (NEW/BASE − 1 when ``ratio``),
    with the 95 % paired t interval; low and high are NaN with one pair."""
    from scipy import stats

    a = np.log(new.to_numpy(float)) if ratio else new.to_numpy(float)
    b = np.log(base.to_numpy(float)) if ratio else base.to_numpy(float)
    differences = a - b
    estimate = float(differences.mean())
    if len(differences) < 2:
        low = high = math.nan
    elif np.allclose(differences, estimate, rtol=0, atol=1e-12):
        low = high = estimate  # every seed moved by the same amount: no spread to bound
    else:
        interval = stats.ttest_rel(a, b).confidence_interval(LEVEL)
        low, high = float(interval.low), float(interval.high)
    if ratio:
        return math.expm1(estimate), math.expm1(low), math.expm1(high)
    return estimate, low, high


# --- showing a comparison ------------------------------------------------------------------


def display_frame(
    comparison: Comparison, fail_below: float | None = None, stacked: bool = False
) -> pd.DataFrame:
    """The comparison as text: one row per cell with accuracy at the training length
    BASE → NEW, then Δ [interval] per metric and a verdict on that accuracy. Metrics that
    did not move in any cell (the step budget, the parameter count) are left out.
    ``stacked`` puts each interval on a line of its own (for narrow terminals)."""
    table = comparison.cells
    failing = set()
    if fail_below is not None:
        failing = {name for name, _ in comparison.failures(fail_below)}
    shown_metrics = [
        m for m in comparison.metrics if m.column == GUARDED or not _all_zero(table, m.column)
    ]
    with_failures = bool((table["base_ok"] < table["pairs"]).any()) or bool(
        (table["new_ok"] < table["pairs"]).any()
    )
    out = []
    for _, row in table.iterrows():
        shown: dict[str, str] = {"architecture": row["architecture"], "task": row["task"]}
        if (table["setting"] != "").any():
            shown["setting"] = row["setting"] or "default"
        if "eval_seq_len" in row:
            shown["length"] = str(int(row["eval_seq_len"]))
        shown["seeds"] = str(row["pairs"])
        if with_failures:
            shown["runs ok"] = f"{row['base_ok']} → {row['new_ok']}"
        for metric in shown_metrics:
            if metric.column == GUARDED:
                before, after = row.get(f"{GUARDED}_base"), row.get(f"{GUARDED}_new")
                shown[metric.label] = f"{_number(before)} → {_number(after)}"
            value = "-"
            if pd.notna(row.get(f"{metric.column}_delta", math.nan)):
                value = _interval(row, metric.column, metric.ratio)
                if stacked:
                    value = value.replace(" [", "\n[", 1)
            shown[f"Δ {metric.label}"] = value
        if any(m.column == GUARDED for m in comparison.metrics):
            shown["verdict"] = "FAIL" if _cell_name(row) in failing else _verdict(row)
        out.append(shown)
    return pd.DataFrame(out)


def rich_table(comparison: Comparison, fail_below: float | None = None) -> Any:
    from rich.markup import escape
    from rich.table import Table

    frame = display_frame(comparison, fail_below, stacked=True)
    table = Table(
        title=f"BASE {comparison.base_label} → NEW {comparison.new_label}",
        title_justify="left",
        caption=escape(METHOD),
        caption_justify="left",
    )
    for column in frame.columns:
        left = column in ("architecture", "task", "setting")
        table.add_column(escape(column), justify="left" if left else "right")
    for values in frame.itertuples(index=False):
        styled = []
        for column, value in zip(frame.columns, values, strict=True):
            color = {"worse": "yellow", "FAIL": "red", "better": "green"}.get(value)
            text = escape(str(value))
            styled.append(f"[{color}]{text}[/{color}]" if column == "verdict" and color else text)
        table.add_row(*styled)
    return table


def html_section(comparison: Comparison, fail_below: float | None = None) -> str:
    """A self-contained ``<section>`` for the HTML report."""
    frame = display_frame(comparison, fail_below)
    notes = "".join(f"<p class='note'>{html.escape(note)}</p>" for note in comparison.notes)
    return (
        "<section id='comparison'><h2>Comparison</h2>"
        f"<p>BASE <code>{html.escape(comparison.base_label)}</code> → NEW "
        f"<code>{html.escape(comparison.new_label)}</code>, compared: "
        f"{html.escape(comparison.compared)}. Runs pair when they agree on architecture, "
        "task, seed and every setting but the compared one. "
        f"{html.escape(METHOD)}.</p>"
        + frame.to_html(index=False, escape=True, border=0)
        + notes
        + "</section>"
    )


def insert_section(page: str, section: str) -> str:
    """``page`` (the report's HTML) with ``section`` placed before ``</body>``."""
    at = page.rfind("</body>")
    if at < 0:
        raise CompareError("the report has no </body> to place the comparison before")
    return page[:at] + section + "\n" + page[at:]


# --- internals -----------------------------------------------------------------------------


def _load(directory: Path) -> pd.DataFrame:
    frame = store.load(directory)
    if frame.empty:
        raise store.StoreError(f"{str(directory)!r} has no readable run files in runs/")
    return frame


def _pairing_columns(frame: pd.DataFrame, axis: str | None) -> list[str]:
    """Setting columns that must agree between a BASE run and its NEW partner."""
    sides = dict(tuple(frame.groupby("_side")))
    keys = []
    for column in cells.setting_columns(frame):
        if column == axis or (axis is None and column in _PROVENANCE):
            continue
        if axis == "architecture" and column.startswith("model.") and column not in _SHARED_MODEL:
            continue
        if axis == "architecture" and column == "code_block":
            continue  # each architecture's own source, different by definition
        if not all(side[column].notna().any() for side in sides.values()):
            continue  # one side does not have this setting at all
        keys.append(column)
    matched = "model.params" in keys and frame["model.params"].notna().all()
    if axis == "architecture" and matched and "model.d_model" in keys:
        keys.remove("model.d_model")  # parameter matching picks each architecture's width
    return keys


def _per_run(frame: pd.DataFrame, cost: bool) -> pd.DataFrame:
    """One row per (side, run) — per (side, run, length) for cost runs — with ``ok`` and
    the metrics; accuracy is averaged over needle depths."""
    rows = []
    by = ["_side", "config_hash"] + (["eval_seq_len"] if cost else [])
    for key, group in frame.groupby(by, sort=False, dropna=False):
        first = group.iloc[0]
        row = {
            "_side": key[0],
            "architecture": first["architecture"],
            "task": first["task"],
            "variant": first["variant"],
            "seed": first["seed"],
        }
        ok = group[group["status"] == "ok"]
        if cost:
            row["eval_seq_len"] = key[2]
            row["ok"] = bool(len(ok))
            for metric in COST_METRICS:
                row[metric.column] = ok[metric.column].mean() if len(ok) else math.nan
        else:
            train_len = first["train_seq_len"]
            longest = group["eval_seq_len"].max()
            at_train = ok[ok["eval_seq_len"] == train_len]
            row["ok"] = bool(len(at_train))
            row["acc_train"] = at_train["accuracy"].mean() if len(at_train) else math.nan
            at_longest = ok[ok["eval_seq_len"] == longest]["accuracy"]
            row["acc_longest"] = at_longest.mean() if len(at_longest) else math.nan
            row["_longest"] = longest if pd.notna(longest) else train_len
            row["_train_len"] = train_len
            for metric in TRAIN_METRICS[2:]:
                values = group[metric.column].dropna()
                row[metric.column] = float(values.iloc[0]) if len(values) else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _same_lengths(runs: pd.DataFrame) -> bool:
    """Whether every run's longest evaluation length is its training length."""
    return bool((runs["_longest"] == runs["_train_len"]).all())


def _why_nothing_pairs(
    base: pd.DataFrame,
    new: pd.DataFrame,
    keys: list[str],
    axis: str | None,
    base_label: str,
    new_label: str,
) -> str:
    differences = []
    for column in [c for c in ("architecture", "task", "seed", *keys) if c != axis]:
        before, after = _values(base[column]), _values(new[column])
        if before != after:
            differences.append(f"{column} ({', '.join(before)} vs {', '.join(after)})")
    detail = f": they differ in {'; '.join(differences[:3])}" if differences else ""
    return f"no run of BASE {base_label} pairs with a run of NEW {new_label}{detail}"


def _values(column: pd.Series) -> list[str]:
    return sorted({_show(cells._hashable(v)) for v in column.dropna().unique()})


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=0.0)
    return a == b


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _short(column: str) -> str:
    return column.split(".", 1)[1] if "." in column else column


def _number(value: float) -> str:
    if pd.isna(value):
        return "-"
    if abs(value) >= 1000:
        for threshold, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if abs(value) >= threshold:
                return f"{value / threshold:.1f}{suffix}"
    if float(value).is_integer():
        return f"{value:.0f}"
    return f"{value:.3f}"


def _interval(row: pd.Series, column: str, ratio: bool) -> str:
    estimate, low, high = (row[f"{column}_{k}"] for k in ("delta", "low", "high"))

    def fmt(value: float) -> str:
        if ratio:  # a change of ten times or more reads better as a factor
            return f"×{value + 1:.3g}" if value >= 9 else f"{value * 100:+.1f}%"
        return f"{value:+.0f}" if column == "train_steps" else f"{value:+.3f}"

    if pd.isna(low):
        return f"{fmt(estimate)} (1 seed)"
    return f"{fmt(estimate)} [{fmt(low)}, {fmt(high)}]"


def _verdict(row: pd.Series) -> str:
    low, high = row.get(f"{GUARDED}_low"), row.get(f"{GUARDED}_high")
    if low is None or pd.isna(row.get(f"{GUARDED}_delta")):
        return "-"
    if pd.isna(low):
        return "1 seed"
    if low > 0:
        return "better"
    if high < 0:
        return "worse"
    return "inconclusive"


def _all_zero(table: pd.DataFrame, column: str) -> bool:
    """Whether a metric moved in no cell (or is missing)."""
    parts = [f"{column}_{k}" for k in ("delta", "low", "high")]
    if parts[0] not in table:
        return True
    values = table[parts].to_numpy(float)
    return bool(np.all(np.isnan(values) | (np.abs(values) < 1e-12)))


def _cell_name(row: pd.Series) -> str:
    parts = [str(row["architecture"]), str(row["task"])]
    if row.get("setting"):
        parts.append(str(row["setting"]))
    if "eval_seq_len" in row and pd.notna(row["eval_seq_len"]):
        parts.append(f"L={int(row['eval_seq_len'])}")
    return " · ".join(parts)
