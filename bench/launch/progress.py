"""What a running sweep shows: progress bars with the time remaining on a terminal;
otherwise (output redirected to a file, ``nohup``, SLURM, CI) one plain line as each run
starts and as it ends, with the sweep's estimated time remaining, flushed at once.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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
from rich.text import Text

from bench import store
from bench.launch.local import estimate_seconds
from bench.launch.summary import extra_axes, setting
from bench.sweep.config import RunConfig, Sweep


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


class Watch:
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
        self.axes = extra_axes(sweep)
        self.plain = not console.is_terminal
        self.progress: Progress | None = None

    def __enter__(self) -> Watch:
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
        values = {axis: setting(run, axis) for axis in self.axes}
        # An axis another grid of the sweep varies, and this run leaves unset, is not news.
        extra = [f"{a.rsplit('.', 1)[-1]}={v}" for a, v in values.items() if v not in (None, "-")]
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
    generated = [p for p in points if p.get("row_kind") == "generate"]
    if generated:
        best = max(generated, key=lambda p: p["generate_tokens_per_s"])
        return (
            f"{len(generated)} batch sizes · best {best['generate_tokens_per_s']:.0f} tok/s "
            f"@batch {best['batch_size']} · {seconds}"
        )
    if config["kind"] != "train":
        longest = max(points, key=lambda p: p["seq_len"], default=None)
        if longest is None:
            return seconds
        rate = longest.get("prefill_tokens_per_s")
        rate = f"prefill {rate:.0f} tok/s" if rate is not None else "measured"
        return f"{len(points)} lengths · {rate} @{longest['seq_len']} · {seconds}"
    length = config["train"]["seq_len"]
    at_train = [p["accuracy"] for p in points if p.get("eval_seq_len") == length]
    accuracy = f"acc {sum(at_train) / len(at_train):.3f} @{length}" if at_train else "acc -"
    bpb = [
        p["bits_per_byte"]
        for p in points
        if p.get("eval_seq_len") == length and "bits_per_byte" in p
    ]
    accuracy += f" · {sum(bpb) / len(bpb):.3f} bpb" if bpb else ""  # a language model
    steps = f"{metrics.get('train_steps', '?')} steps ({metrics.get('stop_reason', '?')})"
    return f"{steps} · {accuracy} · {seconds}"
