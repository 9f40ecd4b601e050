"""Generation throughput read back from the results, and the claim that Mamba generates
4–5× faster than a Transformer (Gu & Dao 2023, §4.5, Fig. 8).

    generation_series(results, "mamba") -> GenerationSeries | None
    claim_generation(results, rng) -> Claim

The rows are ``row_kind="generate"`` (``bench.run.generate``): one per batch size, every
timed generation's seconds kept. Two ratios of Mamba's throughput to the Transformer's:

- **at equal memory**: each block's best throughput over the batch sizes whose peak memory
  stays within what the Transformer's largest batch needed (its last batch before running
  out of memory, the memory cap or the batch list's end). This is the paper's comparison:
  on one GPU, Mamba keeps no KV cache and fits larger batches.
- **at equal batch**: both at the largest batch size both ran.

Each ratio's 95 % interval is a percentile bootstrap over the timed generations: every
batch size's generations resampled with replacement, the median throughput of each, the
best of those within the memory budget, the ratio; 2,000 times.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bench.analysis.cost_series import _samples
from bench.analysis.verdicts import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    LEVEL,
    MIN_REPEATS,
    RESAMPLES,
    UNKNOWN,
    Claim,
    Interval,
    decide,
)
from bench.store import cells
from bench.store.formats import format_bytes, format_count

PAPER_RATIO = 4.0  # Gu & Dao (2023) §4.5: "4-5x higher inference throughput"
PAPER_SETTING = (
    "Mamba-1.4B against a Transformer of 1.3B parameters on an A100 80GB, prompt 2,048 "
    "tokens, 128 generated, batch 1–128"
)


@dataclass(frozen=True)
class GenerationSeries:
    """One architecture's generation throughput by batch size, from one setup."""

    architecture: str
    throughput: dict[int, np.ndarray]  # batch -> tokens/s of every timed generation
    memory: dict[int, float]  # batch -> peak memory of the generation (bytes)
    decode: dict[int, np.ndarray]  # batch -> tokens/s of the decode steps alone
    stopped: str  # why larger batches were not run ("" when the batch list ended)
    prompt_len: int
    new_tokens: int
    setup: str  # "d_model=256, 2 layers, 3.4M params, float32, AMD EPYC (2 cores)"

    def best(self, budget: float = np.inf) -> int | None:
        """The batch size of the highest median throughput within ``budget`` bytes."""
        within = [b for b in self.throughput if self.memory.get(b, np.inf) <= budget]
        return max(within, key=lambda b: np.median(self.throughput[b])) if within else None


def generation_series(results: pd.DataFrame, architecture: str) -> GenerationSeries | None:
    """The generation rows of ``architecture``; with several cells, the one with the most
    batch sizes. None without ok generation rows."""
    if "generate_times_s" not in results.columns:
        return None
    results = cells.prepare(results)
    rows = results[(results["row_kind"] == "generate") & (results["architecture"] == architecture)]
    ok = rows[rows["status"] == "ok"]
    if ok.empty:
        return None
    cell = max(
        (g for _, g in ok.groupby("variant", dropna=False)),
        key=lambda g: g["batch_size"].nunique(),
    )
    failed = rows[(rows["status"] != "ok") & rows["variant"].isin(cell["variant"])]
    throughput, memory, decode = {}, {}, {}
    for batch, group in cell.groupby("batch_size"):
        batch = int(batch)
        samples = [s for s in map(_samples, group["generate_times_s"]) if s is not None]
        if not samples:
            continue
        tokens = batch * float(group["new_tokens"].iloc[0])
        throughput[batch] = tokens / np.concatenate(samples)
        memory[batch] = float(pd.to_numeric(group["peak_memory_generate_bytes"]).median())
        steps = [
            s for s in map(_samples, group.get("generate_decode_times_s", [])) if s is not None
        ]
        if steps:
            decode[batch] = tokens / np.concatenate(steps)
    if not throughput:
        return None
    stopped = ""
    if len(failed):
        first = failed.sort_values("batch_size").iloc[0]
        stopped = f"batch {first['batch_size']:.0f}: {first['status']}"
    return GenerationSeries(
        architecture,
        throughput,
        memory,
        decode,
        stopped,
        int(cell["prompt_len"].iloc[0]),
        int(cell["new_tokens"].iloc[0]),
        _setup(cell),
    )


def _setup(rows: pd.DataFrame) -> str:
    first = rows.iloc[0]
    parts = []
    for column, text in (("d_model", "d_model={:.0f}"), ("n_layers", "{:.0f} layers")):
        if column in rows and pd.notna(first.get(column)):
            parts.append(text.format(first[column]))
    if "params" in rows and pd.notna(first.get("params")):
        parts.append(f"{format_count(first['params'])} params")
    dtype = first.get("measure.generate.dtype")
    parts.append(str(dtype) if isinstance(dtype, str) else "float32")
    if "device_name" in rows and pd.notna(first.get("device_name")):
        parts.append(str(first["device_name"]))
    return ", ".join(parts)


def _resampled_medians(samples: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    return np.median(samples[rng.integers(0, len(samples), (n, len(samples)))], axis=1)


@dataclass(frozen=True)
class Ratio:
    value: float
    interval: Interval | None
    mamba_batch: int
    transformer_batch: int

    def text(self) -> str:
        spread = f" ({self.interval.text(1)})" if self.interval else " (no interval)"
        return f"×{self.value:.2f}{spread}"


def throughput_ratio(
    mamba: GenerationSeries,
    transformer: GenerationSeries,
    rng: np.random.Generator,
    *,
    budget: float | None = None,
    batch: int | None = None,
    resamples: int = RESAMPLES,
) -> Ratio | None:
    """Mamba's best throughput over the Transformer's: each within ``budget`` bytes, or
    both at ``batch``; with its bootstrap interval (None below ``MIN_REPEATS`` timed
    generations at a batch size taken into account)."""
    if batch is not None:
        m_batches = t_batches = [batch]
    else:
        limit = np.inf if budget is None else budget
        m_batches = [b for b in mamba.throughput if mamba.memory.get(b, np.inf) <= limit]
        t_batches = [
            b for b in transformer.throughput if transformer.memory.get(b, np.inf) <= limit
        ]
    if not m_batches or not t_batches:
        return None
    m_best = max(m_batches, key=lambda b: np.median(mamba.throughput[b]))
    t_best = max(t_batches, key=lambda b: np.median(transformer.throughput[b]))
    value = float(np.median(mamba.throughput[m_best]) / np.median(transformer.throughput[t_best]))
    used = [mamba.throughput[b] for b in m_batches] + [transformer.throughput[b] for b in t_batches]
    interval = None
    if min(len(s) for s in used) >= MIN_REPEATS:
        m = np.max([_resampled_medians(mamba.throughput[b], rng, resamples) for b in m_batches], 0)
        t = np.max(
            [_resampled_medians(transformer.throughput[b], rng, resamples) for b in t_batches], 0
        )
        tail = (1 - LEVEL) / 2
        low, high = np.quantile(m / t, [tail, 1 - tail])
        interval = Interval(float(low), float(high))
    return Ratio(value, interval, m_best, t_best)


def _best_text(series: GenerationSeries, batch: int) -> str:
    rate = np.median(series.throughput[batch])
    rate_text = f"{rate:.0f}" if rate < 1000 else format_count(rate)
    return (
        f"{series.architecture} {rate_text} tok/s at batch {batch} "
        f"({format_bytes(series.memory[batch])})"
    )


METHOD = (
    f"bootstrap over timed generations: each batch size's generations resampled {RESAMPLES:,} "
    "times, the median throughput of each, the best within the memory budget (or at the "
    "batch), the ratio; 2.5th–97.5th percentile"
)


def claim_generation(results: pd.DataFrame, rng: np.random.Generator) -> Claim:
    statement = (
        "Mamba generates 4–5× faster than a Transformer of similar size, from larger batches"
    )
    boundary = (
        f"the ratio of Mamba's best generation throughput to the Transformer's, each within "
        f"the peak memory of the Transformer's largest batch (equal memory), ≥ {PAPER_RATIO:g}: "
        f"holds when its whole 95 % interval is at or above {PAPER_RATIO:g}, does not hold "
        "when it lies wholly below. Throughput = batch × generated tokens / (prefill + "
        "decode) time, as in the paper; the ratio at equal batch is shown beside it"
    )
    paper = "Gu & Dao 2023, §4.5 and Fig. 8"
    says = f"4–5× higher inference throughput ({PAPER_SETTING})"
    mamba, transformer = (generation_series(results, n) for n in ("mamba", "transformer"))
    if mamba is None or transformer is None:
        return Claim(
            "f",
            statement,
            UNKNOWN,
            "needs generation rows of Mamba and the Transformer (run the `generate` preset)",
            detail="no data",
            boundary=boundary,
            paper=paper,
            says=says,
        )
    if (mamba.prompt_len, mamba.new_tokens) != (transformer.prompt_len, transformer.new_tokens):
        return Claim(
            "f",
            statement,
            UNKNOWN,
            "Mamba and the Transformer were run with different prompts or generation lengths",
            detail="not comparable",
            boundary=boundary,
            paper=paper,
            says=says,
        )
    budget = max(transformer.memory[b] for b in transformer.throughput)
    at_memory = throughput_ratio(mamba, transformer, rng, budget=budget)
    common = sorted(set(mamba.throughput) & set(transformer.throughput))
    at_batch = throughput_ratio(mamba, transformer, rng, batch=common[-1]) if common else None
    setting = (
        f"prompt {transformer.prompt_len} + {transformer.new_tokens} generated; "
        f"mamba {mamba.setup}; transformer {transformer.setup}"
    )
    if at_memory is None:
        return Claim(
            "f",
            statement,
            UNKNOWN,
            f"no Mamba batch fits in the Transformer's {format_bytes(budget)}; {setting}",
            detail="no data",
            boundary=boundary,
            paper=paper,
            says=says,
        )
    evidence = (
        f"at equal memory (≤ {format_bytes(budget)}): {_best_text(mamba, at_memory.mamba_batch)}"
        f" vs {_best_text(transformer, at_memory.transformer_batch)}: {at_memory.text()}"
    )
    if at_batch is not None:
        evidence += f"; at equal batch {common[-1]}: {at_batch.text()}"
        decoding = [dataclasses.replace(s, throughput=s.decode) for s in (mamba, transformer)]
        if all(common[-1] in s.throughput for s in decoding):
            alone = throughput_ratio(*decoding, rng, batch=common[-1])
            evidence += f", decode alone (no prefill) {alone.text()}"
    ends = [f"{s.architecture} stopped at {s.stopped}" for s in (transformer, mamba) if s.stopped]
    batches = sorted(set(mamba.throughput) | set(transformer.throughput))
    evidence += f"; batches {batches[0]}–{batches[-1]}" + (f" ({'; '.join(ends)})" if ends else "")
    evidence += f"; {setting}"
    verdict = decide(at_memory.interval, low=PAPER_RATIO)
    if at_memory.interval is None:
        detail = f"×{at_memory.value:.2f}, fewer than {MIN_REPEATS} generations per batch"
    elif verdict == HOLDS:
        detail = ""
    else:
        detail = f"×{at_memory.value:.2f}, interval {at_memory.interval.text(2)}"
    if verdict not in (HOLDS, FAILS, INCONCLUSIVE):
        verdict = INCONCLUSIVE
    return Claim("f", statement, verdict, evidence, detail, boundary, METHOD, paper, says)
