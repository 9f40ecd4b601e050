"""Generation throughput: a prompt of P tokens, then G tokens one by one, at growing batches.

    generation_points(model, measure, device, vocab_size) -> list[dict]

The setting of Gu & Dao (2023, §4.5, Fig. 8): prompt 2,048 tokens, 128 generated, batch
1 to 128, throughput = batch × G / time. One *generation* of a batch of B prompts is

1. **prefill**, timed: the model's parallel forward over the (B, P) prompt, as a serving
   system computes it (``torch.no_grad``);
2. the state that forward would leave (the KV cache of attention, the scan state of a
   recurrence), built untimed at its size (``bench.run.measure.state_at``): decode cost
   depends on the state's size, not its values;
3. **decode**, timed: G greedy steps through the model's ``step``, each token the argmax
   of the previous step's logits.

The model runs in ``measure.generate.dtype`` (a copy cast to it, as inference serves
bf16 or fp16 weights; float32 by default). Throughput is B·G over the median of prefill + decode seconds (Mamba's benchmark times
prompt processing and decoding together); decode-only throughput is kept too. Peak
memory covers the whole generation (``PeakMemory``: the CUDA allocator, or the CPU's
resident set). CUDA graphs are not used: a block's ``step`` grows its state (attention
concatenates its KV cache), so the shapes change with every token.

Batch sizes are taken in rounds, as ``cost_points`` takes lengths: the first round visits
each batch size from small to large, measures its peak memory (that generation is untimed
and warms up) and times one generation; running out of memory there is the batch's
status (``oom``) and larger batches are not tried, nor once a batch's peak memory passes
``measure.generate.max_memory_gb`` or its projected time passes ``measure.max_time_s``.
Each later round times one more generation of every measured batch size, so a slowdown
of the machine lands on every batch size alike.
"""

from __future__ import annotations

import copy
import statistics
import time
from typing import Any

import torch

from architectures import SequenceModel
from bench.run import StepCallback
from bench.run.cost import state_bytes
from bench.run.measure import (
    PeakMemory,
    free_cached_memory,
    is_oom,
    one_line,
    state_at,
    synchronize,
)
from bench.sweep.config import DTYPES, GenerateSection, MeasureSection


class _Generation:
    """One batch size's prompts, and one generation of them (prefill, then decode)."""

    def __init__(
        self,
        model: SequenceModel,
        setting: GenerateSection,
        device: torch.device,
        batch_size: int,
        vocab_size: int,
    ) -> None:
        self.model, self.setting, self.device = model, setting, device
        self.batch_size, self.vocab_size = batch_size, vocab_size
        generator = torch.Generator().manual_seed(batch_size)
        shape = (batch_size, setting.prompt_len)
        self.prompt = torch.randint(0, vocab_size, shape, generator=generator).to(device)

    @torch.no_grad()
    def run(self) -> tuple[float, float]:
        """Seconds of the prefill and of the G decode steps."""
        model, device = self.model, self.device
        synchronize(device)
        start = time.perf_counter()
        logits = model(self.prompt)[:, -1]  # (B, V)
        synchronize(device)
        prefilled = time.perf_counter()
        # What the prefill leaves, at its size (untimed): the KV cache of P tokens, a scan
        # state, an input history.
        states = state_at(model, self.batch_size, self.setting.prompt_len, self.vocab_size, device)
        synchronize(device)
        decoding = time.perf_counter()
        token = logits.argmax(-1)
        for _ in range(self.setting.new_tokens):
            logits, states = model.step(token, states)
            token = logits.argmax(-1)
        synchronize(device)
        return prefilled - start, time.perf_counter() - decoding


def _in_dtype(model: SequenceModel, dtype: torch.dtype) -> SequenceModel:
    """``model`` itself when it already holds ``dtype``, else a copy cast to it."""
    if all(p.dtype == dtype for p in model.parameters()):
        return model
    return copy.deepcopy(model).to(dtype)


def _summary(
    point: dict[str, Any], prefill_s: list[float], decode_s: list[float], new_tokens: int
) -> None:
    total = [p + d for p, d in zip(prefill_s, decode_s, strict=True)]
    batch = point["batch_size"]
    point.update(
        generate_tokens_per_s=batch * new_tokens / statistics.median(total),
        generate_decode_tokens_per_s=batch * new_tokens / statistics.median(decode_s),
        generate_times_s=total,
        generate_prefill_times_s=list(prefill_s),
        generate_decode_times_s=list(decode_s),
    )


def generation_points(
    model: SequenceModel,
    measure: MeasureSection,
    device: torch.device,
    vocab_size: int,
    on_step: StepCallback | None = None,
) -> list[dict[str, Any]]:
    """One point per ``measure.generate.batch_sizes`` (``row_kind="generate"``), the batch
    sizes taken in ``measure.repeats`` rounds (see the module docstring)."""
    setting = measure.generate
    if setting is None:
        raise ValueError("generation_points needs measure.generate")
    rounds = measure.repeats
    dtype = DTYPES[setting.dtype]
    model = _in_dtype(model, dtype)
    model.eval()
    cap = None if setting.max_memory_gb is None else setting.max_memory_gb * 2**30
    planned, visits = len(setting.batch_sizes) * rounds, 0
    points: dict[int, dict[str, Any]] = {}
    times: dict[int, tuple[list[float], list[float]]] = {}  # ok batch sizes
    stop = None
    for batch in setting.batch_sizes:
        point: dict[str, Any] = {
            "row_kind": "generate",
            "batch_size": batch,
            "prompt_len": setting.prompt_len,
            "new_tokens": setting.new_tokens,
            "state_bytes": state_bytes(model, setting.prompt_len + setting.new_tokens, dtype),
            "cuda_graphs": False,
        }
        points[batch] = point
        if stop is not None:
            point.update(status=stop[0], error=stop[1])
            planned -= rounds
            continue
        started = time.perf_counter()
        try:
            generation = _Generation(model, setting, device, batch, vocab_size)
            with PeakMemory(device) as peak:
                generation.run()  # untimed: measures memory, warms up
            for _ in range(measure.warmup):
                generation.run()
            prefill_s, decode_s = generation.run()
        except Exception as error:
            if not is_oom(error):
                raise
            free_cached_memory(device)
            point.update(status="oom", error=one_line(error))
            stop = ("oom", f"not attempted: out of memory at batch {batch}")
            planned -= rounds - 1
        else:
            took = time.perf_counter() - started
            times[batch] = ([prefill_s], [decode_s])
            point.update(status="ok", peak_memory_generate_bytes=peak.bytes, memory_kind=peak.kind)
            projected = took + (rounds - 1) * (prefill_s + decode_s)
            if cap is not None and peak.bytes > cap:
                stop = (
                    "skipped",
                    f"not attempted: batch {batch} peaked at {peak.bytes / 2**30:.2f} GiB "
                    f"> measure.generate.max_memory_gb={setting.max_memory_gb:g}",
                )
            elif projected > measure.max_time_s:
                stop = (
                    "skipped",
                    f"not attempted: batch {batch} takes ~{projected:.0f} s "
                    f"> measure.max_time_s={measure.max_time_s:g}",
                )
        visits += 1
        if on_step is not None:
            on_step(visits, planned)
    active = list(times)
    for index in range(1, rounds):
        for batch in list(active):
            try:
                generation = _Generation(model, setting, device, batch, vocab_size)
                prefill_s, decode_s = generation.run()
            except Exception as error:
                if not is_oom(error):
                    raise
                # Out of memory on a revisit (fragmentation): this batch size keeps the
                # generations timed so far, which its *_times_s lists show.
                del generation
                free_cached_memory(device)
                active.remove(batch)
                planned -= rounds - index
                continue
            times[batch][0].append(prefill_s)
            times[batch][1].append(decode_s)
            visits += 1
            if on_step is not None:
                on_step(visits, planned)
    for batch, (prefill_s, decode_s) in times.items():
        _summary(points[batch], prefill_s, decode_s, setting.new_tokens)
    return [points[batch] for batch in setting.batch_sizes]
