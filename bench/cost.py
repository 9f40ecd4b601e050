"""Cost of one model at one length: training, prefill and decode throughput, peak memory.

The method (warm-up, synchronization, repeats, memory) is described in ``bench.measure``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from architectures import SequenceModel

from .config import DTYPES, RunConfig
from .measure import (
    PeakMemory,
    autocast,
    free_cached_memory,
    is_oom,
    one_line,
    state_at,
    time_call,
)

StepCallback = Callable[[int, int], None]  # (steps done, steps planned)


def measure_cost(
    model: SequenceModel, run: RunConfig, device: torch.device, seq_len: int, vocab_size: int
) -> dict[str, Any]:
    """Training, prefill and decode throughput and peak memory at one length."""
    m = run.measure
    batch_size, repeats, warmup = m["batch_size"], m["repeats"], m["warmup"]
    dtype = DTYPES[run.train.get("dtype", "float32")]
    tokens = torch.randint(0, vocab_size, (batch_size, seq_len), device=device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)

    def train_step() -> None:
        with autocast(device, dtype):
            logits = model(tokens)
        loss = F.cross_entropy(logits.flatten(0, 1).float(), tokens.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def prefill() -> None:
        with torch.no_grad(), autocast(device, dtype):
            model(tokens)

    model.train()
    with PeakMemory(device) as train_memory:
        train_step()
    train_time = time_call(train_step, device, repeats, warmup)
    optimizer.zero_grad(set_to_none=True)
    optimizer.state.clear()  # free the moments before measuring inference memory
    model.eval()
    with PeakMemory(device) as infer_memory:
        prefill()
    prefill_time = time_call(prefill, device, repeats, warmup)

    states = state_at(model, batch_size, seq_len, vocab_size, device)
    next_token = tokens[:, -1]

    def decode() -> None:
        with torch.no_grad(), autocast(device, dtype):
            model.step(next_token, states)

    decode_time = time_call(decode, device, max(repeats, m["decode_steps"]), warmup)
    n_tokens = batch_size * seq_len
    return {
        "train_tokens_per_s": n_tokens / train_time.median_s,
        "prefill_tokens_per_s": n_tokens / prefill_time.median_s,
        "decode_tokens_per_s": batch_size / decode_time.median_s,
        "peak_memory_train_bytes": train_memory.bytes,
        "peak_memory_infer_bytes": infer_memory.bytes,
        "memory_kind": train_memory.kind,
        "timing_spread": {
            "train_s": [train_time.min_s, train_time.median_s, train_time.max_s],
            "prefill_s": [prefill_time.min_s, prefill_time.median_s, prefill_time.max_s],
            "decode_s": [decode_time.min_s, decode_time.median_s, decode_time.max_s],
        },
    }


def cost_points(
    model: SequenceModel,
    run: RunConfig,
    device: torch.device,
    vocab_size: int,
    on_step: StepCallback | None = None,
) -> list[dict[str, Any]]:
    """One point per ``measure.seq_lens``; OOM is a point, and longer lengths are then skipped."""
    points = []
    element_bytes = 4
    stop_reason = None
    for seq_len in sorted(run.measure["seq_lens"]):
        point: dict[str, Any] = {
            "row_kind": "cost",
            "eval_seq_len": seq_len,
            "state_bytes": model.state_size(seq_len) * element_bytes,
        }
        if stop_reason is not None:
            point.update(status=stop_reason[0], error=stop_reason[1])
            points.append(point)
            continue
        started = time.perf_counter()
        try:
            cost = measure_cost(model, run, device, seq_len, vocab_size)
            point["timing_spread"] = cost.pop("timing_spread")
            point.update(cost, status="ok")
        except Exception as error:
            if not is_oom(error):
                raise
            free_cached_memory(device)
            point.update(status="oom", error=one_line(error))
            stop_reason = ("oom", f"not attempted: out of memory at L={seq_len}")
        took = time.perf_counter() - started
        if stop_reason is None and took > run.measure["max_time_s"]:
            stop_reason = (
                "skipped",
                f"not attempted: L={seq_len} took {took:.0f} s "
                f"> measure.max_time_s={run.measure['max_time_s']:g}",
            )
        points.append(point)
        if on_step is not None:
            on_step(len(points), len(run.measure["seq_lens"]))
    return points
