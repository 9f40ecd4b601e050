"""Which runs belong together: cells, declared selection, and how a cell is labelled.

A *cell* is every run of one architecture on one task whose configs agree on everything
but the seed; its seeds give the interval. Averaging across anything else (a learning
rate, a state size, two sweeps or two code versions copied into one folder) would mix
different experiments, so every table and figure groups by cell (docs/design.md,
"Comparison protocol").

    results = cells.prepare(store.load(DIR))

adds two columns to the results table:

- ``variant``: what sets the cell apart from the other cells of its architecture and task,
  e.g. ``"d_state=8"`` or ``"sweep=quick, commit=1a2b3c4"``; empty when nothing does;
- ``selected``: for a sweep that declares ``select = ["train.lr"]``, the value kept for
  this cell (``"lr=0.003"``); the other values' runs are dropped from the table. The
  choice is the best mean **validation** score over seeds, measured on a set drawn apart
  from the reported evaluation set, so the reported numbers never choose their own
  winner: the highest ``val_accuracy``, or for a language model (``text``, whose runs
  record ``val_bits_per_byte`` on its validation split) the lowest bits per byte.
  ``selections(results)`` shows every candidate's score.

Runs of a text task that read different corpora (another Python's standard library, an
edited folder) differ in ``corpus_sha256`` and are never one cell.
"""

from __future__ import annotations

import json
import math

import pandas as pd

from seqbench import UserError

# Config columns (dotted, from ``bench.store``) that can tell two runs apart.
_SETTING_PREFIXES = ("model.", "task.", "train.", "eval.", "measure.")
# Where a run came from: never averaged across (another sweep, commit or machine).
_PROVENANCE = {
    "sweep": "sweep",
    "git_commit": "commit",
    "device_name": "device",
    "code_block": "block code",  # the block's source digest (bench.run.fingerprint)
    "code_task": "task code",
    "corpus_sha256": "corpus",  # the text a language model read (tasks/text)
}
# Keys that never make two runs different experiments.
_NOT_A_SETTING = {"train.log_every"}
SELECTION_METRIC = "val_accuracy"  # higher is better
LM_SELECTION_METRIC = "val_bits_per_byte"  # lower is better; recorded by language models


class CellError(UserError):
    """Results that cannot be grouped or selected as asked; one line for people."""


def setting_columns(results: pd.DataFrame) -> list[str]:
    """The dotted config columns of the results table, and the provenance columns."""
    settings = [
        c for c in results.columns if c.startswith(_SETTING_PREFIXES) and c not in _NOT_A_SETTING
    ]
    return settings + [c for c in _PROVENANCE if c in results.columns]


def varying(results: pd.DataFrame) -> list[str]:
    """Setting and provenance columns that differ between runs of one architecture on one
    task (the seed excepted): each of them splits cells."""
    runs = results.drop_duplicates("config_hash")
    out = []
    for column in setting_columns(runs):
        values = runs[column].map(_hashable)
        counts = values.groupby([runs["architecture"], runs["task"]]).nunique(dropna=False)
        if (counts > 1).any():
            out.append(column)
    return out


def declared_selection(results: pd.DataFrame) -> list[str]:
    """The axes the sweeps behind these results declared to select over."""
    if "select" not in results.columns:
        return []
    axes: list[str] = []
    for text in results["select"].dropna().unique():
        for axis in json.loads(text) if isinstance(text, str) and text else []:
            if axis not in axes:
                axes.append(axis)
    return axes


def prepare(results: pd.DataFrame) -> pd.DataFrame:
    """The results with ``variant`` and ``selected`` columns, selection applied. Idempotent."""
    if "variant" in results.columns and "selected" in results.columns:
        return results
    results = results.copy()
    differing = varying(results)
    select = [axis for axis in declared_selection(results) if axis in differing]
    keep = [c for c in differing if c not in select]
    results["variant"] = _cell_labels(results, keep)
    results["selected"] = ""
    if select:
        results = _apply_selection(results, select)
    return results


def selection_metric(cell: pd.DataFrame) -> tuple[str, bool]:
    """``(column, higher is better)`` a cell is selected by: validation bits per byte
    (lower is better) when its runs recorded it, else validation accuracy."""
    if LM_SELECTION_METRIC in cell.columns and cell[LM_SELECTION_METRIC].notna().any():
        return LM_SELECTION_METRIC, False
    return SELECTION_METRIC, True


def selections(results: pd.DataFrame) -> pd.DataFrame:
    """Every candidate of every selected cell: architecture, task, variant, candidate,
    the validation metric it was ranked by and its mean score over seeds, seeds, whether
    it was chosen, and whether the chosen value lies at an end of a one-axis numeric grid
    (``at_edge``: the best value may lie beyond the grid). Empty without selection."""
    results = results if "variant" in results.columns else _with_variants(results)
    select = [a for a in declared_selection(results) if a in results.columns]
    columns = [
        "architecture", "task", "variant", "candidate", "metric", "score", "seeds", "chosen",
        "at_edge",
    ]  # fmt: skip
    if not select:
        return pd.DataFrame(columns=columns)
    rows = []
    for (arch, task, variant), cell in _trained_runs(results).groupby(
        ["architecture", "task", "variant"], dropna=False, sort=True
    ):
        metric, higher = selection_metric(cell)
        scores = _candidate_scores(cell, select, metric)
        best = _best(scores, higher)
        edge = _at_edge(best, list(scores))
        for candidate, (score, seeds) in scores.items():
            rows.append(
                {
                    "architecture": arch,
                    "task": task,
                    "variant": variant,
                    "candidate": _candidate_label(select, candidate),
                    "metric": metric,
                    "score": score,
                    "seeds": seeds,
                    "chosen": candidate == best,
                    "at_edge": candidate == best and edge,
                }
            )
    return pd.DataFrame(rows, columns=columns)


def seed_count(group: pd.DataFrame) -> str:
    """``"ok/total"`` distinct seeds of one cell."""
    ok = group.loc[group["status"] == "ok", "seed"].nunique()
    return f"{ok}/{group['seed'].nunique()}"


# --- internals -----------------------------------------------------------------------------


def _hashable(value: object) -> object:
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NA:
        return None
    return value


def _short(column: str) -> str:
    if column in _PROVENANCE:
        return _PROVENANCE[column]
    return column.split(".", 1)[1] if "." in column else column


def _format(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "—"
    if isinstance(value, float):
        return f"{value:g}"
    text = str(value)
    is_digest = len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text)
    return text[:7] if is_digest else text  # a commit or a corpus's SHA-256


def _labels(results: pd.DataFrame, columns: list[str]) -> pd.Series:
    if not columns:
        return pd.Series("", index=results.index)
    short = [_short(c) for c in columns]
    if len(set(short)) < len(short):  # two sections share a key name: keep the prefix
        short = columns
    parts = results[columns].apply(
        lambda row: ", ".join(
            f"{name}={_format(_hashable(row[c]))}" for name, c in zip(short, columns, strict=True)
        ),
        axis=1,
    )
    return parts.astype(str)


# Which of two settings that follow from each other a label keeps: the one set in
# training (train.seq_len, not the eval.seq_lens or l_max laid out from it); and the order
# a label shows its settings in.
_KEEP_ORDER = ("train.", "model.", "task.", "eval.", "measure.")
_SHOW_ORDER = ("model.", "task.", "train.", "eval.", "measure.")


def _rank(column: str, order: tuple[str, ...]) -> int:
    return next((i for i, p in enumerate(order) if column.startswith(p)), len(order))


def _cell_labels(results: pd.DataFrame, columns: list[str]) -> pd.Series:
    """Each row's variant: the settings that differ between the cells of its own
    architecture and task, not those that differ only between tasks (a sweep of several
    experiments trains each task at its own length). A setting that follows from one
    already named (``eval.seq_lens`` defaulting to the training length, ``l_max`` laid out
    over it) is left out, since it splits no cell the named one does not."""
    labels = pd.Series("", index=results.index, dtype=object)
    runs = results.drop_duplicates("config_hash")
    ordered = sorted(columns, key=lambda c: _rank(c, _KEEP_ORDER))  # stable within a section
    for (architecture, task), group in runs.groupby(["architecture", "task"], dropna=False):
        values = group[ordered].map(_hashable) if ordered else group[[]]
        named: list[str] = []
        for column in ordered:
            if values[column].nunique(dropna=False) < 2:
                continue
            if any(_follows(values, column, other) for other in named):
                continue
            named.append(column)
        rows = (results["architecture"] == architecture) & (results["task"] == task)
        named.sort(key=lambda c: _rank(c, _SHOW_ORDER))
        labels[rows] = _labels(results[rows], named)
    return labels


def _follows(values: pd.DataFrame, column: str, other: str) -> bool:
    """Whether ``column`` is a function of ``other`` over these runs."""
    pairs = values[[other, column]].astype(str).drop_duplicates()
    return not pairs[other].duplicated().any()


def _with_variants(results: pd.DataFrame) -> pd.DataFrame:
    results = results.copy()
    select = declared_selection(results)
    keep = [c for c in varying(results) if c not in select]
    results["variant"] = _cell_labels(results, keep)
    return results


def _trained_runs(results: pd.DataFrame) -> pd.DataFrame:
    """One row per training run (eval rows; cost-only runs have nothing to select on)."""
    rows = results[results["row_kind"] == "eval"]
    return rows.drop_duplicates("config_hash")


def _candidate_scores(
    cell: pd.DataFrame, select: list[str], metric: str = SELECTION_METRIC
) -> dict[tuple, tuple[float, int]]:
    """Candidate values -> (mean validation ``metric`` over its ok seeds, ok seeds)."""
    if metric not in cell.columns or cell[metric].isna().all():
        raise CellError(
            f"cannot select over {', '.join(select)}: these runs carry no {metric} "
            "(recorded by an older seqbench); run the sweep again with --rerun"
        )
    out: dict[tuple, tuple[float, int]] = {}
    keys = cell[select].map(_hashable)
    for candidate, group in cell.groupby([keys[c] for c in select], dropna=False, sort=True):
        candidate = candidate if isinstance(candidate, tuple) else (candidate,)
        ok = group[(group["status"] == "ok")][metric].dropna()
        out[candidate] = (float(ok.mean()) if len(ok) else math.nan, len(ok))
    return out


def _best(scores: dict[tuple, tuple[float, int]], higher: bool = True) -> tuple | None:
    """Best mean validation score (highest, or lowest when ``higher`` is False); ties go
    to the first candidate in sorted order. A candidate whose seeds all failed (diverged,
    out of memory) cannot win."""
    finite = {k: v for k, v in scores.items() if not math.isnan(v[0])}
    if not finite:
        return None
    sign = 1.0 if higher else -1.0
    return max(finite, key=lambda k: sign * finite[k][0])


def _at_edge(best: tuple | None, candidates: list[tuple]) -> bool:
    """Whether ``best`` is the smallest or largest of two or more values of one numeric axis."""
    if best is None or len(best) != 1 or len(candidates) < 2:
        return False
    values = [c[0] for c in candidates]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return False
    return best[0] in (min(values), max(values))


def _candidate_label(select: list[str], candidate: tuple) -> str:
    return ", ".join(
        f"{_short(axis)}={_format(value)}" for axis, value in zip(select, candidate, strict=True)
    )


def _apply_selection(results: pd.DataFrame, select: list[str]) -> pd.DataFrame:
    keep_hashes: set[str] = set()
    chosen_label: dict[str, str] = {}
    runs = _trained_runs(results)
    for _, cell in runs.groupby(["architecture", "task", "variant"], dropna=False):
        metric, higher = selection_metric(cell)
        best = _best(_candidate_scores(cell, select, metric), higher)
        keys = cell[select].map(_hashable)
        if best is None:  # every candidate failed: keep them all, visibly unselected
            keep_hashes |= set(cell["config_hash"])
            continue
        mask = pd.Series(True, index=cell.index)
        for axis, value in zip(select, best, strict=True):
            mask &= keys[axis].map(lambda v, value=value: v == value)
        label = _candidate_label(select, best)
        for config_hash in cell.loc[mask, "config_hash"]:
            keep_hashes.add(config_hash)
            chosen_label[config_hash] = label
    is_cost = results["row_kind"] != "eval"
    kept = results[is_cost | results["config_hash"].isin(keep_hashes)].copy()
    kept["selected"] = kept["config_hash"].map(chosen_label).fillna("")
    return kept
