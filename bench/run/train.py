"""One run, start to finish: build, train, evaluate, measure, and return its record.

``execute(run)`` never raises for a run's own failure: running out of memory, a
diverging loss or an exception inside a block become the record's ``status``
(``oom``, ``diverged``, ``error``) so a sweep goes on.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import time
import traceback
import warnings
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F

import tasks
from architectures import SequenceModel
from bench.run import StepCallback, attention, lm
from bench.run.cost import cost_points, measure_cost, state_bytes
from bench.run.generate import generation_points
from bench.run.measure import (
    autocast,
    environment,
    flush_denormals,
    free_cached_memory,
    is_oom,
    keep_freed_memory,
    one_line,
    synchronize,
)
from bench.run.reach import run_reach
from bench.store.records import run_record
from bench.sweep.config import DTYPES, RunConfig, TrainSection
from bench.sweep.resolve import build_task

TIMING_WARMUP_STEPS = 3  # excluded from training throughput (allocation, lazy init)


class Diverged(RuntimeError):
    """The training loss became NaN or infinite (at ``step``; ``curve`` up to there)."""

    def __init__(self, message: str, step: int = 0, curve: list | None = None) -> None:
        super().__init__(message)
        self.step = step
        self.curve = curve or []


# --- model ---------------------------------------------------------------------------------


def build_model(run: RunConfig, vocab_size: int) -> SequenceModel:
    torch.manual_seed(run.seed)
    return SequenceModel(
        run.architecture,
        vocab_size,
        run.model.d_model,
        run.model.n_layers,
        **run.model.arch,
    )


def _optimizer(model: SequenceModel, train: TrainSection) -> tuple[torch.optim.Optimizer, Any]:
    # The blocks say which of their parameters are exempt from weight decay, as their
    # reference code does (Mamba's A_log and D, RWKV's time_* decays; norms, biases and
    # embeddings everywhere): see docs/architectures.md.
    optimizer = torch.optim.AdamW(
        model.param_groups(train.weight_decay), lr=train.lr, betas=(0.9, 0.98)
    )
    warmup, total, schedule = train.warmup, max(train.steps, 1), train.schedule

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
    return F.cross_entropy(
        logits.flatten(0, 1).float(), targets.flatten(), ignore_index=tasks.IGNORE
    )


# --- training ------------------------------------------------------------------------------


# Why a run stopped (the ``stop_reason`` metric):
EARLY_STOP = "early_stop"  # a training batch reached ``train.early_stop``
STEPS = "steps"  # used its whole step budget
TIME_CAP = "time_cap"  # hit the ``train.max_time_s`` safety cap: unconverged, machine-dependent
DIVERGED = "diverged"  # the loss became NaN or infinite


def train(
    model: SequenceModel,
    task,
    run: RunConfig,
    device: torch.device,
    on_step: StepCallback | None = None,
) -> dict[str, Any]:
    """Train for ``train.steps`` optimizer steps (the budget), stopping early once a
    training batch reaches ``train.early_stop``; the learning-rate schedule spans the
    planned steps. Batches come from a generator seeded by the run's seed, so the same
    config gives the same numbers on one machine."""
    cfg = run.train
    dtype = DTYPES[cfg.dtype]
    optimizer, scheduler = _optimizer(model, cfg)
    generator = torch.Generator().manual_seed(run.seed)
    batch_tokens = cfg.batch_size * cfg.seq_len
    curve: list[dict[str, float]] = []
    batch_accuracy: list[torch.Tensor] = []
    steps_to_threshold = None
    stop_reason = STEPS
    loss = torch.tensor(float("nan"))
    start = time.perf_counter()
    timed_from, timed_start = None, None
    step = 0
    model.train()
    for step in range(1, cfg.steps + 1):
        batch = task.sample(cfg.batch_size, cfg.seq_len, generator)
        inputs, targets = batch.inputs.to(device), batch.targets.to(device)
        with autocast(device, dtype):
            logits = model(inputs)
        loss = _loss(logits, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        scheduler.step()
        with torch.no_grad():
            scored = targets != tasks.IGNORE
            correct = (logits.argmax(-1) == targets) & scored
            batch_accuracy.append(correct.sum() / scored.sum().clamp(min=1))

        if step == TIMING_WARMUP_STEPS:
            synchronize(device)
            timed_from, timed_start = step, time.perf_counter()
        if on_step is not None:
            on_step(step, cfg.steps)
        capped = cfg.max_time_s is not None and time.perf_counter() - start > cfg.max_time_s
        if step % cfg.log_every == 0 or step == cfg.steps or capped:
            loss_value = loss.item()
            accuracies = torch.stack(batch_accuracy).tolist()
            first = len(curve) and curve[-1]["step"]
            batch_accuracy.clear()
            curve.append(
                {
                    "step": step,
                    "examples": step * cfg.batch_size,
                    "loss": loss_value,
                    "accuracy": accuracies[-1],
                }
            )
            if not math.isfinite(loss_value):
                raise Diverged(f"loss became {loss_value} at step {step}", step, curve)
            if steps_to_threshold is None and cfg.early_stop is not None:
                hits = [i for i, a in enumerate(accuracies) if a >= cfg.early_stop]
                if hits:
                    steps_to_threshold = first + hits[0] + 1
                    stop_reason = EARLY_STOP
                    break
            if capped:
                stop_reason = TIME_CAP
                break
    synchronize(device)
    end = time.perf_counter()
    timed_steps = step - timed_from if timed_from is not None else 0
    return {
        "stop_reason": stop_reason,
        "train_steps": step,
        "train_examples": step * cfg.batch_size,
        "steps_to_threshold": steps_to_threshold,
        "final_loss": loss.item(),
        "final_batch_accuracy": curve[-1]["accuracy"] if curve else None,
        "train_time_s": end - start,
        "train_tokens_per_s": timed_steps * batch_tokens / (end - timed_start)
        if timed_steps
        else step * batch_tokens / (end - start),
        "curve": curve,
    }


# --- evaluation ----------------------------------------------------------------------------

# Generator seed offsets of the evaluation and validation sets (the training batches use
# the run's seed itself), so the three streams never coincide.
_SPLIT_SEEDS = {"eval": 1_000_003, "val": 2_000_003}


@torch.no_grad()
def evaluate(
    model: SequenceModel,
    task,
    run: RunConfig,
    device: torch.device,
    seq_len: int,
    split: str = "eval",
    **sample_args: Any,
) -> dict[str, float]:
    """Token accuracy and exact match on a fixed set of fresh examples.

    ``split="eval"``: the ``eval.n`` examples the results report. ``split="val"``: the
    ``eval.val_n`` validation examples that learning-rate (or any declared) selection
    uses, drawn from another seed so the reported set never chooses its own winner.
    A task with splits of its own (``text``) samples them from its test and validation
    splits, and a language-model task adds its metrics (``bench.run.lm``).
    """
    model.eval()
    generator = torch.Generator().manual_seed(_SPLIT_SEEDS[split] + run.seed)
    n = run.eval.n if split == "eval" else run.eval.val_n
    batch_size = run.eval.batch_size
    correct = scored = exact = 0.0
    dtype = DTYPES[run.train.dtype]
    sample_args = {**lm.split_args(task, split), **sample_args}
    scores = lm.LMScores(task) if lm.is_language_model(task) else None
    for start in range(0, n, batch_size):
        batch = task.sample(min(batch_size, n - start), seq_len, generator, **sample_args)
        targets = batch.targets.to(device)
        with autocast(device, dtype):
            logits = model(batch.inputs.to(device))
        accuracy, exact_match = tasks.score(logits.float(), targets)
        n_scored = int((targets != tasks.IGNORE).sum())
        correct += accuracy * n_scored
        scored += n_scored
        exact += exact_match * targets.shape[0]
        if scores is not None:
            scores.add(logits, batch.inputs, batch.targets)
    out = {"accuracy": correct / max(scored, 1), "exact_match": exact / n}
    return out if scores is None else {**out, **scores.result()}


def eval_points(model: SequenceModel, task, run: RunConfig, device: torch.device) -> list[dict]:
    grid = task.sample_args()
    if run.eval.depths is not None and "depth" in grid:
        grid["depth"] = run.eval.depths
    combos = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
    points = []
    for seq_len in run.eval.seq_lens:
        for sample_args in combos:
            point: dict[str, Any] = {
                "row_kind": "eval",
                "eval_seq_len": seq_len,
                "needle_depth": sample_args.get("depth"),
                "state_bytes": state_bytes(model, seq_len, DTYPES[run.train.dtype]),
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


@contextlib.contextmanager
def _deterministic() -> Iterator[list[str]]:
    """Ask torch for deterministic kernels while a run trains and evaluates.

    Ops that have no deterministic implementation on this device still run (torch's
    ``warn_only`` mode); the list this yields names them, and the run file keeps it
    (``nondeterministic``), so a result that cannot repeat exactly says why.
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS needs it on CUDA
    was_on = torch.are_deterministic_algorithms_enabled()
    was_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    found: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield found
        finally:
            torch.use_deterministic_algorithms(was_on, warn_only=was_warn_only)
    for warning in caught:
        text = str(warning.message)
        if "deterministic" in text:
            first = text.strip().splitlines()[0][:300]
            if first not in found:
                found.append(first)
        else:  # not ours to swallow
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )


def reach_metrics(model: SequenceModel, task, run: RunConfig, vocab_size: int) -> dict[str, Any]:
    """Influence by distance of the trained model (``reach_*``) and, with ``reach.init``,
    of the same model rebuilt at initialisation (``reach_init_*``): ``bench.run.reach``.
    A failure here (a block whose kernels take no float64, memory) is kept as
    ``reach_error``; the run's training and evaluation stand."""
    settings, length = run.reach, run.train.seq_len
    try:
        out = run_reach(model, settings, task, length, run.seed, "reach_")
        if settings.init:
            initial = build_model(run, vocab_size)  # the run's seed: the same initial weights
            out.update(run_reach(initial, settings, task, length, run.seed, "reach_init_"))
        return out
    except Exception as error:
        return {"reach_error": one_line(error)}


def execute(
    run: RunConfig, on_step: StepCallback | None = None, code: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Run one config and return its record (``bench.store.run_record``); never raises for
    the run. ``code``: the fingerprint of the code it runs with, kept in the record."""
    keep_freed_memory()  # no mmap page faults per large tensor (see bench.run.measure)
    device, dtype = torch.device(run.device), DTYPES[run.dtype]
    flush_denormals(device)  # subnormals cost the CPU, not the block (bench.run.measure)
    start = time.perf_counter()
    metrics: dict[str, Any] = {}
    found: dict[str, Any] = {}  # the rest of the record: points, curve, status, error …
    model = None
    try:
        if run.kind == "train":
            task = build_task(run.task, run.task_config)  # the instance resolving checked
            vocab_size = task.vocab_size
            lm.note_corpus(task, found, metrics)  # a text task: its corpus, unigram bpb
        else:
            task, vocab_size = None, run.measure.vocab_size
        model = build_model(run, vocab_size).to(device)
        attention.pin(model, run.measure.attention)  # "auto": torch's choice (bench.run.attention)
        metrics.update(
            params=model.num_params(),
            d_model=model.embedding.embedding_dim,
            n_layers=len(model.blocks),
            dtype=run.dtype,
        )
        if run.kind == "train":
            with _deterministic() as nondeterministic:
                trained = train(model, task, run, device, on_step)
                found["curve"] = trained.pop("curve")
                metrics.update(trained)
                val = evaluate(model, task, run, device, run.train.seq_len, split="val")
                metrics["val_accuracy"] = val["accuracy"]
                if "bits_per_byte" in val:  # what selection ranks a language model by
                    metrics["val_bits_per_byte"] = val["bits_per_byte"]
                found["points"] = eval_points(model, task, run, device)
            found["nondeterministic"] = nondeterministic
            if run.measure.cost:
                length = run.train.seq_len  # cost at the length it trained on
                cost = measure_cost(model, run.measure, dtype, device, length, vocab_size)
                found["timing_spread"] = cost.pop("timing_spread")
                metrics.update(cost)
            if run.measure.generate is not None:
                found["points"] += generation_points(model, run.measure, device, vocab_size)
            if run.reach is not None:  # last: it reseeds torch to rebuild the initial model
                metrics.update(reach_metrics(model, task, run, vocab_size))
        elif run.measure.generate is not None:
            found["points"] = generation_points(model, run.measure, device, vocab_size, on_step)
        else:
            found["points"] = cost_points(model, run.measure, dtype, device, vocab_size, on_step)
        metrics["backend"] = ",".join(model.backends_used)
        metrics["attention_kernel"] = attention.kernel_used(model, vocab_size)
    except Diverged as error:
        found.update(status="diverged", error=str(error), curve=error.curve)
        metrics.update(stop_reason=DIVERGED, train_steps=error.step)
    except Exception as error:
        found.update(
            status="oom" if is_oom(error) else "error",
            error=one_line(error),
            traceback=traceback.format_exc(limit=8),
        )
    finally:
        del model
        free_cached_memory(device)
    metrics["wall_time_s"] = time.perf_counter() - start
    return run_record(run, environment(device), metrics=metrics, code=code, **found)
