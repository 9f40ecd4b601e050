"""A whole sweep for the CLI: skip what is done, run the rest, print a summary.

The run goes locally (``bench.launch.local``) or on Ray (``bench.launch.cluster``); what it shows
while it runs is ``bench.launch.progress``, the dry-run plan and the summary are
``bench.launch.summary``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from bench import store
from bench.launch.local import changed_runs, run_local, split_done
from bench.launch.progress import Eta, Watch, duration, outcome
from bench.launch.summary import print_plan, print_summary, summary_table
from bench.sweep.config import Sweep

__all__ = [
    "Eta",
    "duration",
    "execute_sweep",
    "outcome",
    "print_plan",
    "print_summary",
    "summary_table",
]


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
    finished runs whose code has changed since (``bench.run.fingerprint``). ``trackers`` get
    every record as it arrives (``bench.launch.tracking``)."""
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
        from bench.launch.cluster import check_ray_installed

        check_ray_installed()
    console.print(
        f"[bold]{escape(sweep.name)}[/bold]: {len(sweep.runs)} runs, {len(done)} already done, "
        f"{len(pending)} to run → {escape(str(out))}",
        soft_wrap=True,
    )
    watch = Watch(sweep, pending, out, console, trackers)
    kept: list[bool] = []

    def keep_findings() -> None:
        """What the sweep's papers report goes beside its runs, with the first of them
        (so a sweep that fails to start leaves nothing, and a killed one keeps it)."""
        if not kept:
            store.save_findings(out, sweep.findings)
            kept.append(True)

    def record(run: Any, result: dict[str, Any]) -> None:
        keep_findings()
        watch.record(run, result)

    if ray_options is None:
        run_all, options = run_local, {"on_start": watch.start}
    else:
        from bench.launch.cluster import run_ray

        run_all, options = run_ray, ray_options
    interrupted = False
    with watch:
        try:
            run_all(pending, sweep.name, out, record, watch.step, select=sweep.select, **options)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            for tracker in trackers:
                tracker.close()
            if done or kept:  # a resumed sweep with nothing left to run still keeps them
                keep_findings()
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
