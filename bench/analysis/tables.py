"""The results as tables: the leaderboard per task and the cost table, and their display.

    leaderboard(results) -> {task: DataFrame}     # one row per cell, ranked
    cost_table(results) -> (DataFrame, source)    # one row per architecture, medians

Plain DataFrames, so tests and notebooks can use them without HTML; ``bench.report``
renders them. A row is a cell (``bench.store.cells``): runs that differ in nothing but the
seed, with the selection of a selected axis applied.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from bench.analysis import lm
from bench.store import cells
from bench.store.formats import (
    architecture_order,
    check_results,
    format_bytes,
    format_count,
    format_length,
    ordered_tasks,
    per_run_accuracy,
)


def _mean_std(values: pd.Series) -> tuple[float, float]:
    values = values.dropna()
    if values.empty:
        return math.nan, math.nan
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def leaderboard(results: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per task, one row per cell (architecture and every setting but the seed), ranked.

    Cells come from ``bench.store.cells``: runs that differ in anything but the seed (a learning
    rate, a width, the sweep or commit that made them) are separate rows, and a declared
    selection keeps one value per cell (``selected``, chosen on validation data).
    Accuracy at the training length and at the task's longest eval length, exact match
    at the training length: mean and sd over seeds (needle rows averaged over depth
    first). ``seeds`` reads "ok/total" distinct seeds; ``converged`` how many of the
    runs reached ``train.early_stop`` (or used their budget when there is none), and
    ``stop`` why they stopped; ``longest_status`` says why a longest-length cell is empty.

    A language model's task (``text``) also gets bits per byte, its recall slice and its
    first and last position buckets (``bench.analysis.lm.cell_fields``), and is ranked by
    bits per byte at the training length, lowest first.
    """
    check_results(results)
    results = cells.prepare(results)
    runs = per_run_accuracy(results, statuses=("ok", "oom", "diverged", "error"))
    boards: dict[str, pd.DataFrame] = {}
    for task in ordered_tasks(runs["task"].unique()):
        in_task = runs[runs["task"] == task]
        longest = in_task["eval_seq_len"].max()
        language_model = lm.is_language_model(in_task)
        records = []
        for (arch, variant), group in in_task.groupby(["architecture", "variant"], dropna=False):
            at_train = group[group["eval_seq_len"] == group["train_seq_len"]]
            at_long = group[group["eval_seq_len"] == longest]
            ok_train = at_train[at_train["status"] == "ok"]
            ok_long = at_long[at_long["status"] == "ok"]
            acc, acc_sd = _mean_std(ok_train["accuracy"])
            long_acc, long_sd = _mean_std(ok_long["accuracy"])
            em, em_sd = (
                _mean_std(ok_train["exact_match"])
                if "exact_match" in group
                else (math.nan, math.nan)
            )
            bad = at_long.loc[at_long["status"] != "ok", "status"]
            one_per_run = group.drop_duplicates("config_hash")
            records.append(
                {
                    "architecture": arch,
                    "variant": variant,
                    "selected": one_per_run["selected"].iloc[0],
                    **{
                        c: one_per_run[c].iloc[0]
                        for c in ("d_model", "n_layers", "train_seq_len")
                        if c in one_per_run
                    },
                    "params": one_per_run["params"].iloc[0] if "params" in group else math.nan,
                    "seeds": cells.seed_count(one_per_run),
                    "converged": _converged_count(one_per_run),
                    "stop": _stop_summary(one_per_run),
                    "acc_train": acc,
                    "acc_train_sd": acc_sd,
                    "acc_longest": long_acc,
                    "acc_longest_sd": long_sd,
                    "longest_len": longest,
                    "longest_status": ""
                    if ok_long.shape[0]
                    else (bad.iloc[0] if len(bad) else "not run"),
                    "exact_match": em,
                    "exact_match_sd": em_sd,
                    **(lm.cell_fields(group, longest) if language_model else {}),
                }
            )
        board = pd.DataFrame(records)
        if language_model:
            board = board.sort_values(["bpb_train", "bpb_longest"], na_position="last")
        else:
            board = board.sort_values(
                ["acc_train", "acc_longest"], ascending=False, na_position="last"
            )
        board.insert(0, "rank", range(1, len(board) + 1))
        boards[task] = board.reset_index(drop=True)
    return boards


def _converged_count(runs: pd.DataFrame) -> str:
    """``"2/3"``: runs that converged, of the runs with a stop reason ("—" for none)."""
    if "converged" not in runs.columns:
        return "—"
    known = runs["converged"].dropna()
    if known.empty:
        return "—"
    return f"{int(known.astype(bool).sum())}/{len(known)}"


def _stop_summary(runs: pd.DataFrame) -> str:
    """Why the runs stopped, e.g. ``"early_stop ×2, steps ×1"``."""
    if "stop_reason" not in runs.columns or runs["stop_reason"].dropna().empty:
        return "—"
    counts = runs["stop_reason"].dropna().value_counts()
    return ", ".join(f"{reason} ×{n}" for reason, n in sorted(counts.items()))


def cost_table(results: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Per architecture: params, tokens/s, peak memory, state bytes; and where they come from.

    From cost rows at the longest length every architecture finished (OOM counted in
    `max_ok_len`), else from eval rows at the training length (median over runs).
    """
    check_results(results)
    cost = results[results["row_kind"] == "cost"]
    metrics = [
        c
        for c in (
            "params",
            "train_tokens_per_s",
            "prefill_tokens_per_s",
            "decode_tokens_per_s",
            "peak_memory_train_bytes",
            "peak_memory_infer_bytes",
            "state_bytes",
        )
        if c in results.columns
    ]
    if not cost.empty:
        ok = cost[cost["status"] == "ok"]
        per_arch_lengths = ok.groupby("architecture")["seq_len"].apply(set)
        common = set.intersection(*per_arch_lengths) if len(per_arch_lengths) else set()
        length = max(common) if common else ok["seq_len"].min()
        rows = ok[ok["seq_len"] == length]
        table = rows.groupby("architecture")[metrics].median()
        table["max_ok_len"] = ok.groupby("architecture")["seq_len"].max()
        failed = cost[cost["status"] != "ok"].groupby("architecture")["seq_len"].min()
        table["first_failure"] = failed.reindex(table.index).map(
            lambda v: "" if pd.isna(v) else f"{format_length(v)}"
        )
        source = f"cost rows at L={format_length(length)}, the longest length every architecture finished"
    else:
        runs = results[
            (results["row_kind"] == "eval")
            & (results["status"] == "ok")
            & (results["eval_seq_len"] == results["train_seq_len"])
        ].drop_duplicates("config_hash")
        if runs.empty:
            return pd.DataFrame(), "no ok rows carry cost measurements"
        table = runs.groupby("architecture")[metrics].median()
        lengths = sorted(runs["train_seq_len"].dropna().unique())
        source = (
            "eval runs at their training length (L="
            + ", ".join(format_length(v) for v in lengths)
            + "), median over runs"
        )
    order = architecture_order(table.index)
    return table.reindex(order).reset_index(), source


# --------------------------------------------------------------------------- formatting


def _pm(mean: float, sd: float) -> str:
    if not np.isfinite(mean):
        return "—"
    return f"{mean:.3f} ± {sd:.3f}" if np.isfinite(sd) else f"{mean:.3f}"


def board_display(board: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({"rank": board["rank"], "architecture": board["architecture"]})
    if (board["variant"] != "").any():
        out["setting"] = board["variant"].replace("", "default")
    if (board["selected"] != "").any():
        out["selected (on val)"] = board["selected"].replace("", "—")
    for column in ("d_model", "n_layers"):
        if column in board:
            out[column] = board[column].map(lambda v: "—" if pd.isna(v) else f"{v:.0f}")
    if "params" in board:
        out["params"] = board["params"].map(format_count)
    out["seeds ok"] = board["seeds"]
    out["converged"] = board["converged"]
    out["stop"] = board["stop"]
    train = board["train_seq_len"].map(format_length) if "train_seq_len" in board else "train"
    out["acc @ train L"] = [
        f"{_pm(m, s)} (L={t})" + (" unconverged" if _unconverged(c) else "")
        for m, s, t, c in zip(
            board["acc_train"], board["acc_train_sd"], train, board["converged"], strict=True
        )
    ]
    longest = format_length(board["longest_len"].iloc[0]) if len(board) else "?"
    out[f"acc @ L={longest}"] = [
        _pm(m, s) if np.isfinite(m) else (status.upper() if status == "oom" else status or "—")
        for m, s, status in zip(
            board["acc_longest"], board["acc_longest_sd"], board["longest_status"], strict=True
        )
    ]
    if "bpb_train" in board:  # a language model: bits per byte, not exact match
        return _lm_display(board, out, train, longest)
    out["exact match @ train L"] = [
        _pm(m, s) for m, s in zip(board["exact_match"], board["exact_match_sd"], strict=True)
    ]
    return out


def _lm_display(board: pd.DataFrame, out: pd.DataFrame, train: Any, longest: str) -> pd.DataFrame:
    """The text task's columns: bits per byte (test split) at the training and longest
    lengths, the recall slice against the rest, and the first and last position buckets."""
    out["bpb @ train L"] = [
        f"{_pm(m, s)} (L={t})"
        for m, s, t in zip(board["bpb_train"], board["bpb_train_sd"], train, strict=True)
    ]
    out[f"bpb @ L={longest}"] = [
        _pm(m, s) if np.isfinite(m) else (status.upper() if status == "oom" else status or "—")
        for m, s, status in zip(
            board["bpb_longest"], board["bpb_longest_sd"], board["longest_status"], strict=True
        )
    ]
    out["recall-slice bpb"] = [
        _pm(m, s) for m, s in zip(board["recall_bpb"], board["recall_bpb_sd"], strict=True)
    ]
    out["other bpb"] = [
        _pm(m, s) for m, s in zip(board["other_bpb"], board["other_bpb_sd"], strict=True)
    ]
    out["recall bytes"] = board["recall_fraction"].map(
        lambda v: f"{v:.1%}" if np.isfinite(v) else "—"
    )
    last = next((b for b in board["last_bucket"] if b), "last")
    out["bpb @ pos 0-63"] = board["first_bucket_bpb"].map(_three)
    out[f"bpb @ pos {last}"] = board["last_bucket_bpb"].map(_three)
    return out


def _three(value: float) -> str:
    return f"{value:.3f}" if np.isfinite(value) else "—"


def _unconverged(count: str) -> bool:
    """``"1/3"`` -> True: some run of the cell did not converge."""
    done, _, total = count.partition("/")
    return bool(total) and done != total


_COST_LABELS = {
    "params": ("params", format_count),
    "train_tokens_per_s": ("train tokens/s", format_count),
    "prefill_tokens_per_s": ("prefill tokens/s", format_count),
    "decode_tokens_per_s": ("decode tokens/s", format_count),
    "peak_memory_train_bytes": ("peak mem train", format_bytes),
    "peak_memory_infer_bytes": ("peak mem infer", format_bytes),
    "state_bytes": ("state / sequence", format_bytes),
    "max_ok_len": ("longest ok L", format_length),
    "first_failure": ("first OOM/fail L", str),
}


def cost_display(table: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({"architecture": table["architecture"]})
    for column, (label, fmt) in _COST_LABELS.items():
        if column in table:
            out[label] = table[column].map(
                lambda v, fmt=fmt: "—" if isinstance(v, float) and not np.isfinite(v) else fmt(v)
            )
    return out


def markdown_table(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])
