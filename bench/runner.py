"""A whole sweep for the CLI: skip what is done, show progress, print a summary."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import cells, store
from .config import RunConfig, Sweep
from .launch import estimate_seconds, made_elsewhere, run_local, split_done


def execute_sweep(
    sweep: Sweep,
    out: Path,
    dry_run: bool = False,
    ray_options: dict[str, Any] | None = None,
    console: Console | None = None,
    rerun: bool = False,
) -> None:
    console = console or Console()
    pending, done = split_done(sweep, out, rerun)
    stale = made_elsewhere(out, done)
    if stale:
        console.print(
            f"[yellow]note[/yellow]: {stale} of the {len(done)} finished runs in {out} were "
            "recorded by another seqbench commit; --rerun runs them again",
            highlight=False,
        )
    if dry_run:
        print_plan(sweep, pending, done, console)
        return
    if ray_options is not None:
        from .ray_launch import check_ray_installed

        check_ray_installed()
    console.print(
        f"[bold]{sweep.name}[/bold]: {len(sweep.runs)} runs, {len(done)} already done, "
        f"{len(pending)} to run → {out}"
    )
    failures: list[tuple[RunConfig, dict[str, Any]]] = []
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    interrupted = False
    with Progress(*columns, console=console, transient=False) as progress:
        runs_bar = progress.add_task("runs", total=len(pending))
        steps_bar = progress.add_task("", total=1, visible=False)

        def on_step(run: RunConfig, step: int, total: int) -> None:
            progress.update(
                steps_bar, description=f"  {run.label()}", completed=step, total=total, visible=True
            )

        def on_record(run: RunConfig, record: dict[str, Any]) -> None:
            progress.advance(runs_bar)
            if record["status"] != "ok":
                failures.append((run, record))
                progress.console.print(
                    f"[yellow]{run.label()}: {record['status']}[/yellow] {record.get('error', '')}",
                    highlight=False,
                )

        try:
            if ray_options is None:
                run_local(pending, sweep.name, out, on_record, on_step, select=sweep.select)
            else:
                from .ray_launch import run_ray

                run_ray(
                    pending,
                    sweep.name,
                    out,
                    on_record,
                    on_step,
                    select=sweep.select,
                    **ray_options,
                )
        except KeyboardInterrupt:
            interrupted = True
    if interrupted:
        console.print(
            f"[yellow]interrupted[/yellow]: finished runs are kept in {out}; "
            "run the same command again to resume"
        )
        raise SystemExit(130)
    print_summary(out, sweep, console)


def print_plan(
    sweep: Sweep, pending: list[RunConfig], done: list[RunConfig], console: Console
) -> None:
    """The expanded grid: one row per run, a column for every axis that varies."""
    table = Table(title=f"{sweep.name}: expanded grid", title_justify="left")
    extra_axes = [a for a in sweep.varying_axes() if a not in ("architecture", "task", "seed")]
    columns = ["architecture", "task", "seed", *extra_axes, "d_model", "layers"]
    columns += ["train len", "steps", "batch", "eval lens", "status"]
    for column in columns:
        table.add_column(column + (" (select)" if column in sweep.select else ""))
    done_hashes = {run.hash for run in done}
    for run in sweep.runs:
        lengths = run.eval.get("seq_lens") or run.measure["seq_lens"]
        table.add_row(
            run.architecture,
            run.task,
            str(run.seed),
            *(str(_setting(run, axis)) for axis in extra_axes),
            f"{run.model['d_model']}" + (" (matched)" if run.model["params"] else ""),
            str(run.model["n_layers"]),
            str(run.train.get("seq_len", "-")),
            str(run.train.get("steps", "-")),
            str(run.train.get("batch_size", "-")),
            ",".join(map(str, lengths)),
            "done" if run.hash in done_hashes else "pending",
        )
    console.print(table)
    seconds = sum(estimate_seconds(run) for run in pending)
    minutes = max(1, math.ceil(seconds / 60))
    stops_early = any(run.kind == "train" and run.train["early_stop"] for run in pending)
    console.print(
        f"{len(pending)} runs, about {minutes} min"
        + (" at most (runs that reach train.early_stop end sooner)" if stops_early else "")
        + (f" ({len(done)} already done)" if done else "")
    )
    if sweep.select:
        console.print(
            f"selects over {', '.join(sweep.select)} per cell, on validation accuracy "
            "(seqbench report shows the choice)"
        )


def _setting(run: RunConfig, axis: str) -> Any:
    """The value of a dotted grid axis (``train.lr``, ``model.mamba.d_state``) in a run."""
    section, *path = axis.split(".")
    node: Any = {
        "model": {**run.model, **run.model.get("arch", {})},
        "task": {run.task: run.task_config},
        "train": run.train,
        "eval": run.eval,
        "measure": run.measure,
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


def summary_table(results: pd.DataFrame) -> Table:
    """One row per cell (architecture × task × any other setting that varied, seeds
    averaged): accuracy at the training length and the longest evaluation length, steps
    and why runs stopped, tokens/s, peak memory, state size, parameters."""
    if (results["row_kind"] == "cost").all():
        return _cost_summary(results)
    results = cells.prepare(results)
    rows = results[results["row_kind"] == "eval"]
    table = Table(title="summary (mean over seeds and needle depths)", title_justify="left")
    has_variant = (rows["variant"] != "").any()
    has_selection = (rows["selected"] != "").any()
    columns = ["architecture", "task"]
    columns += ["setting"] if has_variant else []
    columns += ["selected (val)"] if has_selection else []
    columns += [
        "acc @ train len",
        "acc @ longest",
        "exact @ train",
        "steps",
        "stop",
        "params",
        "train tok/s",
        "peak mem (train)",
        "state @ train len",
        "seeds",
        "status",
    ]
    for column in columns:
        table.add_column(
            column, justify="left" if column in ("architecture", "task", "setting") else "right"
        )
    for (arch, task, variant), group in rows.groupby(
        ["architecture", "task", "variant"], sort=True
    ):
        train_len = int(group["train_seq_len"].max())
        longest = int(group["eval_seq_len"].max())
        at_train = group[group["eval_seq_len"] == train_len]
        at_longest = group[group["eval_seq_len"] == longest]
        runs = group.drop_duplicates("config_hash")
        unconverged = runs["converged"].map(lambda v: v is False or v == 0).sum()
        stop = ",".join(sorted(set(runs["stop_reason"].dropna()))) or "-"
        accuracy = f"{at_train['accuracy'].mean():.2f} @{train_len}" if len(at_train) else "-"
        if unconverged:
            accuracy = f"[yellow]{accuracy}*[/yellow]"
            stop += f" ({unconverged} unconverged)"
        cells_ = [arch, task]
        cells_ += [variant or "default"] if has_variant else []
        cells_ += [runs["selected"].iloc[0] or "-"] if has_selection else []
        cells_ += [
            accuracy,
            f"{at_longest['accuracy'].mean():.2f} @{longest}",
            f"{at_train['exact_match'].mean():.2f}" if len(at_train) else "-",
            _fmt(runs["train_steps"].mean()),
            stop,
            _fmt(runs["params"].mean()),
            _fmt(runs["train_tokens_per_s"].mean()),
            _fmt(runs["peak_memory_train_bytes"].mean(), "B"),
            _fmt(at_train["state_bytes"].mean(), "B"),
            cells.seed_count(runs),
            ",".join(sorted(set(runs["status"]))),
        ]
        table.add_row(*cells_)
    table.caption = (
        "* unconverged: a run stopped on its step budget below train.early_stop, on the "
        "time cap, or diverged"
        if (rows["converged"].map(lambda v: v is False or v == 0)).any()
        else None
    )
    return table


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
    for (arch, length), group in results.groupby(["architecture", "eval_seq_len"], sort=True):
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


def print_summary(out: Path, sweep: Sweep, console: Console) -> None:
    hashes = {run.hash for run in sweep.runs}
    results = store.load(out)
    results = results[results["config_hash"].isin(hashes)]
    if results.empty:
        console.print("no finished runs")
        return
    console.print(summary_table(results))
