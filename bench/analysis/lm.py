"""Language models in the results: bits per byte, loss by position, the recall slice.

The ``text`` task's evaluation points carry, per run and evaluation length (docs/results-schema.md):
``bits_per_byte`` on the test split, ``recall_bits_per_byte`` and ``other_bits_per_byte``
on the bytes that complete an 8-byte n-gram already in the context (Zoology's
associative-recall hits) and on the rest, ``recall_fraction``, and the loss in position
buckets (``position_buckets`` 0–63, 64–255, 256–1023, …, ``position_bits_per_byte``).

    is_language_model(rows)       whether rows carry bits per byte
    cell_fields(group, longest)   the leaderboard's bpb columns for one cell
    position_table(results)       one row per (run, length, position bucket), for figures
    recall_gap(results)           per architecture: its gap to attention, and the share
                                  of it on the recall slice (Zoology §3)

Plain DataFrames; ``bench.analysis.tables`` and ``bench.plots.text`` read them.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd

from bench.store.formats import architecture_order, per_run_accuracy

BASELINE = "transformer"  # the recall slice's gap is measured to attention, as in Zoology


def is_language_model(rows: pd.DataFrame) -> bool:
    """Whether any row carries a language model's bits per byte."""
    return "bits_per_byte" in rows.columns and _numbers(rows["bits_per_byte"]).notna().any()


def _numbers(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values, errors="coerce")


def _mean_sd(values: pd.Series) -> tuple[float, float]:
    values = _numbers(values).dropna()
    if values.empty:
        return math.nan, math.nan
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def _buckets(value: Any) -> list:
    """A list column read back from a run file (a list), or from CSV (JSON text)."""
    if isinstance(value, str):
        return json.loads(value)
    if isinstance(value, list | tuple | np.ndarray):
        return list(value)
    return []


def cell_fields(group: pd.DataFrame, longest: float) -> dict[str, Any]:
    """The bpb columns of one leaderboard cell: per-run eval rows (``per_run_accuracy``)
    of its seeds at every length. Means and sds over the seeds that finished.

    ``bpb_train`` / ``bpb_longest``: bits per byte at the training length and at the
    longest evaluated length; ``recall_bpb`` / ``other_bpb``: the two slices at the
    training length, and ``recall_fraction`` the share of bytes on the recall slice;
    ``first_bucket_bpb`` / ``last_bucket_bpb``: the loss in the first and last position
    bucket at the training length (``last_bucket`` names it), whose difference shows how
    much the context helps.
    """
    ok = group[group["status"] == "ok"]
    at_train = ok[ok["eval_seq_len"] == ok["train_seq_len"]]
    at_long = ok[ok["eval_seq_len"] == longest]
    out: dict[str, Any] = {}
    for name, rows, column in (
        ("bpb_train", at_train, "bits_per_byte"),
        ("bpb_longest", at_long, "bits_per_byte"),
        ("recall_bpb", at_train, "recall_bits_per_byte"),
        ("other_bpb", at_train, "other_bits_per_byte"),
    ):
        out[name], out[f"{name}_sd"] = _mean_sd(rows[column]) if column in rows else (math.nan,) * 2
    out["recall_fraction"] = _mean_sd(at_train.get("recall_fraction", pd.Series(dtype=float)))[0]
    firsts, lasts, label = [], [], ""
    for buckets, values in zip(
        at_train.get("position_buckets", []),
        at_train.get("position_bits_per_byte", []),
        strict=True,
    ):
        buckets, values = _buckets(buckets), _buckets(values)
        if values:
            firsts.append(values[0])
            lasts.append(values[-1])
            label = buckets[-1]
    out["first_bucket_bpb"] = float(np.mean(firsts)) if firsts else math.nan
    out["last_bucket_bpb"] = float(np.mean(lasts)) if lasts else math.nan
    out["last_bucket"] = label
    return out


def position_table(results: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, evaluation length, position bucket) of the ok language-model
    rows: architecture, task, variant, seed, train_seq_len, eval_seq_len, ``bucket``
    (``"64-255"``), ``bucket_start``, ``bucket_stop`` (exclusive), ``bits_per_byte``."""
    columns = [
        "config_hash",
        "architecture",
        "task",
        "variant",
        "seed",
        "train_seq_len",
        "eval_seq_len",
        "bucket",
        "bucket_start",
        "bucket_stop",
        "bits_per_byte",
    ]
    if not is_language_model(results) or "position_bits_per_byte" not in results.columns:
        return pd.DataFrame(columns=columns)
    rows = per_run_accuracy(results)
    rows = rows[_numbers(rows["bits_per_byte"]).notna()]
    out = []
    for row in rows.itertuples(index=False):
        labels, values = _buckets(row.position_buckets), _buckets(row.position_bits_per_byte)
        for label, value in zip(labels, values, strict=True):
            start, stop = (int(v) for v in label.split("-"))
            out.append(
                {
                    "config_hash": row.config_hash,
                    "architecture": row.architecture,
                    "task": row.task,
                    "variant": getattr(row, "variant", ""),
                    "seed": row.seed,
                    "train_seq_len": row.train_seq_len,
                    "eval_seq_len": row.eval_seq_len,
                    "bucket": label,
                    "bucket_start": start,
                    "bucket_stop": stop + 1,
                    "bits_per_byte": math.nan if value is None else float(value),
                }
            )
    return pd.DataFrame(out, columns=columns)


def recall_gap(results: pd.DataFrame, baseline: str = BASELINE) -> pd.DataFrame:
    """Per (task, variant, architecture) at the training length, means over seeds: bits
    per byte overall, on the recall slice and on the rest, the recall fraction, and the gap
    to ``baseline`` (attention) split by slice:

        gap = bpb − bpb_attn = f·(recall − recall_attn) + (1 − f)·(other − other_attn)

    ``recall_share`` is the first term over the gap: how much of a block's shortfall is
    on the bytes it could have copied from its context (Zoology §3 puts most of it
    there for gated convolutions). The recall fraction ``f`` is the same for every block
    evaluated on the same seeds (the test windows depend on the seed alone); the baseline
    is compared on the seeds both have. NaN where the gap is under 0.01 bits.
    """
    columns = [
        "task",
        "variant",
        "architecture",
        "bits_per_byte",
        "recall_bits_per_byte",
        "other_bits_per_byte",
        "recall_fraction",
        "gap",
        "recall_gap",
        "other_gap",
        "recall_share",
    ]
    if not is_language_model(results):
        return pd.DataFrame(columns=columns)
    runs = per_run_accuracy(results)
    runs = runs[(runs["eval_seq_len"] == runs["train_seq_len"])]
    runs = runs[_numbers(runs["bits_per_byte"]).notna()].copy()
    if "variant" not in runs.columns:
        runs["variant"] = ""
    metrics = ["bits_per_byte", "recall_bits_per_byte", "other_bits_per_byte", "recall_fraction"]
    for column in metrics:
        runs[column] = _numbers(runs[column])
    out = []
    for (task, variant), group in runs.groupby(["task", "variant"], dropna=False, sort=True):
        base = group[group["architecture"] == baseline].groupby("seed")[metrics].mean()
        for arch in architecture_order(group["architecture"].unique()):
            mine = group[group["architecture"] == arch].groupby("seed")[metrics].mean()
            row = {"task": task, "variant": variant, "architecture": arch, **mine.mean()}
            seeds = mine.index.intersection(base.index)
            if len(seeds):
                f = mine.loc[seeds, "recall_fraction"]
                recall = (f * (mine.loc[seeds, "recall_bits_per_byte"]
                               - base.loc[seeds, "recall_bits_per_byte"])).mean()  # fmt: skip
                other = ((1 - f) * (mine.loc[seeds, "other_bits_per_byte"]
                                    - base.loc[seeds, "other_bits_per_byte"])).mean()  # fmt: skip
                gap = recall + other
                row.update(
                    gap=gap,
                    recall_gap=recall,
                    other_gap=other,
                    recall_share=recall / gap if abs(gap) >= 0.01 else math.nan,
                )
            out.append(row)
    return pd.DataFrame(out).reindex(columns=columns)


def rank_agreement(text: pd.DataFrame, synthetic: pd.DataFrame) -> dict[str, Any]:
    """Spearman's ρ between the architectures' order on text (bits per byte at the
    training length, lowest first) and on the synthetic tasks (token accuracy at the
    training length, averaged over tasks with each task weighted once, highest first),
    over the architectures both hold; cells prepared (selection applied) first.

    Returns ``rho``, its two-sided ``p`` (scipy.stats.spearmanr: with five points only
    ρ = ±1 or 0.9 reach p < 0.05), ``n`` and both orders. Few points: read ρ as a
    description of these orders, not as evidence that the rankings agree in general.
    """
    from scipy import stats

    from bench.store import cells

    text_runs = per_run_accuracy(cells.prepare(text))
    text_runs = text_runs[text_runs["eval_seq_len"] == text_runs["train_seq_len"]]
    bpb = text_runs.assign(bpb=_numbers(text_runs["bits_per_byte"])).dropna(subset=["bpb"])
    text_score = bpb.groupby("architecture")["bpb"].mean()
    runs = per_run_accuracy(cells.prepare(synthetic))
    runs = runs[(runs["eval_seq_len"] == runs["train_seq_len"]) & (runs["task"] != "text")]
    if "bits_per_byte" in runs:
        runs = runs[_numbers(runs["bits_per_byte"]).isna()]
    per_task = runs.groupby(["architecture", "task"])["accuracy"].mean()
    synthetic_score = per_task.groupby("architecture").mean()
    common = [a for a in architecture_order(text_score.index) if a in synthetic_score.index]
    out: dict[str, Any] = {
        "n": len(common),
        "text_order": sorted(common, key=lambda a: text_score[a]),
        "synthetic_order": sorted(common, key=lambda a: -synthetic_score[a]),
        "rho": math.nan,
        "p": math.nan,
    }
    if len(common) >= 3:
        # lower bpb is better: rank -bpb against accuracy, so ρ = 1 is the same order
        result = stats.spearmanr(
            [-text_score[a] for a in common], [synthetic_score[a] for a in common]
        )
        out["rho"], out["p"] = float(result.statistic), float(result.pvalue)
    return out
