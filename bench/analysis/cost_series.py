"""Timed calls by length, read back from the results table for the cost claims.

    cost_series(results, "transformer") -> CostSeries | None

The rows of one cell (``bench.store.cells``) are pooled into every timed call's seconds at
each length: ``prefill_times_s`` where the records keep every call, else the median per
length from throughput. ``bench.analysis.claims`` fits slopes to these (``bench.analysis.verdicts``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bench.store import cells


def _samples(cell: object) -> np.ndarray | None:
    """Every timed call's seconds from a ``*_times_s`` cell (list, array or JSON text)."""
    if isinstance(cell, str):
        try:
            cell = json.loads(cell)
        except ValueError:
            return None
    if not isinstance(cell, list | tuple | np.ndarray):
        return None
    values = np.asarray(cell, float)
    values = values[np.isfinite(values) & (values > 0)]
    return values if values.size else None


@dataclass(frozen=True)
class CostSeries:
    """One architecture's timed calls by length, from one measurement setup."""

    architecture: str
    kind: str  # "prefill" or "training"
    seconds: dict[int, np.ndarray]  # every call's seconds; one median per length if no repeats
    setup: str  # "d_model=256, batch 2, AMD EPYC (2 cores)"


def cost_series(results: pd.DataFrame, architecture: str) -> CostSeries | None:
    """Prefill (else training) seconds by length for ``architecture``; None below 3 lengths.

    The rows of one cell (``bench.store.cells``: runs that differ in nothing but the seed, from
    one sweep, commit and device) are pooled; with several cells, the one with the most
    lengths is used, then one that keeps every call, then the widest. Where
    the rows keep every call (``prefill_times_s``), those are the samples; otherwise the
    median per length, from throughput.
    """
    results = cells.prepare(results)
    rows = results[
        (results["row_kind"] == "cost")
        & (results["status"] == "ok")
        & (results["architecture"] == architecture)
    ]
    keys = ["variant"]
    for throughput, kind in (("prefill_tokens_per_s", "prefill"), ("train_tokens_per_s", "train")):
        if throughput not in rows.columns:
            continue
        data = rows[pd.to_numeric(rows[throughput], errors="coerce") > 0]
        if data.empty:
            continue
        groups = [g for _, g in data.groupby(keys, dropna=False)]
        calls = f"{kind}_times_s"
        best = max(
            groups,
            key=lambda g: (
                g["seq_len"].nunique(),
                calls in g and g[calls].map(lambda cell: _samples(cell) is not None).all(),
                g["d_model"].max() if "d_model" in g else 0,
            ),
        )
        if best["seq_len"].nunique() < 3:
            continue
        seconds = _seconds_by_length(best, kind, throughput)
        label = "training" if kind == "train" else kind
        return CostSeries(architecture, label, seconds, _setup(best))
    return None


def _seconds_by_length(rows: pd.DataFrame, kind: str, throughput: str) -> dict[int, np.ndarray]:
    column = f"{kind}_times_s"
    by_length = {}
    for length, group in rows.groupby("seq_len"):
        found = [s for s in map(_samples, group.get(column, [])) if s is not None]
        by_length[int(length)] = np.concatenate(found) if found else None
    if all(v is not None for v in by_length.values()):
        return by_length
    # No per-call times: one median per length, seconds per sequence from throughput.
    per_sequence = rows["seq_len"] / pd.to_numeric(rows[throughput])
    medians = per_sequence.groupby(rows["seq_len"]).median()
    return {int(length): np.array([value]) for length, value in medians.items()}


def _setup(rows: pd.DataFrame) -> str:
    parts = []
    if "d_model" in rows and rows["d_model"].notna().any():
        parts.append(f"d_model={rows['d_model'].iloc[0]:.0f}")
    if "measure.batch_size" in rows and rows["measure.batch_size"].notna().any():
        parts.append(f"batch {rows['measure.batch_size'].iloc[0]:.0f}")
    if "device_name" in rows and rows["device_name"].notna().any():
        parts.append(str(rows["device_name"].iloc[0]))
    return ", ".join(parts)
