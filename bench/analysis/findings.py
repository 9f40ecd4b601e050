"""Paper beside measurement: each finding a paper reports, decided from the results.

    check_findings(results, store.load_findings(DIR)) -> list[Claim]

Each finding (``bench.sweep.papers``: a ``[[paper]]`` table) is decided like the report's
claims (``bench.analysis.verdicts``): the mean over seeds of the runs it names, with a 95 % t
interval. "solves" agrees when the whole interval is at or above the threshold (0.9
token accuracy by default) and disagrees when it is wholly below; "fails" the reverse;
"above" / "below" compare with the ``than`` runs, paired by seed, on the interval of
the differences. Anything else is inconclusive, a finding without runs is unknown, and
one whose scaled setting cannot be compared says why ("not comparable"). Selection
(``select``) is applied first: a cell is measured at the learning rate chosen on
validation data.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from bench.analysis.verdicts import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    UNKNOWN,
    Claim,
    Interval,
    decide,
    mean_interval,
)
from bench.store import cells
from bench.store.formats import per_run_accuracy
from bench.sweep.papers import Finding

AGREES, DISAGREES, NOT_COMPARABLE = "agrees", "disagrees", "not comparable"
_AS_AGREEMENT = {HOLDS: AGREES, FAILS: DISAGREES, INCONCLUSIVE: INCONCLUSIVE, UNKNOWN: UNKNOWN}


# --------------------------------------------------------------------------- measuring


def _runs(accuracy: pd.DataFrame, finding: Finding, selector: dict[str, Any]) -> pd.DataFrame:
    """Per-seed accuracy of the runs ``selector`` names, at the finding's length."""
    rows = accuracy[
        (accuracy["architecture"] == selector.get("architecture", finding.architecture))
        & (accuracy["task"] == selector.get("task", finding.task))
    ]
    for column, value in {**finding.cell, **selector.get("cell", {})}.items():
        if column not in rows.columns:
            return rows.iloc[0:0]
        rows = rows[rows[column] == value]
    at = selector.get("at", finding.at)
    if at == "train":
        rows = rows[rows["eval_seq_len"] == rows["train_seq_len"]]
    elif at == "longest":
        rows = rows[rows["eval_seq_len"] == rows["eval_seq_len"].max()]
    else:
        rows = rows[rows["eval_seq_len"] == at]
    return rows.dropna(subset=[finding.metric])


def _describe(name: str, rows: pd.DataFrame, metric: str) -> tuple[Interval | None, str]:
    mean, interval = mean_interval(rows[metric], 0.0, 1.0)
    seeds = rows["seed"].nunique()
    spread = interval.text(2) if interval else "no interval"
    lengths = sorted(set(rows["eval_seq_len"].astype(int)))
    where = f" at L={'/'.join(map(str, lengths))}" if lengths else ""
    text = f"{name}{where}: {mean:.2f} ({spread}, {seeds} seed{'s' if seeds != 1 else ''})"
    return interval, text


def _label(finding: Finding, selector: dict[str, Any]) -> str:
    cell = {**finding.cell, **selector.get("cell", {})}
    parts = [f"{k}={v}" for k, v in cell.items()]
    name = selector.get("architecture", finding.architecture)
    return f"{name} ({', '.join(parts)})" if parts else name


def check_finding(accuracy: pd.DataFrame, finding: Finding, key: str) -> Claim:
    """One finding decided from per-run accuracy rows (``per_run_accuracy`` output)."""
    ours = _runs(accuracy, finding, {})
    boundary, method = _boundary(finding), "t interval over seeds, mean ± t(0.975, n−1)·sd/√n"
    common = dict(key=key, statement=finding.claim, boundary=boundary, method=method)
    common |= dict(paper=f"{finding.paper}, {finding.source}", says=finding.says)
    if ours.empty:
        return Claim(verdict=UNKNOWN, evidence="no runs measure it", detail="no data", **common)
    interval, evidence = _describe(_label(finding, {}), ours, finding.metric)
    if finding.expect in ("solves", "fails"):
        solved = {"low": finding.threshold}
        unsolved = {"high": np.nextafter(finding.threshold, 0.0)}  # strictly below
        verdict = decide(interval, **(solved if finding.expect == "solves" else unsolved))
    else:
        theirs = _runs(accuracy, finding, finding.than or {})
        if theirs.empty:
            return Claim(verdict=UNKNOWN, evidence=evidence + "; no runs to compare with", **common)
        _, other = _describe(_label(finding, finding.than or {}), theirs, finding.metric)
        paired = ours.merge(theirs, on="seed", suffixes=("", "_than"))
        differences = paired[finding.metric] - paired[f"{finding.metric}_than"]
        gap, gap_interval = mean_interval(differences)
        spread = gap_interval.text(2) if gap_interval else "no interval"
        evidence += f" vs {other}; difference {gap:+.2f} ({spread}, paired by seed)"
        tiny = np.nextafter(0.0, 1.0)
        bound = {"above": {"low": tiny}, "below": {"high": -tiny}}[finding.expect]
        verdict = decide(gap_interval, **bound)
    verdict = _AS_AGREEMENT[verdict]
    detail = "1 seed: no interval" if interval is None else ""
    if finding.not_comparable:
        verdict, detail = NOT_COMPARABLE, finding.not_comparable
    return Claim(verdict=verdict, evidence=evidence, detail=detail, **common)


def _boundary(finding: Finding) -> str:
    metric = "token accuracy" if finding.metric == "accuracy" else "exact match"
    at = {"train": "at the training length", "longest": "at the longest length"}.get(
        str(finding.at), f"at L={finding.at}"
    )
    return {
        "solves": f"{metric} {at} ≥ {finding.threshold} over the whole interval",
        "fails": f"{metric} {at} < {finding.threshold} over the whole interval",
        "above": f"{metric} {at} above the compared runs' (difference interval > 0)",
        "below": f"{metric} {at} below the compared runs' (difference interval < 0)",
    }[finding.expect]


def check_findings(results: pd.DataFrame, findings: list[Finding]) -> list[Claim]:
    """Every finding decided from ``results`` (selection applied first)."""
    if not findings:
        return []
    accuracy = per_run_accuracy(cells.prepare(results))  # only the selected candidates
    return [check_finding(accuracy, f, f"P{i}") for i, f in enumerate(findings, 1)]


def agreement_counts(claims: list[Claim]) -> dict[str, int]:
    """How many findings agree, disagree, ... (for the report's tally), in that order."""
    counts = Counter(claim.verdict for claim in claims)
    order = (AGREES, DISAGREES, INCONCLUSIVE, NOT_COMPARABLE, UNKNOWN)
    return {verdict: counts[verdict] for verdict in order if counts[verdict]}
