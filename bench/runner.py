"""A whole sweep for the CLI: skip what is done, show progress, print a summary.

On a terminal the sweep shows progress bars with the time remaining; otherwise (output
redirected to a file, ``nohup``, SLURM, CI) it prints one plain line as each run starts
and as it ends, with the sweep's estimated time remaining, and flushes it at once.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from . import cells, plots, store
from .config import RunConfig, Sweep
from .launch import changed_runs, estimate_seconds, run_local, split_done


def execute_sweep(
    sweep: Sweep,
    out: Path,
    dry_run: bool = False,
    ray_options: dict[str, Any] | None = None,
    console: Console | None = None,
    rerun: bool = False,
    rerun_changed: bool = False,
    trackers: Sequence[Any] = (),
) -> None:
    """Run what is not done yet. ``rerun``: every run again; ``rerun_changed``: also the
    finished runs whose code has changed since (``bench.fingerprint``). ``trackers`` get
    every record as it arrives (``bench.tracking``)."""
    console = console or Console()
    pending, done = split_done(sweep, out, rerun)
    changed = changed_runs(out, done)
    if changed and rerun_changed:
        waiting = {run.hash for run in pending} | set(changed)
        pending = [run for run in sweep.runs if run.hash in waiting]
        done = [run for run in done if run.hash not in changed]
        console.print(
            f"{len(changed)} finished runs were made by other code and run again: "
            + _reasons(changed),
            highlight=False,
            soft_wrap=True,
        )
    elif changed:
        console.print(
            f"[yellow]note[/yellow]: {len(changed)} of the {len(done)} finished runs in "
            f"{escape(str(out))} were made by other code ({escape(_reasons(changed))}); "
            "--rerun-changed runs those again, --rerun runs everything",
            highlight=False,
            soft_wrap=True,
        )
    if dry_run:
        print_plan(sweep, pending, done, console)
        return
    if ray_options is not None:
        from .ray_launch import check_ray_installed

        check_ray_installed()
    console.print(
        f"[bold]{escape(sweep.name)}[/bold]: {len(sweep.runs)} runs, {len(done)} already done, "
        f"{len(pending)} to run → {escape(str(out))}",
        soft_wrap=True,
    )
    watch = _Watch(sweep, pending, out, console, trackers)
    interrupted = False
    with watch:
        try:
            if ray_options is None:
                run_local(
                    pending,
                    sweep.name,
                    out,
                    watch.record,
                    watch.step,
                    select=sweep.select,
                    on_start=watch.start,
                )
            else:
                from .ray_launch import run_ray

                run_ray(
                    pending,
                    sweep.name,
                    out,
                    watch.record,
                    watch.step,
                    select=sweep.select,
                    **ray_options,
                )
        except KeyboardInterrupt:
            interrupted = True
        finally:
            for tracker in trackers:
                tracker.close()
    if interrupted:
        console.print(
            f"[yellow]interrupted[/yellow]: finished runs are kept in {escape(str(out))}; "
            "run the same command again to resume"
        )
        raise SystemExit(130)
    print_summary(out, sweep, console)


def _reasons(changed: dict[str, list[str]]) -> str:
    """``block gru changed (seqbench_gru) ×3, seqbench commit 1a2b → 3c4d ×6``."""
    counts: dict[str, int] = {}
    for reasons in changed.values():
        for reason in reasons:
            counts[reason] = counts.get(reason, 0) + 1
    return ", ".join(f"{reason} ×{n}" for reason, n in counts.items())


# --- watching a sweep ----------------------------------------------------------------------


def duration(seconds: float) -> str:
    """``45s``, ``3m20s``, ``2h05m``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Eta:
    """Time left in a sweep: the runs still to finish, at the pace of the runs so far.

    Each run has a rough a-priori cost (``estimate_seconds``); once some have finished,
    the remaining runs' estimates are scaled by (time taken so far) / (estimates of the
    runs finished), which also absorbs how many runs execute at once on Ray. Before the
    first run ends the raw estimate is shown, marked ``~``.
    """

    def __init__(self, runs: Sequence[RunConfig]) -> None:
        self._expected = {run.hash: estimate_seconds(run) for run in runs}
        self._finished_expected = 0.0
        self._started = time.monotonic()

    def finish(self, run: RunConfig) -> None:
        self._finished_expected += self._expected.pop(run.hash, 0.0)

    def text(self) -> str:
        left = sum(self._expected.values())
        if not self._expected:
            return "0s"
        if self._finished_expected <= 0:
            return "~" + duration(left)
        pace = (time.monotonic() - self._started) / self._finished_expected
        return duration(left * pace)


class _EtaColumn(ProgressColumn):
    """The sweep's ETA on the runs bar (``Eta``), rich's own estimate on the steps bar."""

    def render(self, task: Any) -> Text:
        eta = task.fields.get("eta")
        if eta is None:
            remaining = task.time_remaining
            eta = duration(remaining) if remaining is not None else "-"
        return Text(f"eta {eta}", style="progress.remaining")


class _Watch:
    """What a running sweep shows: progress bars on a terminal, plain lines otherwise.

    Plain lines, one as each run starts and one as it ends (Ray runs only end lines, as
    the driver does not see a worker start)::

        14:02:11 start [2/8] mamba · mqar · seed 0 · lr=0.001 · eta ~6m40s
        14:03:02 ok    [2/8] mamba · mqar · seed 0 · lr=0.001 · 300 steps (steps) · acc 0.412 @64 · 51.0s · eta 5m02s
    """

    def __init__(
        self,
        sweep: Sweep,
        runs: list[RunConfig],
        out: Path,
        console: Console,
        trackers: Sequence[Any] = (),
    ) -> None:
        self.console, self.out, self.trackers = console, out, trackers
        self.total = len(runs)
        self.started = self.finished = 0
        self.eta = Eta(runs)
        self.axes = [a for a in sweep.varying_axes() if a not in ("architecture", "task", "seed")]
        self.plain = not console.is_terminal
        self.progress: Progress | None = None

    def __enter__(self) -> _Watch:
        if not self.plain:
            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                _EtaColumn(),
                console=self.console,
                transient=False,
            )
            self.progress.start()
            self.runs_bar = self.progress.add_task("runs", total=self.total, eta=self.eta.text())
            self.steps_bar = self.progress.add_task("", total=1, visible=False)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def label(self, run: RunConfig) -> str:
        extra = [f"{axis.rsplit('.', 1)[-1]}={_setting(run, axis)}" for axis in self.axes]
        return " · ".join([run.label(), *extra])

    def start(self, run: RunConfig) -> None:
        self.started += 1
        if self.plain:
            self._line(
                f"start [{self.started}/{self.total}] {self.label(run)} · eta {self.eta.text()}"
            )

    def step(self, run: RunConfig, step: int, total: int) -> None:
        if self.progress is not None:
            self.progress.update(
                self.steps_bar,
                description=f"  {escape(self.label(run))}",
                completed=step,
                total=total,
                visible=True,
            )

    def record(self, run: RunConfig, record: dict[str, Any]) -> None:
        self.finished += 1
        self.eta.finish(run)
        status = record["status"]
        text = (
            f"{status:<5} [{self.finished}/{self.total}] {self.label(run)} · "
            f"{outcome(record, store.log_path(self.out, run.hash))} · eta {self.eta.text()}"
        )
        if self.progress is not None:
            self.progress.update(self.runs_bar, advance=1, eta=self.eta.text())
            color = "green" if status == "ok" else "yellow"
            self.progress.console.print(
                f"[{color}]{escape(text)}[/{color}]", highlight=False, soft_wrap=True
            )
        else:
            self._line(text)
        for tracker in self.trackers:
            try:
                tracker.log(run, record)
            except Exception as error:  # a tracker's outage never stops a sweep
                self._line(f"warning: {tracker.name} could not log {run.label()}: {error}")

    def _line(self, text: str) -> None:
        self.console.print(
            f"{time.strftime('%H:%M:%S')} {text}", markup=False, highlight=False, soft_wrap=True
        )
        self.console.file.flush()


def outcome(record: dict[str, Any], log: Path | None = None) -> str:
    """How a run ended, in a few words: steps, accuracy at the training length, time; or
    the error and where its log is."""
    metrics, config = record.get("metrics", {}), record["config"]
    seconds = f"{metrics.get('wall_time_s', 0.0):.1f}s"
    if record["status"] != "ok":
        where = f" (log: {log})" if log is not None else ""
        return f"{record.get('error', '')}{where} · {seconds}"
    points = [p for p in record.get("points", []) if p.get("status", "ok") == "ok"]
    if config["kind"] != "train":
        longest = max(points, key=lambda p: p["eval_seq_len"], default=None)
        if longest is None:
            return seconds
        rate = longest.get("prefill_tokens_per_s")
        rate = f"prefill {rate:.0f} tok/s" if rate is not None else "measured"
        return f"{len(points)} lengths · {rate} @{longest['eval_seq_len']} · {seconds}"
    length = config["train"]["seq_len"]
    at_train = [p["accuracy"] for p in points if p.get("eval_seq_len") == length]
    accuracy = f"acc {sum(at_train) / len(at_train):.3f} @{length}" if at_train else "acc -"
    steps = f"{metrics.get('train_steps', '?')} steps ({metrics.get('stop_reason', '?')})"
    return f"{steps} · {accuracy} · {seconds}"


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
        lengths = run.eval.seq_lens if run.eval is not None else run.measure.seq_lens
        table.add_row(
            run.architecture,
            run.task,
            str(run.seed),
            *(str(_setting(run, axis)) for axis in extra_axes),
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
            "(seqbench report shows the choice)"
        )


def _setting(run: RunConfig, axis: str) -> Any:
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
    any_failed = (rows.drop_duplicates("config_hash")["status"] != "ok").any()
    columns += [
        "acc @ train L",
        "acc @ longest",
        "exact @ train",
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
    arch_rank = {a: i for i, a in enumerate(plots.architecture_order(rows["architecture"]))}
    task_rank = {t: i for i, t in enumerate(plots.ordered_tasks(rows["task"]))}
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
