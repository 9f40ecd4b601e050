"""The results table's shape and the words and numbers every view of it shares: the
check that a table can be shown, the order architectures and tasks are listed in, one
accuracy row per run, and number formats (lengths, bytes, counts).

Tables in the terminal, the analysis, the report and the figures all read these, so none
of them needs the plotting room (which alone imports matplotlib).

The order: seqbench's own blocks first, in the line-up below (the order every table and
figure uses), then any other built-in in registry order; plugins follow alphabetically,
then names not registered here. Figures take an architecture's colour from its place in
this order, so the built-ins keep their colours whatever plugins are installed.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from seqbench import UserError

# seqbench's own blocks and tasks in the order tables and figures list them: attention
# first, then the recurrent and convolutional alternatives roughly by age of the idea.
ARCHITECTURE_LINEUP = ("transformer", "lstm", "rwkv", "monarch", "mamba", "rwkv4")
TASK_LINEUP = ("copy", "selective_copy", "mqar", "induction", "needle")

# A language model's metrics per evaluation point (the text task; docs/results-schema.md).
LM_COLUMNS = (
    "bits_per_byte",
    "recall_bits_per_byte",
    "other_bits_per_byte",
    "recall_fraction",
    "position_buckets",
    "position_bits_per_byte",
    "val_bits_per_byte",
    "unigram_bits_per_byte",
    "corpus_sha256",
)

# Columns every figure needs; the rest are checked per figure (missing -> figure skipped).
REQUIRED_COLUMNS = (
    "config_hash",
    "row_kind",
    "architecture",
    "task",
    "seed",
    "status",
    "train_seq_len",
    "eval_seq_len",
    "accuracy",
)


class TableError(UserError):
    """A results table (or an option on it) that cannot be shown; one line for people."""


@functools.cache
def _rank(registered: tuple[str, ...]) -> dict[str, int]:
    import architectures  # imports torch and every block: only when a colour is first needed

    built_in = [n for n in registered if architectures.built_in(n)]
    lineup = [n for n in ARCHITECTURE_LINEUP if n in built_in]
    ordered = lineup + [n for n in built_in if n not in lineup]
    ordered += sorted(n for n in registered if n not in ordered)
    return {name: i for i, name in enumerate(ordered)}


def architecture_rank() -> dict[str, int]:
    """Registered name -> its position: built-ins in line-up order, then plugins by name."""
    import architectures

    return _rank(tuple(architectures.names()))


def architecture_order(names: Iterable[str]) -> list[str]:
    """Built-ins in line-up order, then plugins, then unregistered names alphabetically."""
    names = set(names)
    ranks = architecture_rank()
    known = sorted((n for n in names if n in ranks), key=ranks.__getitem__)
    return known + sorted(names - set(known))


def check_results(results: pd.DataFrame) -> pd.DataFrame:
    """Raise TableError unless `results` is a results table with at least one ok row."""
    if not isinstance(results, pd.DataFrame):
        raise TableError(f"expected a pandas DataFrame of results, got {type(results).__name__}")
    if results.empty:
        raise TableError("the results table is empty: no finished runs in this folder")
    missing = [col for col in REQUIRED_COLUMNS if col not in results.columns]
    if missing:
        raise TableError(
            f"the results table lacks column(s) {', '.join(missing)} (see docs/results-schema.md)"
        )
    if not (results["status"] == "ok").any():
        counts = ", ".join(f"{k}={v}" for k, v in results["status"].value_counts().items())
        raise TableError(f"no run finished with status ok ({counts}); nothing to plot")
    return results


# --------------------------------------------------------------------------- table slices


def ordered_tasks(tasks: Iterable[str]) -> list[str]:
    """The line-up's tasks in its order, then any other task alphabetically."""
    tasks = set(tasks)
    return [t for t in TASK_LINEUP if t in tasks] + sorted(tasks - set(TASK_LINEUP))


def per_run_accuracy(results: pd.DataFrame, *, statuses: Sequence[str] = ("ok",)) -> pd.DataFrame:
    """Eval rows, one per (run, eval length): needle rows averaged over depth."""
    rows = results[(results["row_kind"] == "eval") & results["status"].isin(statuses)]
    keys = ["config_hash", "eval_seq_len"]
    carried = [
        c
        for c in (
            "architecture",
            "task",
            "seed",
            "train_seq_len",
            "d_model",
            "n_layers",
            "params",
            "state_bytes",
            "status",
            "variant",
            "selected",
            "stop_reason",
            "converged",
            "train_steps",
            "val_accuracy",
            # a language model's (text): one row per (run, length), nothing to average
            *LM_COLUMNS,
        )
        if c in rows.columns
    ]
    values = {c: "mean" for c in ("accuracy", "exact_match") if c in rows.columns}
    if rows.empty:
        return rows[keys + carried + list(values)].copy()
    agg = {**dict.fromkeys(carried, "first"), **values}
    return rows.groupby(keys, as_index=False, dropna=False).agg(agg)


# --------------------------------------------------------------------------- formatting


def format_length(value: float, _pos: object = None) -> str:
    """256, 512, 1K, 2K ... (K = 1024, as sequence lengths are powers of two)."""
    if not np.isfinite(value) or value <= 0:
        return ""
    value = round(value)
    if value >= 1024 and value % 1024 == 0:
        return f"{value // 1024}K"
    return str(value)


def format_bytes(value: float, _pos: object = None) -> str:
    if not np.isfinite(value) or value <= 0:
        return "0 B" if value == 0 else ""
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    power = min(int(math.log(value, 1024)), len(units) - 1)
    scaled = value / 1024**power
    text = f"{scaled:.0f}" if scaled >= 10 or scaled == int(scaled) else f"{scaled:.1f}"
    return f"{text} {units[power]}"


def format_count(value: float, _pos: object = None) -> str:
    """1.5k, 20M ... for tokens/s and example counts."""
    if not np.isfinite(value):
        return ""
    for threshold, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= threshold:
            scaled = value / threshold
            return (
                f"{scaled:.0f}{suffix}"
                if scaled >= 10 or scaled == int(scaled)
                else f"{scaled:.1f}{suffix}"
            )
    return f"{value:.0f}" if value == int(value) else f"{value:.2g}"
