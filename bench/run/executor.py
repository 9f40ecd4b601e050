"""One run as both launchers handle it: executed with the fingerprint of its code, then
saved with its log.

``execute_run`` is what a local run and a Ray worker call. ``save`` is what the driver
calls for every record that comes back (``bench.launch.local``, ``bench.launch.cluster``): beside
each run file it writes ``runs/<hash>.log``, the run's training curve, results and any
error, readable without seqbench.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench import store
from bench.run import StepCallback, fingerprint
from bench.run.train import execute
from bench.sweep.config import RunConfig

RecordCallback = Callable[[RunConfig, dict[str, Any]], None]
StartCallback = Callable[[RunConfig], None]
# A sweep's progress bar: which run, then that run's ``StepCallback`` arguments (steps
# done, steps planned); a launcher binds it to each run it executes.
SweepStepCallback = Callable[[RunConfig, int, int], None]


def execute_run(run: RunConfig, on_step: StepCallback | None = None) -> dict:
    """``bench.run.train.execute`` with the fingerprint of the code it ran with (taken first,
    as the run starts)."""
    return execute(run, on_step, code=fingerprint.fingerprint(run))


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
    if metrics.get("val_bits_per_byte") is not None:
        lines.append(f"validation bits per byte {metrics['val_bits_per_byte']:.4f}")
    for point in record.get("points", []):
        where = f"length {point.get('seq_len', point.get('eval_seq_len'))}"
        if point.get("needle_depth") is not None:
            where += f" depth {point['needle_depth']:g}"
        if point.get("row_kind") == "generate":
            where = f"batch {point['batch_size']} (prompt {point['prompt_len']} + {point['new_tokens']})"
        if point.get("status", "ok") != "ok":
            lines.append(f"{where}: {point['status']} {point.get('error', '')}")
        elif point.get("row_kind") == "generate":
            lines.append(f"{where}: {point['generate_tokens_per_s']:.0f} tok/s")
        elif point.get("row_kind") == "eval":
            lines.append(
                f"{where}: accuracy {point['accuracy']:.4f}, exact match {point['exact_match']:.4f}"
                + (
                    f", {point['bits_per_byte']:.4f} bits per byte"
                    if "bits_per_byte" in point
                    else ""
                )
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
