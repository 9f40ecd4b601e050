"""Cost of one model at one length: training, prefill and decode throughput, peak memory.

The method (warm-up, synchronization, repeats, memory) is described in ``bench.run.measure``.

    measure_cost(model, measure, dtype, device, seq_len, vocab_size) -> dict  # one length
    cost_points(model, measure, dtype, device, vocab_size) -> list[dict]      # every seq_len
    state_bytes(model, seq_len, dtype) -> int       # the recurrent state, in the run's dtype

Both keep every timed call's seconds (``train_times_s``, ``prefill_times_s``,
``decode_times_s``) next to the throughputs computed from their medians, so a cost slope
can be fitted from every repeat with an interval (``bench.analysis.claims``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F

from architectures import SequenceModel
from bench.run import StepCallback
from bench.run.flops import flop_columns
from bench.run.measure import (
    PeakMemory,
    Timing,
    autocast,
    free_cached_memory,
    is_oom,
    one_line,
    state_at,
    time_interleaved,
)
from bench.sweep.config import MeasureSection

KINDS = ("train", "prefill", "decode")


class _Calls:
    """The three timed calls of one model at one length: a training step, a prefill, and
    a decode step from a state holding ``seq_len`` tokens (built on its first call, so
    the peak-memory regions before it do not hold it)."""

    def __init__(
        self,
        model: SequenceModel,
        device: torch.device,
        dtype: torch.dtype,
        batch_size: int,
        seq_len: int,
        vocab_size: int,
        optimizer: torch.optim.Optimizer,
    ) -> None:
        self.model, self.device, self.dtype, self.optimizer = model, device, dtype, optimizer
        self.batch_size, self.seq_len, self.vocab_size = batch_size, seq_len, vocab_size
        self.tokens = torch.randint(0, vocab_size, (self.batch_size, seq_len), device=device)
        self.states = None

    def _mode(self, training: bool) -> None:
        if self.model.training != training:  # switching walks every module: only on change
            self.model.train(training)

    def train_step(self) -> None:
        self._mode(True)
        with autocast(self.device, self.dtype):
            logits = self.model(self.tokens)
        loss = F.cross_entropy(logits.flatten(0, 1).float(), self.tokens.flatten())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()

    def prefill(self) -> None:
        self._mode(False)
        with torch.no_grad(), autocast(self.device, self.dtype):
            self.model(self.tokens)

    def decode(self) -> None:
        self._mode(False)
        if self.states is None:
            self.states = state_at(
                self.model, self.batch_size, self.seq_len, self.vocab_size, self.device
            )
        with torch.no_grad(), autocast(self.device, self.dtype):
            self.model.step(self.tokens[:, -1], self.states)

    def by_kind(self) -> dict[str, Callable[[], None]]:
        return {"train": self.train_step, "prefill": self.prefill, "decode": self.decode}


def state_bytes(model: SequenceModel, seq_len: int, dtype: torch.dtype) -> int:
    """Bytes per sequence of the state after ``seq_len`` tokens, its numbers held in
    ``dtype`` (the run's: 2 bytes each in bfloat16, 4 in float32)."""
    return model.state_size(seq_len) * torch.empty((), dtype=dtype).element_size()


def _counts(measure: MeasureSection) -> dict[str, int]:
    """Timed calls of each kind at one length: ``repeats`` (decode: at least
    ``decode_steps``, one step being short)."""
    repeats = measure.repeats
    return {"train": repeats, "prefill": repeats, "decode": max(repeats, measure.decode_steps)}


def _summary(timings: dict[str, Timing], batch_size: int, seq_len: int) -> dict[str, Any]:
    """Throughputs from the median call, the spread, and every call's seconds."""
    n_tokens = batch_size * seq_len
    return {
        "train_tokens_per_s": n_tokens / timings["train"].median_s,
        "prefill_tokens_per_s": n_tokens / timings["prefill"].median_s,
        "decode_tokens_per_s": batch_size / timings["decode"].median_s,
        "timing_spread": {f"{kind}_s": timings[kind].spread() for kind in KINDS},
        **{f"{kind}_times_s": list(timings[kind].samples_s) for kind in KINDS},
    }


def measure_cost(
    model: SequenceModel,
    measure: MeasureSection,
    dtype: torch.dtype,
    device: torch.device,
    seq_len: int,
    vocab_size: int,
    counts: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Training, prefill and decode throughput and peak memory at one length, for batches
    of ``measure.batch_size`` in ``dtype``.

    Peak memory of an inference forward, then of a training step (which allocates AdamW's
    moments, as training does); then ``measure.warmup`` untimed and ``counts`` timed calls
    of each kind, taken in turn (default: ``measure.repeats``; decode: at least
    ``measure.decode_steps``).
    """
    calls = _Calls(model, device, dtype, measure.batch_size, seq_len, vocab_size, _optimizer(model))
    with PeakMemory(device) as infer_memory:
        calls.prefill()
    with PeakMemory(device) as train_memory:
        calls.train_step()
    counts = dict(counts) if counts is not None else _counts(measure)
    timings = time_interleaved(calls.by_kind(), counts, device, measure.warmup)
    return {
        **_summary(timings, measure.batch_size, seq_len),
        "peak_memory_train_bytes": train_memory.bytes,
        "peak_memory_infer_bytes": infer_memory.bytes,
        "memory_kind": train_memory.kind,
    }


def _optimizer(model: SequenceModel) -> torch.optim.Optimizer:
    return torch.optim.AdamW(model.parameters(), lr=1e-6)  # tiny: the weights barely move


def _share(total: int, rounds: int, index: int) -> int:
    """Round ``index``'s part of ``total`` calls spread evenly over ``rounds``."""
    return total * (index + 1) // rounds - total * index // rounds


def cost_points(
    model: SequenceModel,
    measure: MeasureSection,
    dtype: torch.dtype,
    device: torch.device,
    vocab_size: int,
    on_step: StepCallback | None = None,
) -> list[dict[str, Any]]:
    """One point per ``measure.seq_lens`` (``row_kind="cost"``, the length as ``seq_len``),
    the lengths timed in turn.

    ``measure.repeats`` rounds. The first visits each length from short to long and
    measures its peak memory, warm-up and first timed call of each kind
    (``measure_cost``); running out of memory there is the point's status (``oom``) and
    longer lengths are not attempted, nor are they once a length's projected time
    (first visit + the later rounds at its pace) passes ``measure.max_time_s``. Each later
    round revisits every measured length for one more timed call of each kind (no
    warm-up: the shapes have been seen). So every length's repeats are spread over the
    whole run: a slowdown of the machine lands on all lengths alike instead of bending
    the cost-vs-length curve, and it shows in each length's spread.
    """
    m = measure
    rounds, counts = m.repeats, _counts(m)
    # The first visit of a length times its first round's share of each kind's calls.
    first_counts = {kind: _share(counts[kind], rounds, 0) for kind in KINDS}
    lengths = sorted(m.seq_lens)
    planned = len(lengths) * rounds
    visits = 0
    points: dict[int, dict[str, Any]] = {}
    measured: dict[int, dict[str, list[float]]] = {}  # ok lengths: kind -> seconds
    stop_reason = None
    for seq_len in lengths:
        point: dict[str, Any] = {
            "row_kind": "cost",
            "seq_len": seq_len,
            "state_bytes": state_bytes(model, seq_len, dtype),
        }
        points[seq_len] = point
        if stop_reason is not None:
            point.update(status=stop_reason[0], error=stop_reason[1])
            planned -= rounds
            continue
        started = time.perf_counter()
        try:
            cost = measure_cost(model, m, dtype, device, seq_len, vocab_size, first_counts)
        except Exception as error:
            if not is_oom(error):
                raise
            free_cached_memory(device)
            point.update(status="oom", error=one_line(error))
            stop_reason = ("oom", f"not attempted: out of memory at L={seq_len}")
            planned -= rounds - 1
        else:
            took = time.perf_counter() - started
            measured[seq_len] = {kind: cost.pop(f"{kind}_times_s") for kind in KINDS}
            cost.pop("timing_spread")
            point.update(cost, status="ok")
            one_round = sum(times[-1] for times in measured[seq_len].values())
            projected = took + (rounds - 1) * one_round
            if projected > m.max_time_s:
                stop_reason = (
                    "skipped",
                    f"not attempted: L={seq_len} takes ~{projected:.0f} s "
                    f"> measure.max_time_s={m.max_time_s:g}",
                )
        visits += 1
        if on_step is not None:
            on_step(visits, planned)

    if rounds > 1 and measured:
        optimizer = _optimizer(model)
        # AdamW allocates its moments on the first step; do that step untimed.
        _Calls(
            model, device, dtype, m.batch_size, min(measured), vocab_size, optimizer
        ).train_step()
        for index in range(1, rounds):
            round_counts = {kind: _share(counts[kind], rounds, index) for kind in KINDS}
            for seq_len in list(measured):
                calls = _Calls(model, device, dtype, m.batch_size, seq_len, vocab_size, optimizer)
                try:
                    timings = time_interleaved(calls.by_kind(), round_counts, device)
                except Exception as error:
                    if not is_oom(error):
                        raise
                    # Out of memory on a revisit (fragmentation): this length keeps the
                    # calls timed so far, which its *_times_s lists show.
                    del calls
                    free_cached_memory(device)
                    planned -= rounds - index
                    _finish(points[seq_len], measured.pop(seq_len), m.batch_size)
                    continue
                for kind in KINDS:
                    measured[seq_len][kind] += timings[kind].samples_s
                visits += 1
                if on_step is not None:
                    on_step(visits, planned)
    for seq_len, times in measured.items():
        _finish(points[seq_len], times, m.batch_size)
    for seq_len in lengths:  # counted, not timed: every length, measured or not
        points[seq_len].update(flop_columns(model, seq_len, vocab_size))
    return [points[seq_len] for seq_len in lengths]


def _finish(point: dict[str, Any], times: dict[str, list[float]], batch_size: int) -> None:
    """Throughputs and spread of a point from all of its timed calls."""
    timings = {kind: Timing(tuple(times[kind])) for kind in KINDS}
    point.update(_summary(timings, batch_size, point["seq_len"]))
