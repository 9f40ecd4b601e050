"""Run a sweep's pending runs, locally (in-process, one after another) or on Ray.

The driver owns the results folder: every finished run's record comes back to it and
is written atomically, so a killed sweep loses at most the runs in flight and a
re-run skips what is done. Each record carries the fingerprint of the code that made it
(``bench.fingerprint``), taken where the run executes; ``changed_runs`` compares finished
runs with the code as it is now, so a resume never reuses a stale run silently. Beside
each run file ``save`` writes ``runs/<hash>.log``: the run's training curve, results and
any error, readable without seqbench.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from . import fingerprint, store
from .config import RunConfig, Sweep
from .train import execute

RecordCallback = Callable[[RunConfig, dict[str, Any]], None]
StepCallback = Callable[[RunConfig, int, int], None]
StartCallback = Callable[[RunConfig], None]

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
    if run.kind == "cost":
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


def execute_run(run: RunConfig, on_step: Callable[[int, int], None] | None = None) -> dict:
    """``bench.train.execute`` plus the fingerprint of the code it ran with (taken first,
    as the run starts); what a local run and a Ray worker both call."""
    code = fingerprint.fingerprint(run)
    record = execute(run, on_step)
    record["code"] = code
    return record


def run_local(
    runs: Iterable[RunConfig],
    sweep_name: str,
    out: Path,
    on_record: RecordCallback,
    on_step: StepCallback | None = None,
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


def save(out: Path, sweep_name: str, record: dict[str, Any], select: Sequence[str] = ()) -> Path:
    """Write a finished run and its log, with the sweep it belongs to and the axes that
    sweep selects over (the report needs both; neither changes what the run computed, so
    neither is in its config hash). The log goes first: a run file means a complete run."""
    record["sweep"] = sweep_name
    record["select"] = list(select)
    record.setdefault("finished_at", time.strftime("%Y-%m-%dT%H:%M:%S"))
    store.write_log(out, record["config_hash"], run_log(record))
    return store.write_run(out, record)


def run_log(record: dict[str, Any]) -> str:
    """The text of ``runs/<hash>.log``: what ran, its training curve, results and error."""
    config, metrics = record["config"], record.get("metrics", {})
    lines = [
        f"run {record['config_hash']}: {config['architecture']} · {config['task']} · "
        f"seed {config['seed']} (sweep {record.get('sweep', '')})",
        f"finished {record.get('finished_at', '')} · status {record['status']} · "
        f"{metrics.get('wall_time_s', float('nan')):.1f} s",
        f"config {json.dumps(config, sort_keys=True)}",
    ]
    code = record.get("code")
    if code:
        dirty = {True: " with uncommitted changes", False: "", None: ""}[code.get("dirty")]
        lines.append(
            f"code block {code.get('block') or '?'} · task {code.get('task') or '-'} · "
            f"seqbench {code.get('seqbench') or '?'}{dirty}"
            + "".join(f" · {name} {v}" for name, v in code.get("packages", {}).items())
        )
    curve = record.get("curve", [])
    if curve:
        lines += ["", "training curve (loss and accuracy of the step's training batch)"]
        lines.append(f"{'step':>8} {'examples':>10} {'loss':>10} {'accuracy':>9}")
        lines += [
            f"{p['step']:>8} {p['examples']:>10} {p['loss']:>10.4f} {p['accuracy']:>9.4f}"
            for p in curve
        ]
    if "stop_reason" in metrics:
        lines += [
            "",
            f"stopped: {metrics['stop_reason']} after {metrics.get('train_steps')} steps "
            f"({metrics.get('train_examples', '?')} examples)",
        ]
    if metrics.get("val_accuracy") is not None:
        lines.append(f"validation accuracy {metrics['val_accuracy']:.4f}")
    for point in record.get("points", []):
        where = f"length {point.get('eval_seq_len')}"
        if point.get("needle_depth") is not None:
            where += f" depth {point['needle_depth']:g}"
        if point.get("status", "ok") != "ok":
            lines.append(f"{where}: {point['status']} {point.get('error', '')}")
        elif point.get("row_kind") == "eval":
            lines.append(
                f"{where}: accuracy {point['accuracy']:.4f}, exact match {point['exact_match']:.4f}"
            )
        else:
            rates = ", ".join(
                f"{k.removesuffix('_tokens_per_s')} {point[k]:.0f} tok/s"
                for k in ("train_tokens_per_s", "prefill_tokens_per_s", "decode_tokens_per_s")
                if point.get(k) is not None
            )
            lines.append(f"{where}: {rates}")
    if metrics.get("train_tokens_per_s") is not None and record.get("points"):
        lines.append(f"training throughput {metrics['train_tokens_per_s']:.0f} tok/s")
    if record.get("error"):
        lines += ["", f"error: {record['error']}"]
    if record.get("traceback"):
        lines += ["", record["traceback"].rstrip()]
    return "\n".join(lines) + "\n"
