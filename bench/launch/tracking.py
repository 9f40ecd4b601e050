"""Send each finished run to an experiment tracker: ``seqbench run … --log wandb``.

Trackers receive records on the driver as runs finish (locally or from Ray), so they
see exactly what the results folder holds: the run's config (and config hash and code
fingerprint), its training curve, its evaluation accuracy at every length and its cost
metrics. One tracker run per seqbench run, grouped by sweep.

- ``wandb``: one W&B run per seqbench run in project ``$WANDB_PROJECT`` (default
  ``seqbench``), group = the sweep's name, files under ``DIR/wandb/``. W&B's own settings
  apply: ``WANDB_MODE=offline`` logs without a network (``wandb sync`` uploads later).
- ``tensorboard``: one event-file folder per run under ``DIR/tensorboard/``; open it
  with ``tensorboard --logdir DIR/tensorboard``. Curves are scalars by training step,
  evaluation and cost metrics scalars at the last step, the config a text entry and
  hyper-parameters (HParams dashboard).

Both are optional extras (``pip install 'seqbench[track]'``) imported only when asked for.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from pathlib import Path
from typing import Any

from bench.sweep.config import RunConfig
from seqbench import UserError

TRACKERS = ("wandb", "tensorboard")
_PACKAGES = {"wandb": "wandb", "tensorboard": "tensorboard"}


class TrackingError(UserError):
    """A tracker that cannot be used here (not installed, unknown)."""


def open_trackers(names: list[str], out: Path, sweep_name: str) -> list[Any]:
    """Trackers for ``names``; raises ``TrackingError`` before any run when one is missing."""
    trackers: list[Any] = []
    for name in dict.fromkeys(names):
        if name not in TRACKERS:
            raise TrackingError(f"--log {name!r} is not one of {', '.join(TRACKERS)}")
        if importlib.util.find_spec(_PACKAGES[name]) is None:
            raise TrackingError(
                f"--log {name} needs the {_PACKAGES[name]} package: pip install 'seqbench[track]'"
            )
        cls = WandbTracker if name == "wandb" else TensorBoardTracker
        trackers.append(cls(Path(out), sweep_name))
    return trackers


# --- what a run reports --------------------------------------------------------------------


def flat_config(record: dict[str, Any]) -> dict[str, Any]:
    """The run's config as dotted keys (``train.lr``), with its hash and code fingerprint."""
    out: dict[str, Any] = {"config_hash": record["config_hash"], "sweep": record.get("sweep", "")}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else key, inner)
        else:
            out[prefix] = value

    walk("", record["config"])
    code = record.get("code") or {}
    for key in ("block", "task", "seqbench", "dirty"):
        if key in code:
            out[f"code.{key}"] = code[key]
    return out


def final_metrics(record: dict[str, Any]) -> dict[str, float]:
    """Scalar results: the run's metrics and, per evaluation length, accuracy and exact
    match (averaged over needle depths), or per cost length the throughputs."""
    out = {
        f"metrics/{key}": float(value)
        for key, value in record.get("metrics", {}).items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }
    by_length: dict[str, list[float]] = {}
    for point in record.get("points", []):
        if point.get("status", "ok") != "ok":
            continue
        length = point.get("seq_len", point.get("eval_seq_len"))  # a cost point's, an eval point's
        keys = ("accuracy", "exact_match", "state_bytes")
        keys += ("train_tokens_per_s", "prefill_tokens_per_s", "decode_tokens_per_s")
        for key in keys:
            if isinstance(point.get(key), int | float):
                by_length.setdefault(f"eval/{key}@{length}", []).append(float(point[key]))
    out.update({key: sum(values) / len(values) for key, values in by_length.items()})
    return out


def _run_name(run: RunConfig, record: dict[str, Any]) -> str:
    name = f"{run.architecture}-{run.task}-seed{run.seed}-{record['config_hash'][:8]}"
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", name)


# --- trackers ------------------------------------------------------------------------------


class WandbTracker:
    """One W&B run per seqbench run."""

    name = "wandb"

    def __init__(self, out: Path, sweep_name: str) -> None:
        import wandb

        self._wandb, self.out, self.sweep = wandb, out, sweep_name

    def log(self, run: RunConfig, record: dict[str, Any]) -> None:
        wandb = self._wandb
        self.out.mkdir(parents=True, exist_ok=True)
        tracked = wandb.init(
            project=os.environ.get("WANDB_PROJECT", "seqbench"),
            group=self.sweep,
            name=_run_name(run, record),
            job_type=run.kind,
            tags=[run.architecture, run.task],
            config=flat_config(record),
            dir=str(self.out),
            reinit="finish_previous",
            # Leave stdout alone: the sweep's own lines are the log.
            settings=wandb.Settings(console="off", quiet=True, silent=True),
        )
        try:
            for point in record.get("curve", []):
                tracked.log(
                    {
                        "train/loss": point["loss"],
                        "train/accuracy": point["accuracy"],
                        "train/examples": point["examples"],
                    },
                    step=int(point["step"]),
                )
            tracked.summary.update(
                {**final_metrics(record), "status": record["status"], "error": record["error"]}
            )
        finally:
            tracked.finish(exit_code=0 if record["status"] == "ok" else 1)

    def close(self) -> None:
        pass


class TensorBoardTracker:
    """One TensorBoard event folder per seqbench run, under ``DIR/tensorboard/``."""

    name = "tensorboard"

    def __init__(self, out: Path, sweep_name: str) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self._writer_cls, self.root, self.sweep = SummaryWriter, out / "tensorboard", sweep_name

    def log(self, run: RunConfig, record: dict[str, Any]) -> None:
        writer = self._writer_cls(log_dir=str(self.root / _run_name(run, record)))
        try:
            config = flat_config(record)
            writer.add_text("config", "```\n" + json.dumps(config, indent=1) + "\n```")
            for point in record.get("curve", []):
                writer.add_scalar("train/loss", point["loss"], int(point["step"]))
                writer.add_scalar("train/accuracy", point["accuracy"], int(point["step"]))
            last = int(record.get("metrics", {}).get("train_steps") or 0)
            metrics = final_metrics(record)
            for key, value in metrics.items():
                writer.add_scalar(key, value, last)
            hparams = {
                key: value if isinstance(value, int | float | str | bool) else json.dumps(value)
                for key, value in config.items()
                if value is not None
            }
            score = {
                f"hparam/{key.split('/', 1)[1]}": value
                for key, value in metrics.items()
                if key.startswith("eval/accuracy@")
            }
            writer.add_hparams(hparams, score, run_name=".")
        finally:
            writer.close()

    def close(self) -> None:
        pass
