"""Run a sweep's pending runs, locally (in-process, one after another) or on Ray.

The driver owns the results folder: every finished run's record comes back to it and
is written atomically, so a killed sweep loses at most the runs in flight and a
re-run skips what is done.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from . import store
from .config import RunConfig, Sweep
from .measure import git_commit
from .train import execute

RecordCallback = Callable[[RunConfig, dict[str, Any]], None]
StepCallback = Callable[[RunConfig, int, int], None]

# Rough seconds per training step on a 2-core CPU at d_model=64, 2 layers, batch 64,
# L=64 (measured with stand-alone loops); scaled by tokens·width²·layers for other sizes. Only the
# --dry-run estimate uses it.
_CPU_STEP_S = {"transformer": 0.03, "lstm": 0.02, "rwkv": 0.06, "monarch": 0.05, "mamba": 0.08}
_GPU_SPEEDUP = 20.0


def split_done(
    sweep: Sweep, out: Path, rerun: bool = False
) -> tuple[list[RunConfig], list[RunConfig]]:
    """(pending, finished) runs of ``sweep`` in ``out``; with ``rerun`` every run is pending."""
    done = set() if rerun else store.finished(out)
    pending = [run for run in sweep.runs if run.hash not in done]
    return pending, [run for run in sweep.runs if run.hash in done]


def made_elsewhere(out: Path, done: list[RunConfig]) -> int:
    """How many of the finished runs were recorded by another git commit of seqbench."""
    commit = git_commit()
    if not commit or not done:
        return 0
    hashes = {run.hash for run in done}
    return sum(
        1
        for record in store.read_runs(out, quiet=True)
        if record["config_hash"] in hashes and record.get("env", {}).get("git_commit") != commit
    )


def estimate_seconds(run: RunConfig) -> float:
    """A coarse wall-time estimate for one run (for --dry-run)."""
    per_step = _CPU_STEP_S.get(run.architecture, 0.06)
    params, layers = run.model["params"], run.model["n_layers"]
    width = (params / (12 * layers)) ** 0.5 if params else run.model["d_model"]  # ~12·D² per layer
    scale = (width / 64) ** 2 * layers / 2
    if run.kind == "cost":
        m = run.measure
        total_tokens = sum(m["seq_lens"]) * m["batch_size"] * (m["repeats"] + m["warmup"])
        seconds = 3 * total_tokens / (64 * 64) * per_step * scale
        seconds = min(seconds, m["max_time_s"] * len(m["seq_lens"]))
    else:
        t = run.train
        step = per_step * scale * t["batch_size"] * t["seq_len"] / (64 * 64)
        seconds = t["steps"] * step + 2.0
        if t["max_time_s"] is not None:
            seconds = min(seconds, t["max_time_s"] + 2.0)
        seconds += len(run.eval["seq_lens"]) * run.eval["n"] / 64 * step / 3
    return seconds / (_GPU_SPEEDUP if run.device == "cuda" else 1.0)


def run_local(
    runs: Iterable[RunConfig],
    sweep_name: str,
    out: Path,
    on_record: RecordCallback,
    on_step: StepCallback | None = None,
    select: Sequence[str] = (),
) -> None:
    for run in runs:
        record = execute(run, (lambda s, n, run=run: on_step(run, s, n)) if on_step else None)
        save(out, sweep_name, record, select)
        on_record(run, record)


def save(out: Path, sweep_name: str, record: dict[str, Any], select: Sequence[str] = ()) -> Path:
    """Write a finished run, with the sweep it belongs to and the axes that sweep selects
    over (the report needs both; neither changes what the run computed, so neither is
    in its config hash)."""
    record["sweep"] = sweep_name
    record["select"] = list(select)
    record.setdefault("finished_at", time.strftime("%Y-%m-%dT%H:%M:%S"))
    return store.write_run(out, record)
