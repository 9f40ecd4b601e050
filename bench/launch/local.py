"""Run a sweep's pending runs locally, in-process, one after another (``bench.launch.cluster``
runs them on Ray), and tell which runs are done and how long the rest will take.

The driver owns the results folder: every finished run's record is written atomically
(``bench.run.executor.save``), so a killed sweep loses at most the run in flight and a
re-run skips what is done. Each record carries the fingerprint of the code that made it
(``bench.run.fingerprint``), taken where the run executes; ``changed_runs`` compares finished
runs with the code as it is now, so a resume never reuses a stale run silently.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path

from bench import store
from bench.run import fingerprint
from bench.run.executor import RecordCallback, StartCallback, SweepStepCallback, execute_run, save
from bench.sweep.config import RunConfig, Sweep

# Rough seconds per training step on a 2-core CPU at d_model=64, 2 layers, batch 64, L=64
# (stand-alone loops, re-measured recently); scaled by tokens·width²·layers for other
# sizes. Only the --dry-run estimate uses it. It stays a table because parameter count
# does not predict step time: mamba has the fewest parameters (74k) and the slowest step
# (a sequential scan), rwkv the most (174k) and the second slowest. A block not listed
# here (a plugin) gets the median, _DEFAULT_STEP_S.
_CPU_STEP_S = {"transformer": 0.04, "lstm": 0.03, "rwkv": 0.08, "monarch": 0.035, "mamba": 0.11}
_DEFAULT_STEP_S = statistics.median(_CPU_STEP_S.values())
_GPU_SPEEDUP = 20.0


def split_done(
    sweep: Sweep, out: Path, rerun: bool = False
) -> tuple[list[RunConfig], list[RunConfig]]:
    """(pending, finished) runs of ``sweep`` in ``out``; with ``rerun`` every run is pending."""
    done = set() if rerun else store.finished(out)
    pending = [run for run in sweep.runs if run.hash not in done]
    return pending, [run for run in sweep.runs if run.hash in done]


def changed_runs(out: Path, done: list[RunConfig]) -> dict[str, list[str]]:
    """Finished runs whose code has changed since they ran: config hash -> reasons
    (``block mamba changed (architectures.mamba)``, ``seqbench commit 1a2b → 3c4d``).

    Records written before fingerprints existed are compared by seqbench's commit only.
    """
    if not done:
        return {}
    by_hash = {run.hash: run for run in done}
    current = fingerprint.fingerprints(list(by_hash.values()))
    changed = {}
    for record in store.read_runs(out, quiet=True):
        run = by_hash.get(record["config_hash"])
        if run is None:
            continue
        recorded = record.get("code") or {"seqbench": record.get("env", {}).get("git_commit")}
        reasons = fingerprint.changes(recorded, current[run.hash], run)
        if reasons:
            changed[run.hash] = reasons
    return changed


def estimate_seconds(run: RunConfig) -> float:
    """A coarse wall-time estimate for one run (for --dry-run); a block without a measured
    step time (``_CPU_STEP_S``) is costed at the median of those that have one."""
    per_step = _CPU_STEP_S.get(run.architecture, _DEFAULT_STEP_S)
    params, layers = run.model.params, run.model.n_layers
    width = (params / (12 * layers)) ** 0.5 if params else run.model.d_model  # ~12·D² per layer
    scale = (width / 64) ** 2 * layers / 2
    if run.kind == "cost" and run.measure.generate is not None:
        m, g = run.measure, run.measure.generate
        # a forward over the prompt (a third of a training step per token), a decode step
        # taken as ~10 prompt tokens (one call per token)
        total_tokens = sum(g.batch_sizes) * (g.prompt_len + 10 * g.new_tokens) * (m.repeats + 1)
        seconds = total_tokens / (64 * 64) * per_step * scale / 3
        seconds = min(seconds, m.max_time_s * len(g.batch_sizes))
    elif run.kind == "cost":
        m = run.measure
        total_tokens = sum(m.seq_lens) * m.batch_size * (m.repeats + m.warmup)
        seconds = 3 * total_tokens / (64 * 64) * per_step * scale
        seconds = min(seconds, m.max_time_s * len(m.seq_lens))
    else:
        t = run.train
        step = per_step * scale * t.batch_size * t.seq_len / (64 * 64)
        seconds = t.steps * step + 2.0
        if t.max_time_s is not None:
            seconds = min(seconds, t.max_time_s + 2.0)
        seconds += len(run.eval.seq_lens) * run.eval.n / 64 * step / 3
    return seconds / (_GPU_SPEEDUP if run.device == "cuda" else 1.0)


def run_local(
    runs: Iterable[RunConfig],
    sweep_name: str,
    out: Path,
    on_record: RecordCallback,
    on_step: SweepStepCallback | None = None,
    select: Sequence[str] = (),
    on_start: StartCallback | None = None,
) -> None:
    for run in runs:
        if on_start is not None:
            on_start(run)
        step = (lambda s, n, run=run: on_step(run, s, n)) if on_step else None
        record = execute_run(run, step)
        save(out, sweep_name, record, select)
        on_record(run, record)
