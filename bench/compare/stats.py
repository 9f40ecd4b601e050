"""Pairing BASE and NEW runs, and the paired statistics of each cell (``compare``).

Pairing follows the comparison protocol (docs/design.md): a BASE run and a NEW run pair
when they agree on architecture, task, seed and every setting column of
``bench.store.cells.setting_columns`` except the compared one. Between folders the sweep name,
commit and device are what is compared, not settings. A text run's corpus digest
(``corpus_sha256``) is never compared: runs that read different text never pair. Settings that one side does not
have at all (another architecture's table, a key that newer code added) are left out,
and comparing architectures ignores their own settings (and ``d_model`` when parameter
counts are matched). Cells are labelled in ``bench.store.cells``'s vocabulary (``lr=0.001``).

Statistics: per cell and seed, Δ = NEW − BASE. The interval is the 95 % paired t
interval of the mean difference over seeds (``scipy.stats.ttest_rel``); with one seed
there is none. The t interval rather than a bootstrap because cells have 2–5 seeds, where
a bootstrap interval cannot be wider than the few differences observed. Costs
(throughput, memory, parameters) compare as ratios: the same interval on log(NEW/BASE),
shown as a percentage change (a geometric mean over seeds).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bench.store import cells
from seqbench import UserError

LEVEL = 0.95
METHOD = (
    "Δ = NEW − BASE for each seed; [low, high] is the 95 % paired t interval of the mean "
    "difference over seeds (scipy.stats.ttest_rel), none with one seed; costs are ratios "
    "NEW/BASE (geometric mean over seeds, the same interval on their logarithm)"
)
PROVENANCE = ("sweep", "git_commit", "device_name", "code_block", "code_task")
# model.* settings every architecture shares (the rest are one architecture's own).
_SHARED_MODEL = ("model.d_model", "model.n_layers", "model.params", "model.params_tolerance")


class CompareError(UserError):
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
# A language model's (text): bits per byte on the test split, lower is better.
LM_METRICS = (Metric("bpb_train", "bpb @ train len", ratio=False),)
GUARDED = "acc_train"  # what --fail-below checks
UNCOMPARABLE = ("corpus_sha256",)  # pairing keys always: different text is no comparison


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
            name = cell_name(row)
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
                why = f"Δ acc @ train len {interval_text(row, GUARDED, False)} is below {fail_below:+g}"
                out.append((name, why))
        return out


# --- pairing and statistics ----------------------------------------------------------------


def compare(
    base: pd.DataFrame, new: pd.DataFrame, axis: str | None, base_label: str, new_label: str
) -> Comparison:
    """Pair the runs of ``base`` and ``new`` (``store.load`` frames) and compare each cell.
    ``axis``: the compared column, or None when the two come from different folders."""
    frame = pd.concat([base.assign(_side="base"), new.assign(_side="new")], ignore_index=True)
    keys = _pairing_columns(frame, axis)
    labelled = frame[["config_hash", "architecture", "task", "seed", "row_kind", "status", *keys]]
    labelled = labelled.assign(select="[]")  # pair every run, selected or not
    # One config on both sides is two runs here: what only a run records (the corpus a
    # text run read) may differ between them, and must split their cells.
    labelled = labelled.assign(config_hash=frame["config_hash"] + "/" + frame["_side"])
    if axis == "architecture":
        labelled = labelled.assign(
            architecture=f"{base['architecture'].iloc[0]} → {new['architecture'].iloc[0]}"
        )
    frame["variant"] = cells.prepare(labelled)["variant"]
    frame["architecture"] = labelled["architecture"]
    cost = (frame["row_kind"] == "cost").all()
    metrics = list(COST_METRICS if cost else TRAIN_METRICS)
    if not cost and "bits_per_byte" in frame and frame["bits_per_byte"].notna().any():
        metrics += LM_METRICS
    runs = _per_run(frame, cost)
    cell_keys = ["architecture", "task", "variant"] + (["seq_len"] if cost else [])
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


def _pairing_columns(frame: pd.DataFrame, axis: str | None) -> list[str]:
    """Setting columns that must agree between a BASE run and its NEW partner."""
    sides = dict(tuple(frame.groupby("_side")))
    keys = []
    for column in cells.setting_columns(frame):
        if column == axis or (axis is None and column in PROVENANCE):
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
    by = ["_side", "config_hash"] + (["seq_len"] if cost else [])
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
            row["seq_len"] = key[2]
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
            if "bits_per_byte" in at_train:
                bpb = pd.to_numeric(at_train["bits_per_byte"], errors="coerce").dropna()
                row["bpb_train"] = bpb.mean() if len(bpb) else math.nan
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
        before, after = shown_values(base[column]), shown_values(new[column])
        if before != after:
            differences.append(f"{column} ({', '.join(before)} vs {', '.join(after)})")
    detail = f": they differ in {'; '.join(differences[:3])}" if differences else ""
    return f"no run of BASE {base_label} pairs with a run of NEW {new_label}{detail}"


# --- values and cells as text --------------------------------------------------------------


def shown_values(column: pd.Series) -> list[str]:
    return sorted({show_value(cells._hashable(v)) for v in column.dropna().unique()})


def same_value(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=0.0)
    return a == b


def show_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def cell_name(row: pd.Series) -> str:
    parts = [str(row["architecture"]), str(row["task"])]
    if row.get("setting"):
        parts.append(str(row["setting"]))
    if "seq_len" in row and pd.notna(row["seq_len"]):
        parts.append(f"L={int(row['seq_len'])}")
    return " · ".join(parts)


def interval_text(row: pd.Series, column: str, ratio: bool) -> str:
    estimate, low, high = (row[f"{column}_{k}"] for k in ("delta", "low", "high"))

    def fmt(value: float) -> str:
        if ratio:  # a change of ten times or more reads better as a factor
            return f"×{value + 1:.3g}" if value >= 9 else f"{value * 100:+.1f}%"
        return f"{value:+.0f}" if column == "train_steps" else f"{value:+.3f}"

    if pd.isna(low):
        return f"{fmt(estimate)} (1 seed)"
    return f"{fmt(estimate)} [{fmt(low)}, {fmt(high)}]"
