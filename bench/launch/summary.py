"""A sweep as tables: the expanded grid of a dry run (``print_plan``) and the summary of
its finished runs (``summary_table``, one row per cell)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from bench import store
from bench.launch.local import estimate_seconds
from bench.store import cells
from bench.store.formats import architecture_order, ordered_tasks
from bench.sweep.config import RunConfig, Sweep


def print_plan(
    sweep: Sweep, pending: list[RunConfig], done: list[RunConfig], console: Console
) -> None:
    """The expanded grid: one row per run, a column for every axis that varies."""
    table = Table(title=f"{sweep.name}: expanded grid", title_justify="left")
    axes = extra_axes(sweep)
    columns = ["architecture", "task", "seed", *axes, "d_model", "layers"]
    columns += ["train len", "steps", "batch", "eval lens", "status"]
    for column in columns:
        table.add_column(column + (" (select)" if column in sweep.select else ""))
    done_hashes = {run.hash for run in done}
    for run in sweep.runs:
        lengths = run.eval.seq_lens if run.eval is not None else run.measure.seq_lens
        table.add_row(
            run.architecture,
            run.task,
            str(run.seed),
            *(str(setting(run, axis)) for axis in axes),
            f"{run.model.d_model}" + (" (matched)" if run.model.params else ""),
            str(run.model.n_layers),
            *(
                (str(run.train.seq_len), str(run.train.steps), str(run.train.batch_size))
                if run.train is not None
                else ("-", "-", "-")
            ),
            ",".join(map(str, lengths)),
            "done" if run.hash in done_hashes else "pending",
        )
    console.print(table)
    seconds = sum(estimate_seconds(run) for run in pending)
    minutes = max(1, math.ceil(seconds / 60))
    stops_early = any(run.train is not None and run.train.early_stop for run in pending)
    console.print(
        f"{len(pending)} runs, about {minutes} min"
        + (" at most (runs that reach train.early_stop end sooner)" if stops_early else "")
        + (f" ({len(done)} already done)" if done else "")
    )
    if sweep.select:
        console.print(
            f"selects over {', '.join(sweep.select)} per cell, on validation accuracy "
            "(bits per byte for text; seqbench report shows the choice)"
        )


def extra_axes(sweep: Sweep) -> list[str]:
    """The grid axes that vary in ``sweep`` besides architecture, task and seed."""
    return [a for a in sweep.varying_axes() if a not in ("architecture", "task", "seed")]


def setting(run: RunConfig, axis: str) -> Any:
    """The value of a dotted grid axis (``train.lr``, ``model.mamba.d_state``) in a run."""
    section, *path = axis.split(".")
    config = run.to_dict()
    node: Any = {
        "model": {**config["model"], **config["model"]["arch"]},
        "task": {run.task: run.task_config},
        "train": config["train"],
        "eval": config["eval"],
        "measure": config["measure"],
    }.get(section, {})
    if section == "model" and path and path[0] == run.architecture:
        path = path[1:]
    for part in path:
        node = node.get(part, "-") if isinstance(node, dict) else "-"
    return node


def _fmt(value: float, unit: str = "") -> str:
    if value is None or pd.isna(value):
        return "-"
    for threshold, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= threshold:
            return f"{value / threshold:.1f}{suffix}{unit}"
    return f"{value:.0f}{unit}"


def _bpb(rows: pd.DataFrame, length: int) -> str:
    values = pd.to_numeric(rows["bits_per_byte"], errors="coerce").dropna()
    return f"{values.mean():.3f} @{length}" if len(values) else "-"


def summary_table(results: pd.DataFrame) -> Table:
    """One row per cell (architecture × task × any other setting that varied, seeds
    averaged): accuracy at the training length and the longest evaluation length, steps
    and why runs stopped, tokens/s, peak memory, state size, parameters."""
    if (results["row_kind"] == "generate").all():
        return _generation_summary(results)
    if results["row_kind"].isin(["cost", "generate"]).all():
        return _cost_summary(results[results["row_kind"] == "cost"])
    results = cells.prepare(results)
    rows = results[results["row_kind"] == "eval"]
    table = Table(title="summary (mean over seeds and needle depths)", title_justify="left")
    has_variant = (rows["variant"] != "").any()
    has_selection = (rows["selected"] != "").any()
    columns = ["architecture", "task"]
    columns += ["setting"] if has_variant else []
    columns += ["selected (val)"] if has_selection else []
    any_failed = (rows.drop_duplicates("config_hash")["status"] != "ok").any()
    # A language model (text) is read in bits per byte; accuracy stays for the others.
    has_bpb = "bits_per_byte" in rows and rows["bits_per_byte"].notna().any()
    columns += [
        "acc @ train L",
        "acc @ longest",
        "exact @ train",
        *(["bpb @ train L", "bpb @ longest"] if has_bpb else []),
        "steps (why)",
        "params",
        "train tok/s",
        "peak mem",
        "state",
        "seeds",
    ]
    columns += ["status"] if any_failed else []
    for column in columns:
        table.add_column(
            column, justify="left" if column in ("architecture", "task", "setting") else "right"
        )
    unconverged_cells = 0
    arch_rank = {a: i for i, a in enumerate(architecture_order(rows["architecture"]))}
    task_rank = {t: i for i, t in enumerate(ordered_tasks(rows["task"]))}
    groups = sorted(
        rows.groupby(["architecture", "task", "variant"], sort=True),
        key=lambda item: (arch_rank[item[0][0]], task_rank[item[0][1]], item[0][2]),
    )
    for (arch, task, variant), group in groups:
        train_len = int(group["train_seq_len"].max())
        longest = group["eval_seq_len"].max()  # NaN when every run failed before evaluating
        longest = int(longest) if pd.notna(longest) else train_len
        at_train = group[group["eval_seq_len"] == train_len]
        at_longest = group[group["eval_seq_len"] == longest]
        runs = group.drop_duplicates("config_hash")
        unconverged = runs["converged"].map(lambda v: v is False or v == 0).sum()
        why = "/".join(_STOP_WORDS.get(r, r) for r in sorted(set(runs["stop_reason"].dropna())))
        accuracy = f"{at_train['accuracy'].mean():.2f} @{train_len}" if len(at_train) else "-"
        if unconverged:
            accuracy = f"[yellow]{accuracy}*[/yellow]"
            unconverged_cells += 1
        cells_ = [arch, task]
        cells_ += [variant or "default"] if has_variant else []
        cells_ += [runs["selected"].iloc[0] or "-"] if has_selection else []
        cells_ += [
            accuracy,
            f"{at_longest['accuracy'].mean():.2f} @{longest}" if len(at_longest) else "-",
            f"{at_train['exact_match'].mean():.2f}" if len(at_train) else "-",
            *([_bpb(at_train, train_len), _bpb(at_longest, longest)] if has_bpb else []),
            f"{_fmt(runs['train_steps'].mean())} {why}".strip(),
            _fmt(runs["params"].mean()),
            _fmt(runs["train_tokens_per_s"].mean()),
            _fmt(runs["peak_memory_train_bytes"].mean(), "B"),
            _fmt(at_train["state_bytes"].mean(), "B"),
            cells.seed_count(runs),
        ]
        cells_ += [",".join(sorted(set(runs["status"])))] if any_failed else []
        table.add_row(*cells_)
    table.caption = (
        f"* unconverged ({unconverged_cells} of {len(groups)}): a run stopped on its step budget below "
        "train.early_stop, on the time cap, or diverged. steps: mean over seeds, and why "
        "runs stopped (early = reached train.early_stop, budget = used train.steps)"
        if unconverged_cells
        else "steps: mean over seeds, and why runs stopped"
    )
    return table


# stop_reason -> the word the summary table shows
_STOP_WORDS = {"early_stop": "early", "steps": "budget", "time_cap": "time cap"}


def _cost_summary(results: pd.DataFrame) -> Table:
    table = Table(title="cost (median of repeats, mean over seeds)", title_justify="left")
    for column in (
        "architecture",
        "length",
        "train tok/s",
        "prefill tok/s",
        "decode tok/s",
        "peak mem (train)",
        "state",
        "status",
    ):
        table.add_column(column)
    for (arch, length), group in results.groupby(["architecture", "seq_len"], sort=True):
        table.add_row(
            arch,
            str(int(length)),
            _fmt(group["train_tokens_per_s"].mean()),
            _fmt(group["prefill_tokens_per_s"].mean()),
            _fmt(group["decode_tokens_per_s"].mean()),
            _fmt(group["peak_memory_train_bytes"].mean(), "B"),
            _fmt(group["state_bytes"].mean(), "B"),
            ",".join(sorted(set(group["status"]))),
        )
    return table


def _generation_summary(results: pd.DataFrame) -> Table:
    table = Table(title="generation (median of timed generations)", title_justify="left")
    for column in ("architecture", "batch", "tok/s", "decode tok/s", "peak mem", "state", "status"):
        table.add_column(column)
    rank = {a: i for i, a in enumerate(architecture_order(results["architecture"]))}
    groups = results.groupby(["architecture", "batch_size"], sort=True)
    for (arch, batch), group in sorted(groups, key=lambda item: (rank[item[0][0]], item[0][1])):
        table.add_row(
            arch,
            str(int(batch)),
            _fmt(group["generate_tokens_per_s"].mean()),
            _fmt(group["generate_decode_tokens_per_s"].mean()),
            _fmt(group["peak_memory_generate_bytes"].mean(), "B"),
            _fmt(group["state_bytes"].mean(), "B"),
            ",".join(sorted(set(group["status"]))),
        )
    return table


def print_summary(out: Path, sweep: Sweep, console: Console) -> None:
    """The summary table of the sweep's finished runs in ``out``."""
    hashes = {run.hash for run in sweep.runs}
    results = store.load(out)
    results = results[results["config_hash"].isin(hashes)]
    if results.empty:
        console.print("no finished runs")
        return
    console.print(summary_table(results))
