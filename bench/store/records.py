"""Results on disk: one JSON file per finished run, read back as one tidy table.

``DIR/runs/<config_hash>.json`` is written atomically (temporary file, then rename), so
a killed sweep loses at most the run in flight and many writers can share a folder.
``run_record`` lays out what a run file holds, the same for every status and for every
launcher. ``load(DIR)`` returns one row per (run, point); the columns are documented in
``docs/results-schema.md``.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from bench.sweep import papers
from seqbench import UserError

if TYPE_CHECKING:
    from bench.sweep.config import RunConfig
    from bench.sweep.papers import Finding

SCHEMA_VERSION = 1
STATUSES = ("ok", "error", "oom", "diverged")  # how a run ended


class StoreError(UserError):
    """A results folder that cannot be read."""


def runs_dir(root: Path) -> Path:
    return Path(root) / "runs"


def run_path(root: Path, config_hash: str) -> Path:
    return runs_dir(root) / f"{config_hash}.json"


def run_record(
    run: RunConfig,
    env: dict[str, Any],
    *,
    status: str = "ok",
    error: str = "",
    metrics: dict[str, Any] | None = None,
    points: list[dict[str, Any]] | None = None,
    curve: list[dict[str, Any]] | None = None,
    nondeterministic: list[str] | None = None,
    timing_spread: dict[str, Any] | None = None,
    traceback: str | None = None,
    code: dict[str, Any] | None = None,
    corpus: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The record of one run, whatever its ``status`` (``STATUSES``): the one place that
    lays out what a run file holds, for a run that executed and for one a launcher lost.

    Keys, in order: ``config_hash``, ``config``, ``status``, ``error``, ``metrics``,
    ``points``, ``curve``; then, when given, ``nondeterministic`` and ``timing_spread``
    (trained runs), ``traceback`` (failures), ``corpus`` (a text task's
    ``corpus_identity()``: what the run read, never grouped across digests); ``env``; ``code`` when given (the
    fingerprint, ``bench.run.fingerprint``). Saving adds ``sweep``, ``select`` and
    ``finished_at`` (``bench.run.executor.save``), and ``write_run`` the ``schema``.
    """
    if status not in STATUSES:
        raise ValueError(f"status={status!r} must be one of {', '.join(STATUSES)}")
    record: dict[str, Any] = {
        "config_hash": run.hash,
        "config": run.to_dict(),
        "status": status,
        "error": error,
        "metrics": {} if metrics is None else metrics,
        "points": [] if points is None else points,
        "curve": [] if curve is None else curve,
    }
    optional = {
        "nondeterministic": nondeterministic,
        "timing_spread": timing_spread,
        "traceback": traceback,
        "corpus": corpus,
    }
    record.update({key: value for key, value in optional.items() if value is not None})
    record["env"] = env
    if code is not None:
        record["code"] = code
    return record


def write_run(root: Path, record: dict[str, Any]) -> Path:
    """Write one run record atomically; returns its path."""
    text = json.dumps({"schema": SCHEMA_VERSION, **record}, indent=1, default=_jsonable)
    return write_atomic(run_path(root, record["config_hash"]), text.encode())


def log_path(root: Path, config_hash: str) -> Path:
    """``runs/<hash>.log``: the run's training curve, results and error as text."""
    return runs_dir(root) / f"{config_hash}.log"


def write_log(root: Path, config_hash: str, text: str) -> Path:
    """Write one run's log atomically; returns its path."""
    return write_atomic(log_path(root, config_hash), text.encode())


def write_atomic(target: Path, data: bytes) -> Path:
    """Write ``data`` to ``target`` through a temporary file in the same folder, so the
    file is either complete or absent (results folders are read while sweeps write)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def save_findings(root: Path, findings: list[Finding]) -> Path | None:
    """Write a sweep's papers' findings beside its runs (atomically); nothing if none."""
    if not findings:
        return None
    text = json.dumps([f.model_dump() for f in findings], indent=1)
    return write_atomic(Path(root) / papers.FILE, text.encode())


def load_findings(root: Path) -> list[Finding]:
    """The findings saved with the results in ``root`` (none if the sweep declared none)."""
    path = Path(root) / papers.FILE
    return papers.parse(json.loads(path.read_text())) if path.is_file() else []


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in a run record")


def finished(root: Path) -> set[str]:
    """Config hashes with a readable run file."""
    return {record["config_hash"] for record in read_runs(root, quiet=True)}


def read_runs(root: Path, quiet: bool = False) -> list[dict[str, Any]]:
    """Every valid run record under ``root``; corrupt or foreign files are skipped with a warning."""
    records = []
    folder = runs_dir(root)
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            record = json.loads(path.read_text())
            if (
                not isinstance(record, dict)
                or record.get("schema") != SCHEMA_VERSION
                or record.get("config_hash") != path.stem
            ):
                raise ValueError("not a seqbench run record")
            records.append(record)
        except (OSError, ValueError) as error:
            if not quiet:
                warnings.warn(f"skipping {path}: {error}", stacklevel=2)
    return records


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else key, inner, out)
    else:
        out[prefix] = json.dumps(value) if isinstance(value, list) else value


def record_rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The tidy rows of one run record."""
    config = record["config"]
    metrics = dict(record.get("metrics", {}))
    if "steps_to_99" in metrics:  # renamed: it counts steps to train.early_stop, not to 0.99
        metrics["steps_to_threshold"] = metrics.pop("steps_to_99")
    base: dict[str, Any] = {
        "config_hash": record["config_hash"],
        "sweep": record.get("sweep", ""),
        "select": json.dumps(record.get("select", [])),
        "architecture": config["architecture"],
        "task": config["task"],
        "seed": config["seed"],
        "status": record["status"],
        "error": record.get("error", ""),
        "train_seq_len": config["train"].get("seq_len"),
        "config_json": json.dumps(config, sort_keys=True),
        "converged": converged(config, metrics.get("stop_reason")),
        "nondeterministic": "; ".join(record.get("nondeterministic", [])),
        **_code_columns(record.get("code")),
        **_corpus_columns(record.get("corpus")),
        **metrics,
        **record.get("env", {}),
    }
    dotted: dict[str, Any] = {}
    _flatten("model", {k: v for k, v in config["model"].items() if k != "arch"}, dotted)
    _flatten("model", config["model"].get("arch", {}), dotted)
    for section in ("train", "eval", "measure"):
        _flatten(section, config[section], dotted)
    _flatten("task", config["task_config"], dotted)
    base.update(dotted)
    points = record.get("points") or [{"row_kind": "eval" if config["kind"] == "train" else "cost"}]
    rows = []
    for point in map(_renamed, points):
        row = dict(base)
        row.update({k: v for k, v in point.items() if k != "timing_spread"})
        if point.get("status", "ok") != "ok":
            row["status"] = point["status"]
            row["error"] = point.get("error", "")
        rows.append(row)
    return rows


def _renamed(point: dict[str, Any]) -> dict[str, Any]:
    """A point under today's names: a cost point's length is ``seq_len``. Records written
    before December 2026 kept it as ``eval_seq_len``, though nothing is evaluated there."""
    if point.get("row_kind") == "cost" and "eval_seq_len" in point and "seq_len" not in point:
        return {("seq_len" if k == "eval_seq_len" else k): v for k, v in point.items()}
    return point


def _code_columns(code: dict[str, Any] | None) -> dict[str, Any]:
    """The fingerprint of the code that made a run (``bench.run.fingerprint``), as columns."""
    if not code:
        return {}
    return {
        "code_block": code.get("block") or None,
        "code_task": code.get("task") or None,
        "code_dirty": code.get("dirty"),
        "code_packages": json.dumps(code.get("packages", {}), sort_keys=True),
    }


def _corpus_columns(corpus: dict[str, Any] | None) -> dict[str, Any]:
    """The corpus a text run read, as columns: its name and the SHA-256 of its splits."""
    if not corpus:
        return {}
    return {"corpus_name": corpus.get("name"), "corpus_sha256": corpus.get("sha256")}


def converged(config: dict[str, Any], stop_reason: str | None) -> bool | None:
    """Whether a training run finished its job: reached ``train.early_stop`` when one is
    set, else used its whole step budget. A run stopped by the time cap or a diverging
    loss has not. None for cost-only runs and for records without a stop reason."""
    if config["kind"] != "train" or stop_reason is None:
        return None
    if config["train"].get("early_stop") is not None:
        return stop_reason == "early_stop"
    return stop_reason == "steps"


COLUMNS = [
    "config_hash",
    "sweep",
    "select",
    "row_kind",
    "architecture",
    "task",
    "seed",
    "status",
    "error",
    "train_seq_len",
    "eval_seq_len",
    "seq_len",
    "needle_depth",
    "accuracy",
    "exact_match",
    "val_accuracy",
    "bits_per_byte",
    "recall_bits_per_byte",
    "other_bits_per_byte",
    "recall_fraction",
    "position_buckets",
    "position_bits_per_byte",
    "val_bits_per_byte",
    "unigram_bits_per_byte",
    "corpus_name",
    "corpus_sha256",
    "stop_reason",
    "converged",
    "train_steps",
    "train_examples",
    "steps_to_threshold",
    "final_loss",
    "final_batch_accuracy",
    "train_tokens_per_s",
    "prefill_tokens_per_s",
    "decode_tokens_per_s",
    "peak_memory_train_bytes",
    "peak_memory_infer_bytes",
    "memory_kind",
    "state_bytes",
    "params",
    "d_model",
    "n_layers",
    "wall_time_s",
    "device",
    "device_name",
    "backend",
    "dtype",
    "python_version",
    "torch_version",
    "cuda_version",
    "git_commit",
    "seqbench_version",
    "nondeterministic",
    "config_json",
    "code_block",
    "code_task",
    "code_dirty",
    "code_packages",
]


_LENGTHS = ("eval_seq_len", "seq_len")  # an eval row's length; a cost row's
# A language model's columns, absent from a folder without text runs: numbers stay
# numeric (NaN), the rest None, so that an exported table reads back the same.
_LM_NUMBERS = (
    "bits_per_byte",
    "recall_bits_per_byte",
    "other_bits_per_byte",
    "recall_fraction",
    "val_bits_per_byte",
    "unigram_bits_per_byte",
)
_LM_OTHERS = ("position_buckets", "position_bits_per_byte", "corpus_name", "corpus_sha256")


def load(root: str | Path) -> pd.DataFrame:
    """One row per (run, point) for every run under ``root`` (see docs/results-schema.md)."""
    root = Path(root)
    if not root.exists():
        raise StoreError(f"results folder {str(root)!r} does not exist")
    if not runs_dir(root).is_dir():
        raise StoreError(
            f"{str(root)!r} holds no seqbench results (no runs/ folder); "
            f"run `seqbench run PRESET --out {root}` first"
        )
    rows = [row for record in read_runs(root) for row in record_rows(record)]
    frame = pd.DataFrame(rows)
    for column in COLUMNS:
        if column not in frame:  # a length column stays numeric: NaN rather than pd.NA
            if column in _LENGTHS + _LM_NUMBERS:
                frame[column] = math.nan
            else:
                frame[column] = None if column in _LM_OTHERS else pd.NA
    extra = sorted(c for c in frame.columns if c not in COLUMNS)
    return frame[COLUMNS + extra]


def load_curves(root: str | Path) -> pd.DataFrame:
    """One row per (run, logged training step): step, examples, loss, accuracy."""
    rows = []
    for record in read_runs(Path(root), quiet=True):
        config = record["config"]
        for point in record.get("curve", []):
            rows.append(
                {
                    "config_hash": record["config_hash"],
                    "architecture": config["architecture"],
                    "task": config["task"],
                    "seed": config["seed"],
                    **point,
                }
            )
    columns = [
        "config_hash",
        "architecture",
        "task",
        "seed",
        "step",
        "examples",
        "loss",
        "accuracy",
    ]
    return pd.DataFrame(rows, columns=columns)
