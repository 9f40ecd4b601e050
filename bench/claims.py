"""The claims the report checks, each decided by an interval rather than a point estimate.

    check_claims(results) -> list[Claim]

(a) attention cost is quadratic in length; (b) RWKV and Mamba cost is linear; (c) decode
memory (recurrent state) is constant for LSTM / RWKV / Mamba and grows for attention;
(d) attention solves MQAR at small width where attention-free blocks do not.

**Verdicts.** ``holds`` or ``does not hold`` only when the whole 95 % interval of the
measured figure lies on one side of the claim's boundary; ``inconclusive`` when it
straddles the boundary, or when the lengths measured are too short to show the regime
the claim is about; ``unknown`` when the results hold no data for the claim. Each claim
carries its boundary and why, the lengths (or seeds) its figures come from, and how the
interval was computed.

**Cost slopes** (a, b). The exponent s of time ∝ L^s is the least-squares slope of the
per-length median log-time on log L, over the longest half of the measured lengths (at
least 3). Its interval is a percentile bootstrap over repeats: each length's timed calls
(``prefill_times_s``, else ``train_times_s``; every repeat of every length) are resampled
with replacement 2,000 times, each resample gives a slope, and the interval runs from the
2.5th to the 97.5th percentile. The median, not the mean, because the noise on a shared
machine is one-sided: another process only ever makes a call slower. Results recorded
before seqbench kept every call's seconds (or with fewer than 3 repeats per length) fall
back to the regression interval of the same fit through the per-length medians
(slope ± t(0.975, n−2) · standard error), which is far wider with three lengths; the
claim says so.

**Accuracy** (d). Mean over seeds with a t interval, mean ± t(0.975, n−1) · sd / √n,
clipped to [0, 1]. One seed gives no interval, and no margin from the boundary is safe
without one (MQAR accuracy can land on either side of 0.9 from the seed alone), so a
claim resting on one seed is inconclusive until more seeds are run.

**State size** (c) is counted from each block's ``state_size``, not timed: it has no
noise and needs no interval.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

from bench import cells, plots
from bench.plots import check_results, format_bytes, format_length

HOLDS, FAILS, INCONCLUSIVE, UNKNOWN = "holds", "does not hold", "inconclusive", "unknown"
LEVEL = 0.95
RESAMPLES = 2000
MIN_REPEATS = 3  # per length, for a bootstrap over repeats
L2_PRESENT = 0.01  # an L² term below 1 % of the linear one at the longest length is absent
QUADRATIC_SLOPE = 1.5
LINEAR_SLOPE = (0.8, 1.25)
SOLVED = 0.9
RECURRENT = ("lstm", "rwkv", "mamba")
ATTENTION = ("transformer",)


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def text(self, digits: int = 2) -> str:
        return f"{self.low:.{digits}f}–{self.high:.{digits}f}"


@dataclass(frozen=True)
class Claim:
    key: str
    statement: str
    verdict: str  # HOLDS, FAILS, INCONCLUSIVE or UNKNOWN
    evidence: str  # the measured figures, their intervals and where they come from
    detail: str = ""  # the verdict's parenthesis: an interval, "lengths too short", ...
    boundary: str = ""  # what is tested, and why there
    method: str = ""  # how the interval was computed

    @property
    def label(self) -> str:
        """The verdict as the report shows it: ``inconclusive (interval 1.42–1.53)``."""
        return f"{self.verdict} ({self.detail})" if self.detail else self.verdict


def decide(interval: Interval | None, low: float = -math.inf, high: float = math.inf) -> str:
    """HOLDS if ``interval`` lies inside [low, high], FAILS if wholly outside, else INCONCLUSIVE."""
    if interval is None:
        return INCONCLUSIVE
    if low <= interval.low and interval.high <= high:
        return HOLDS
    if interval.high < low or interval.low > high:
        return FAILS
    return INCONCLUSIVE


def any_of(verdicts: Sequence[str]) -> str:
    """At least one of several alternatives: HOLDS if any holds, FAILS if all fail."""
    if HOLDS in verdicts:
        return HOLDS
    if verdicts and all(v == FAILS for v in verdicts):
        return FAILS
    return INCONCLUSIVE


def all_of(verdicts: Sequence[str]) -> str:
    """All parts of a claim together: FAILS if any part fails, HOLDS if all hold."""
    if FAILS in verdicts:
        return FAILS
    if verdicts and all(v == HOLDS for v in verdicts):
        return HOLDS
    return INCONCLUSIVE


# --------------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class Slope:
    """Exponent s of time ∝ L^s over ``lengths``, with its interval."""

    value: float
    interval: Interval
    lengths: tuple[int, ...]
    repeats: tuple[int, ...]  # timed calls per fitted length (1: only a median is known)
    method: str

    def text(self) -> str:
        span = ", ".join(format_length(v) for v in self.lengths)
        counts = sorted(set(self.repeats))
        each = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"
        calls = "medians only" if counts == [1] else f"{each} repeats each"
        return f"L^{self.value:.2f} ({self.interval.text()}) over L={span} ({calls})"


def _bootstrap_medians(
    logs: Sequence[np.ndarray], rng: np.random.Generator, resamples: int
) -> np.ndarray:
    """(resamples, lengths): the median of each length's repeats, resampled with replacement."""
    columns = [np.median(x[rng.integers(0, len(x), (resamples, len(x)))], axis=1) for x in logs]
    return np.column_stack(columns)


def fit_slope(
    seconds: Mapping[int, np.ndarray],
    rng: np.random.Generator,
    *,
    long_end: bool = True,
    resamples: int = RESAMPLES,
) -> Slope | None:
    """Log-log slope of time on length with its 95 % interval; None below 3 lengths.

    ``seconds`` maps each length to every timed call's seconds there. With ``long_end``
    only the longest half of the lengths (at least 3) is fitted. Bootstrap over repeats
    when every fitted length has ``MIN_REPEATS`` calls, else the regression interval
    through the per-length medians (see the module docstring).
    """
    lengths = sorted(length for length, s in seconds.items() if len(s))
    if len(lengths) < 3:
        return None
    if long_end:
        lengths = lengths[-max(3, math.ceil(len(lengths) / 2)) :]
    x = np.log(np.asarray(lengths, float))
    xc = x - x.mean()
    sxx = float(xc @ xc)
    logs = [np.log(np.asarray(seconds[length], float)) for length in lengths]
    medians = np.array([np.median(v) for v in logs])
    value = float(xc @ medians / sxx)
    repeats = tuple(len(v) for v in logs)
    tail = (1 - LEVEL) / 2
    if min(repeats) >= MIN_REPEATS:
        slopes = _bootstrap_medians(logs, rng, resamples) @ xc / sxx
        low, high = np.quantile(slopes, [tail, 1 - tail])
        method = (
            f"bootstrap over repeats: each length's timed calls resampled {resamples:,} times; "
            "slope of the per-length median log-time on log L; 2.5th–97.5th percentile"
        )
    else:
        residual = medians - medians.mean() - value * xc
        dof = len(lengths) - 2
        se = math.sqrt(float(residual @ residual) / dof / sxx)
        half = float(stats.t.ppf(1 - tail, dof)) * se
        low, high = value - half, value + half
        why = (
            "these results keep no per-call times (recorded before seqbench kept them)"
            if max(repeats) == 1
            else f"fewer than {MIN_REPEATS} repeats at some length"
        )
        method = (
            f"regression interval through the per-length medians (t, {dof} df), "
            f"wide with few lengths: {why}"
        )
    return Slope(value, Interval(float(low), float(high)), tuple(lengths), repeats, method)


def quadratic_share(
    seconds: Mapping[int, np.ndarray], rng: np.random.Generator, resamples: int = RESAMPLES
) -> tuple[float, float | None]:
    """Where an L² term catches up with the linear ones, and how sure that it is there.

    Fits time ≈ c + a·L + b·L² (non-negative, on relative error so every length counts
    alike) through the per-length medians of all lengths. Returns L* = a / b of that fit
    (inf when it needs no L² term) and the share of bootstrap resamples of the medians
    whose fit has an L² term (one reaching ``L2_PRESENT`` of the linear term by the
    longest length); the share is None without ``MIN_REPEATS`` calls at every length.
    """
    lengths = sorted(length for length, s in seconds.items() if len(s))
    scaled = np.asarray(lengths, float) / lengths[-1]
    design = np.column_stack([np.ones_like(scaled), scaled, scaled**2])
    logs = [np.log(np.asarray(seconds[length], float)) for length in lengths]

    def ratio(log_medians: np.ndarray) -> float:
        """The L² term over the linear one at the longest length."""
        times = np.exp(log_medians)
        (_, a, b), _ = optimize.nnls(design / times[:, None], np.ones(len(times)))
        return b / a if a > 0 else (math.inf if b > 0 else 0.0)

    point = ratio(np.array([np.median(v) for v in logs]))
    crossover = lengths[-1] / point if point > 0 else math.inf
    if min(len(v) for v in logs) < MIN_REPEATS:
        return crossover, None
    ratios = np.array([ratio(row) for row in _bootstrap_medians(logs, rng, resamples)])
    return crossover, float(np.mean(ratios >= L2_PRESENT))


def mean_interval(
    values: Sequence[float], low: float = -math.inf, high: float = math.inf
) -> tuple[float, Interval | None]:
    """Mean and its t interval (clipped to [low, high]); no interval from one value."""
    values = np.asarray(values, float)
    mean = float(values.mean())
    if len(values) < 2:
        return mean, None
    half = float(stats.t.ppf(1 - (1 - LEVEL) / 2, len(values) - 1)) * values.std(ddof=1)
    half /= math.sqrt(len(values))
    return mean, Interval(max(low, mean - half), min(high, mean + half))


# --------------------------------------------------------------------------- cost data


def _samples(cell: object) -> np.ndarray | None:
    """Every timed call's seconds from a ``*_times_s`` cell (list, array or JSON text)."""
    if isinstance(cell, str):
        try:
            cell = json.loads(cell)
        except ValueError:
            return None
    if not isinstance(cell, list | tuple | np.ndarray):
        return None
    values = np.asarray(cell, float)
    values = values[np.isfinite(values) & (values > 0)]
    return values if values.size else None


@dataclass(frozen=True)
class CostSeries:
    """One architecture's timed calls by length, from one measurement setup."""

    architecture: str
    kind: str  # "prefill" or "training"
    seconds: dict[int, np.ndarray]  # every call's seconds; one median per length if no repeats
    setup: str  # "d_model=256, batch 2, AMD EPYC (2 cores)"


def cost_series(results: pd.DataFrame, architecture: str) -> CostSeries | None:
    """Prefill (else training) seconds by length for ``architecture``; None below 3 lengths.

    The rows of one cell (``bench.cells``: runs that differ in nothing but the seed, from
    one sweep, commit and device) are pooled; with several cells, the one with the most
    lengths is used, then one that keeps every call, then the widest. Where
    the rows keep every call (``prefill_times_s``), those are the samples; otherwise the
    median per length, from throughput.
    """
    results = cells.prepare(results)
    rows = results[
        (results["row_kind"] == "cost")
        & (results["status"] == "ok")
        & (results["architecture"] == architecture)
    ]
    keys = ["variant"]
    for throughput, kind in (("prefill_tokens_per_s", "prefill"), ("train_tokens_per_s", "train")):
        if throughput not in rows.columns:
            continue
        data = rows[pd.to_numeric(rows[throughput], errors="coerce") > 0]
        if data.empty:
            continue
        groups = [g for _, g in data.groupby(keys, dropna=False)]
        calls = f"{kind}_times_s"
        best = max(
            groups,
            key=lambda g: (
                g["eval_seq_len"].nunique(),
                calls in g and g[calls].map(lambda cell: _samples(cell) is not None).all(),
                g["d_model"].max() if "d_model" in g else 0,
            ),
        )
        if best["eval_seq_len"].nunique() < 3:
            continue
        seconds = _seconds_by_length(best, kind, throughput)
        label = "training" if kind == "train" else kind
        return CostSeries(architecture, label, seconds, _setup(best))
    return None


def _seconds_by_length(rows: pd.DataFrame, kind: str, throughput: str) -> dict[int, np.ndarray]:
    column = f"{kind}_times_s"
    by_length = {}
    for length, group in rows.groupby("eval_seq_len"):
        found = [s for s in map(_samples, group.get(column, [])) if s is not None]
        by_length[int(length)] = np.concatenate(found) if found else None
    if all(v is not None for v in by_length.values()):
        return by_length
    # No per-call times: one median per length, seconds per sequence from throughput.
    per_sequence = rows["eval_seq_len"] / pd.to_numeric(rows[throughput])
    medians = per_sequence.groupby(rows["eval_seq_len"]).median()
    return {int(length): np.array([value]) for length, value in medians.items()}


def _setup(rows: pd.DataFrame) -> str:
    parts = []
    if "d_model" in rows and rows["d_model"].notna().any():
        parts.append(f"d_model={rows['d_model'].iloc[0]:.0f}")
    if "measure.batch_size" in rows and rows["measure.batch_size"].notna().any():
        parts.append(f"batch {rows['measure.batch_size'].iloc[0]:.0f}")
    if "device_name" in rows and rows["device_name"].notna().any():
        parts.append(str(rows["device_name"].iloc[0]))
    return ", ".join(parts)


def _about(length: float) -> str:
    """A fitted length, rounded: 33145 -> "32K"."""
    for unit, suffix in ((2**20, "M"), (2**10, "K")):
        if length >= unit:
            return f"{length / unit:.{1 if length < 10 * unit else 0}f}{suffix}"
    return f"{length:.0f}"


def _oom_from(results: pd.DataFrame, architecture: str) -> float | None:
    rows = results[(results["row_kind"] == "cost") & (results["architecture"] == architecture)]
    oom = rows.loc[rows["status"] == "oom", "eval_seq_len"]
    return float(oom.min()) if len(oom) else None


# --------------------------------------------------------------------------- claims


_SLOPE_WHY = (
    "With time ≈ a·L + b·L², the log-log slope is (1 + 2r)/(1 + r), r = b·L/a the L² term's "
    "share: it passes 1.5 exactly where the L² term equals the linear layers and nears 2 "
    "only well beyond. Where that happens depends on the width (the linear layers grow "
    "as d_model², attention as d_model) and on the device's kernels"
)


def _claim_quadratic(results: pd.DataFrame, rng: np.random.Generator) -> Claim:
    statement = "Attention cost grows quadratically with sequence length"
    boundary = f"slope ≥ {QUADRATIC_SLOPE} at the longest lengths: the L² term dominates. " + (
        _SLOPE_WHY
    )
    series = cost_series(results, "transformer")
    if series is None:
        return Claim(
            "a",
            statement,
            UNKNOWN,
            "needs ≥ 3 ok Transformer cost lengths (run the `scaling` preset)",
            detail="no data",
            boundary=boundary,
        )
    slope = fit_slope(series.seconds, rng)
    evidence = f"transformer {series.kind} time ∝ {slope.text()}; {series.setup}"
    if (oom := _oom_from(results, "transformer")) is not None:
        evidence += f"; out of memory from L={format_length(oom)}"
    verdict = decide(slope.interval, low=QUADRATIC_SLOPE)
    detail = f"interval {slope.interval.text()}" if verdict == INCONCLUSIVE else ""
    if verdict == FAILS:
        crossover, share = quadratic_share(series.seconds, rng)
        if share is None:
            present = crossover * L2_PRESENT <= slope.lengths[-1]
            how_sure = "in the fit through the medians"
        else:
            present = share >= 1 - (1 - LEVEL) / 2
            how_sure = f"in {share:.0%} of resamples"
        if present:
            verdict, detail = INCONCLUSIVE, "lengths too short"
            evidence += f". The L² term is there ({how_sure}) but does not dominate"
            if crossover > slope.lengths[0]:
                longer = format_length(2 ** round(math.log2(4 * crossover)))
                evidence += (
                    f" yet: a fit of c + a·L + b·L² puts it level with the linear layers near "
                    f"L≈{_about(crossover)}, so the slope can reach {QUADRATIC_SLOPE} only "
                    f"over lengths past that (e.g. up to {longer})"
                )
            else:
                evidence += ": a fixed per-call cost still flattens the slope at these lengths"
        else:
            evidence += ". No L² term shows in a fit of c + a·L + b·L²: the cost is not quadratic"
    return Claim("a", statement, verdict, evidence, detail, boundary, slope.method)


def _claim_linear(results: pd.DataFrame, rng: np.random.Generator) -> Claim:
    statement = "RWKV and Mamba cost grows linearly with sequence length"
    lo, hi = LINEAR_SLOPE
    boundary = (
        f"slope within {lo}–{hi} at the longest lengths. Below {lo}, cost per token still "
        f"falls by more than {1 - 2 ** (lo - 1):.0%} per doubling: fixed per-call costs "
        f"(Python, kernel launches) are still being amortized and the lengths are too "
        f"short to show the asymptotic slope. Above {hi}, cost per token grows by more than "
        f"{2 ** (hi - 1) - 1:.0%} per doubling: the cost is not linear at these lengths"
    )
    parts, verdicts, details, methods = [], [], [], []
    for name in ("rwkv", "mamba"):
        series = cost_series(results, name)
        if series is None:
            continue
        slope = fit_slope(series.seconds, rng)
        methods += [] if slope.method in methods else [slope.method]
        verdict = decide(slope.interval, lo, hi)
        text = f"{name} {series.kind} time ∝ {slope.text()}; {series.setup}"
        if verdict == FAILS and slope.interval.high < lo:
            verdict = INCONCLUSIVE
            details.append(f"{name}: lengths too short")
            text += " (sub-linear: fixed per-call costs still dominate at these lengths)"
        elif verdict == INCONCLUSIVE:
            details.append(f"{name} interval {slope.interval.text()}")
        parts.append(text)
        verdicts.append(verdict)
    if not parts:
        return Claim(
            "b",
            statement,
            UNKNOWN,
            "needs ≥ 3 ok RWKV or Mamba cost lengths (run the `scaling` preset)",
            detail="no data",
            boundary=boundary,
        )
    verdict = all_of(verdicts)
    detail = "; ".join(details) if verdict == INCONCLUSIVE else ""
    return Claim("b", statement, verdict, "; ".join(parts), detail, boundary, "; ".join(methods))


def _state_by_length(results: pd.DataFrame, architecture: str) -> pd.Series | None:
    """Median state bytes by length for the config with the most lengths."""
    if "state_bytes" not in results.columns:
        return None
    rows = results[
        (results["architecture"] == architecture)
        & (results["status"] == "ok")
        & results["state_bytes"].notna()
    ]
    if rows.empty:
        return None
    keys = [c for c in ("row_kind", "task", "d_model", "n_layers") if c in rows.columns]
    groups = rows.groupby(keys, dropna=False)
    best = max(groups, key=lambda item: item[1]["eval_seq_len"].nunique())[1]
    series = best.groupby("eval_seq_len")["state_bytes"].median()
    return series if len(series) >= 2 else None


def _claim_constant_state(results: pd.DataFrame) -> Claim:
    statement = "Decode memory (recurrent state) is constant in length for LSTM / RWKV / Mamba, growing for attention"
    boundary = (
        "recurrent blocks: the largest state within 1 % of the smallest over the lengths; "
        "attention: the KV cache grows at least half as fast as L (it should grow as L)"
    )
    method = "exact: counted from each block's state_size, not timed, so no interval is needed"
    parts, ok = [], True
    recurrent_seen = False
    for name in (*RECURRENT, *ATTENTION):
        series = _state_by_length(results, name)
        if series is None:
            continue
        lo_len, hi_len = series.index.min(), series.index.max()
        lo, hi = series.iloc[0], series.iloc[-1]
        ratio = hi / lo if lo > 0 else math.inf
        span = f"L={format_length(lo_len)}→{format_length(hi_len)}"
        if name in RECURRENT:
            recurrent_seen = True
            flat = series.max() <= series.min() * 1.01
            ok &= flat
            parts.append(
                f"{name} {format_bytes(lo)} → {format_bytes(hi)} over {span}"
                + ("" if flat else " (grows)")
            )
        else:
            grows = ratio >= 0.5 * (hi_len / lo_len)
            ok &= grows
            parts.append(
                f"{name} {format_bytes(lo)} → {format_bytes(hi)} (×{ratio:.0f}) over {span}"
            )
    if not recurrent_seen:
        return Claim(
            "c",
            statement,
            UNKNOWN,
            "needs state_bytes at ≥ 2 lengths for lstm, rwkv or mamba",
            detail="no data",
            boundary=boundary,
        )
    return Claim("c", statement, HOLDS if ok else FAILS, "; ".join(parts), "", boundary, method)


def _accuracy_text(name: str, mean: float, interval: Interval | None, seeds: int) -> str:
    spread = interval.text(3) if interval else "no interval"
    return f"{name} {mean:.3f} ({spread}, {seeds} seed{'s' if seeds != 1 else ''})"


def _claim_mqar(results: pd.DataFrame) -> Claim:
    statement = "Attention solves MQAR at small width where attention-free blocks do not"
    boundary = (
        f"token accuracy at the training length ≥ {SOLVED} counts as solved: a Transformer "
        f"interval must lie above {SOLVED} and every attention-free block's below it, at the "
        "smallest width both were run at (Zoology's gap: near-perfect recall for attention, "
        "far lower for fixed-state blocks when the key-value pairs are many for the width)"
    )
    method = (
        "t interval over the seeds of each cell (mean ± t(0.975, n−1)·sd/√n, clipped to [0, 1])"
    )
    runs = plots.per_run_accuracy(cells.prepare(results))
    runs = runs[(runs["task"] == "mqar") & (runs["eval_seq_len"] == runs["train_seq_len"])]
    runs = runs.dropna(subset=["accuracy"])
    if "d_model" not in runs.columns:
        runs = runs.assign(d_model=0)
    if "variant" not in runs.columns:
        runs = runs.assign(variant="")
    attention = runs[runs["architecture"].isin(ATTENTION)]
    others = runs[~runs["architecture"].isin(ATTENTION)]
    widths = sorted(set(attention["d_model"]) & set(others["d_model"]))
    if not widths:
        return Claim(
            "d",
            statement,
            UNKNOWN,
            "needs ok MQAR runs of the Transformer and an attention-free block at one width",
            detail="no data",
            boundary=boundary,
            method=method,
        )
    width = widths[0]
    solves: list[str] = []  # HOLDS: a Transformer cell solves it
    free: list[str] = []  # HOLDS: an attention-free cell does not
    texts: list[tuple[bool, float, str]] = []
    solvers, unsure, seeds = [], [], []
    for (name, variant), cell in runs[runs["d_model"] == width].groupby(
        ["architecture", "variant"], dropna=False
    ):
        variant = ", ".join(p for p in str(variant).split(", ") if not p.startswith("d_model="))
        label = f"{name} ({variant})" if variant else name
        mean, interval = mean_interval(cell["accuracy"], 0.0, 1.0)
        seeds.append(len(cell))
        is_attention = name in ATTENTION
        verdict = decide(interval, low=SOLVED) if is_attention else decide(interval, high=SOLVED)
        (solves if is_attention else free).append(verdict)
        solvers += [label] if not is_attention and verdict == FAILS else []
        unsure += [label] if verdict == INCONCLUSIVE else []
        texts.append((is_attention, mean, _accuracy_text(label, mean, interval, len(cell))))
    attention_part = any_of(solves)
    verdict = all_of([attention_part, *free])
    texts.sort(key=lambda item: (not item[0], -item[1]))
    attention_texts = [t for is_att, _, t in texts if is_att]
    free_texts = [t for is_att, _, t in texts if not is_att]
    evidence = (
        f"d_model={width:.0f}: {'; '.join(attention_texts)} vs attention-free "
        f"{'; '.join(free_texts)}"
    )
    detail = ""
    if verdict == INCONCLUSIVE:
        if min(seeds) < 2:
            detail = "1 seed: no interval; run ≥ 3 seeds"
        else:
            detail = f"interval crosses {SOLVED} for " + ", ".join(unsure)
    if solvers and attention_part == HOLDS:
        evidence += (
            f"; attention solves it, and so does {', '.join(solvers)}: Zoology's gap opens "
            "when the pairs are many for the width (the `mqar` preset's grid)"
        )
    return Claim("d", statement, verdict, evidence, detail, boundary, method)


def check_claims(results: pd.DataFrame, *, seed: int = 0) -> list[Claim]:
    """Every claim, decided from ``results``; ``seed`` fixes the bootstrap resamples."""
    check_results(results)
    results = cells.prepare(results)
    rng = np.random.default_rng(seed)
    return [
        _claim_quadratic(results, rng),
        _claim_linear(results, rng),
        _claim_constant_state(results),
        _claim_mqar(results),
    ]
