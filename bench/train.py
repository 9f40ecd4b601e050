"""One run, start to finish: build, train, evaluate, measure, and return its record.

``execute(run)`` never raises for a run's own failure: running out of memory, a
diverging loss or an exception inside a block become the record's ``status``
(``oom``, ``diverged``, ``error``) so a sweep goes on.
"""

from __future__ import annotations

import itertools
import math
import time
import traceback
from typing import Any

import torch
import torch.nn.functional as F

import tasks
from architectures import SequenceModel

from .config import DTYPES, RunConfig
from .cost import StepCallback, cost_points, measure_cost
from .measure import (
    autocast,
    environment,
    free_cached_memory,
    is_oom,
    keep_freed_memory,
    one_line,
    synchronize,
)

TIMING_WARMUP_STEPS = 3  # excluded from training throughput (allocation, lazy init)


class Diverged(RuntimeError):
    """The training loss became NaN or infinite."""


# --- model ---------------------------------------------------------------------------------


def build_model(run: RunConfig, vocab_size: int) -> SequenceModel:
    torch.manual_seed(run.seed)
    return SequenceModel(
        run.architecture,
        vocab_size,
        run.model["d_model"],
        run.model["n_layers"],
        **run.model["arch"],
    )


def _optimizer(model: SequenceModel, train: dict) -> tuple[torch.optim.Optimizer, Any]:
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": train["weight_decay"]},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=train["lr"],
        betas=(0.9, 0.98),
    )
    warmup, total, schedule = train["warmup"], max(train["steps"], 1), train["schedule"]

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min((step - warmup) / max(total - warmup, 1), 1.0)
        if schedule == "cosine":
            return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))  # decay to 10%
        if schedule == "linear":
            return 1.0 - 0.9 * progress
        return 1.0

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=-100)


# --- training ------------------------------------------------------------------------------


def train(
    model: SequenceModel,
    task,
    run: RunConfig,
    device: torch.device,
    on_step: StepCallback | None = None,
) -> dict[str, Any]:
    cfg = run.train
    dtype = DTYPES[cfg["dtype"]]
    optimizer, scheduler = _optimizer(model, cfg)
    generator = torch.Generator().manual_seed(run.seed)
    batch_tokens = cfg["batch_size"] * cfg["seq_len"]
    curve: list[dict[str, float]] = []
    batch_accuracy: list[torch.Tensor] = []
    steps_to_99 = None
    loss = torch.tensor(float("nan"))
    start = time.perf_counter()
    timed_from, timed_start = None, None
    step = 0
    model.train()
    for step in range(1, cfg["steps"] + 1):
        batch = task.sample(cfg["batch_size"], cfg["seq_len"], generator)
        inputs, targets = batch.inputs.to(device), batch.targets.to(device)
        with autocast(device, dtype):
            logits = model(inputs)
        loss = _loss(logits, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg["grad_clip"] > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_clip"])
        optimizer.step()
        scheduler.step()
        with torch.no_grad():
            scored = targets != -100
            correct = (logits.argmax(-1) == targets) & scored
            batch_accuracy.append(correct.sum() / scored.sum().clamp(min=1))

        if step == TIMING_WARMUP_STEPS:
            synchronize(device)
            timed_from, timed_start = step, time.perf_counter()
        if on_step is not None:
            on_step(step, cfg["steps"])
        last = step == cfg["steps"]
        if step % cfg["log_every"] == 0 or last:
            loss_value = loss.item()
            accuracies = torch.stack(batch_accuracy).tolist()
            first = len(curve) and curve[-1]["step"]
            batch_accuracy.clear()
            curve.append(
                {
                    "step": step,
                    "examples": step * cfg["batch_size"],
                    "loss": loss_value,
                    "accuracy": accuracies[-1],
                }
            )
            if not math.isfinite(loss_value):
                raise Diverged(f"loss became {loss_value} at step {step}")
            if steps_to_99 is None and cfg["early_stop"] is not None:
                hits = [i for i, a in enumerate(accuracies) if a >= cfg["early_stop"]]
                if hits:
                    steps_to_99 = first + hits[0] + 1
                    break
            if time.perf_counter() - start > cfg["max_time_s"]:
                break
    synchronize(device)
    end = time.perf_counter()
    timed_steps = step - timed_from if timed_from is not None else 0
    return {
        "train_steps": step,
        "steps_to_99": steps_to_99,
        "final_loss": loss.item(),
        "train_time_s": end - start,
        "train_tokens_per_s": timed_steps * batch_tokens / (end - timed_start)
        if timed_steps
        else step * batch_tokens / (end - start),
        "curve": curve,
    }


# --- evaluation ----------------------------------------------------------------------------


@torch.no_grad()
def evaluate(
    model: SequenceModel,
    task,
    run: RunConfig,
    device: torch.device,
    seq_len: int,
    **sample_args: Any,
) -> dict[str, float]:
    """Token accuracy and exact match on ``eval.n`` fresh examples (a fixed evaluation set)."""
    model.eval()
    generator = torch.Generator().manual_seed(1_000_003 + run.seed)
    n, batch_size = run.eval["n"], run.eval["batch_size"]
    correct = scored = exact = 0.0
    dtype = DTYPES[run.train["dtype"]]
    for start in range(0, n, batch_size):
        batch = task.sample(min(batch_size, n - start), seq_len, generator, **sample_args)
        targets = batch.targets.to(device)
        with autocast(device, dtype):
            logits = model(batch.inputs.to(device))
        accuracy, exact_match = tasks.score(logits.float(), targets)
        n_scored = int((targets != -100).sum())
        correct += accuracy * n_scored
        scored += n_scored
        exact += exact_match * targets.shape[0]
    return {"accuracy": correct / max(scored, 1), "exact_match": exact / n}


def eval_points(model: SequenceModel, task, run: RunConfig, device: torch.device) -> list[dict]:
    grid = task.sample_args()
    if run.eval.get("depths") is not None and "depth" in grid:
        grid["depth"] = run.eval["depths"]
    combos = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
    element_bytes = torch.finfo(DTYPES[run.train["dtype"]]).bits // 8
    points = []
    for seq_len in run.eval["seq_lens"]:
        for sample_args in combos:
            point: dict[str, Any] = {
                "row_kind": "eval",
                "eval_seq_len": seq_len,
                "needle_depth": sample_args.get("depth"),
                "state_bytes": model.state_size(seq_len) * element_bytes,
            }
            try:
                point.update(evaluate(model, task, run, device, seq_len, **sample_args))
                point["status"] = "ok"
            except Exception as error:
                if not is_oom(error):
                    raise
                free_cached_memory(device)
                point.update(status="oom", error=one_line(error))
            points.append(point)
    return points


# --- a whole run ---------------------------------------------------------------------------


def execute(run: RunConfig, on_step: StepCallback | None = None) -> dict[str, Any]:
    """Run one config and return its record (see ``bench.store``); never raises for the run."""
    keep_freed_memory()  # no mmap page faults per large tensor (see bench.measure)
    device = torch.device(run.device)
    start = time.perf_counter()
    record: dict[str, Any] = {
        "config_hash": run.hash,
        "config": run.to_dict(),
        "status": "ok",
        "error": "",
        "metrics": {},
        "points": [],
        "curve": [],
    }
    model = None
    try:
        if run.kind == "train":
            task = tasks.create(run.task, **run.task_config)
            vocab_size = task.vocab_size
        else:
            task, vocab_size = None, run.measure["vocab_size"]
        model = build_model(run, vocab_size).to(device)
        metrics = record["metrics"]
        metrics.update(
            params=model.num_params(),
            d_model=model.embedding.embedding_dim,
            n_layers=len(model.blocks),
            dtype=run.train.get("dtype", "float32"),
        )
        if run.kind == "train":
            trained = train(model, task, run, device, on_step)
            record["curve"] = trained.pop("curve")
            metrics.update(trained)
            record["points"] = eval_points(model, task, run, device)
            if run.measure["cost"]:
                cost = measure_cost(model, run, device, run.train["seq_len"], vocab_size)
                record["timing_spread"] = cost.pop("timing_spread")
                metrics.update(cost)
        else:
            record["points"] = cost_points(model, run, device, vocab_size, on_step)
        metrics["backend"] = ",".join(model.backends_used)
    except Diverged as error:
        record.update(status="diverged", error=str(error))
    except Exception as error:
        record.update(
            status="oom" if is_oom(error) else "error",
            error=one_line(error),
            traceback=traceback.format_exc(limit=8),
        )
    finally:
        del model
        free_cached_memory(device)
    record["metrics"]["wall_time_s"] = time.perf_counter() - start
    record["env"] = environment(device)
    return record
