"""The claims the report checks about cost and recall, each decided by an interval.

    check_claims(results) -> list[Claim]

(a) attention cost is quadratic in length; (b) RWKV and Mamba cost is linear; (c) decode
memory (recurrent state) is constant for LSTM / RWKV / Mamba and grows for attention;
(d) attention solves MQAR at small width where attention-free blocks do not; (e) (a) and
(b) in counted FLOPs, exact; (f) Mamba generates 4–5× faster than a Transformer
(``bench.analysis.generation``); (g) Monarch's MLP and (h) its whole block grow
sub-quadratically in width (``bench.analysis.width``); (i) attention's memory is quadratic
in length on the math path and linear on a fused kernel (``bench.analysis.attention``);
and, where the results hold their data, the behaviour claims of
``bench.analysis.behaviour``: (j) a fixed state is sensitive to the prompt order, (k)
attention's influence does not decay with distance while the LSTM's does, (l) the LSTM's
accuracy falls with the distance bridged.

Each claim carries its boundary and why, the lengths (or seeds) its figures come from,
and how the interval was computed; the verdicts and the statistics behind them (a
bootstrap over timed calls for cost slopes, a t interval over seeds for accuracy) are
``bench.analysis.verdicts``. **State size** (c) is counted from each block's ``state_size``, not
timed: it has no noise and needs no interval.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from bench.analysis.attention import claim_attention_memory
from bench.analysis.behaviour import behaviour_claims
from bench.analysis.cost_series import cost_series
from bench.analysis.generation import claim_generation
from bench.analysis.verdicts import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    L2_PRESENT,
    LEVEL,
    UNKNOWN,
    Claim,
    Interval,
    all_of,
    any_of,
    decide,
    exact_slope,
    fit_slope,
    mean_interval,
    quadratic_share,
)
from bench.analysis.width import claims_width
from bench.store import cells
from bench.store.formats import check_results, format_bytes, format_length, per_run_accuracy
from bench.sweep.papers import SOLVED  # one threshold for claims and papers' findings

QUADRATIC_SLOPE = 1.5
LINEAR_SLOPE = (0.8, 1.25)
RECURRENT = ("lstm", "rwkv", "mamba")
ATTENTION = ("transformer",)


def _about(length: float) -> str:
    """A fitted length, rounded: 33145 -> "32K"."""
    for unit, suffix in ((2**20, "M"), (2**10, "K")):
        if length >= unit:
            return f"{length / unit:.{1 if length < 10 * unit else 0}f}{suffix}"
    return f"{length:.0f}"


def _oom_from(results: pd.DataFrame, architecture: str) -> float | None:
    rows = results[(results["row_kind"] == "cost") & (results["architecture"] == architecture)]
    oom = rows.loc[rows["status"] == "oom", "seq_len"]
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
        & results["row_kind"].isin(["cost", "eval"])  # a generate row's is at P + G
    ]
    if rows.empty:
        return None
    # The length a row's state was counted at: a cost row's seq_len, an eval row's eval_seq_len.
    rows = rows.assign(
        length=rows["seq_len"].where(rows["row_kind"] == "cost", rows["eval_seq_len"])
    )
    keys = [c for c in ("row_kind", "task", "d_model", "n_layers") if c in rows.columns]
    groups = rows.groupby(keys, dropna=False)
    best = max(groups, key=lambda item: item[1]["length"].nunique())[1]
    series = best.groupby("length")["state_bytes"].median()
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
    runs = per_run_accuracy(cells.prepare(results))
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


def _flops_by_length(
    results: pd.DataFrame, architecture: str
) -> tuple[dict[int, float], str] | None:
    """Forward FLOPs per sequence by length (counted, ``flops_forward_per_token`` × L) of
    the cell with the most lengths, and its setup; None below 3 lengths."""
    if "flops_forward_per_token" not in results.columns:
        return None
    rows = results[
        (results["row_kind"] == "cost")
        & (results["architecture"] == architecture)
        & pd.to_numeric(results["flops_forward_per_token"], errors="coerce").gt(0)
    ]
    if rows.empty:
        return None
    best = max(
        (g for _, g in rows.groupby("variant", dropna=False)), key=lambda g: g["seq_len"].nunique()
    )
    per_token = pd.to_numeric(best["flops_forward_per_token"]).groupby(best["seq_len"]).median()
    if len(per_token) < 3:
        return None
    width = f"d_model={best['d_model'].iloc[0]:.0f}" if "d_model" in best else ""
    return {int(length): float(value * length) for length, value in per_token.items()}, width


def _claim_flops_by_length(results: pd.DataFrame) -> Claim:
    statement = (
        "Counted FLOPs: attention's grow quadratically with length, RWKV's, Mamba's and "
        "LSTM's linearly (self-attention O(n²·d) per layer, recurrent O(n·d²))"
    )
    lo, hi = LINEAR_SLOPE
    boundary = (
        f"as (a) and (b), on counted forward FLOPs per sequence: attention's slope ≥ "
        f"{QUADRATIC_SLOPE} over the longest lengths, each recurrent block's within {lo}–{hi}. "
        "With FLOPs = a·L + b·L² the slope is (1 + 2r)/(1 + r), r = b·L/a; a count has no "
        "noise, so the point where the L² term equals the rest is exact"
    )
    method = (
        "exact: FlopCounterMode's count (attention's CPU kernel, scans, FFT and nn.LSTM "
        "counted analytically: bench.run.flops), least-squares log-log slope over the "
        "longest half of the lengths; no interval is needed"
    )
    paper = "Vaswani et al. 2017, Table 1"
    says = "complexity per layer: self-attention O(n²·d), recurrent O(n·d²)"
    parts, verdicts, details = [], [], []
    for name in (*ATTENTION, *RECURRENT, "rwkv4", "monarch"):
        found = _flops_by_length(results, name)
        if found is None:
            continue
        flops, width = found
        fitted = exact_slope(flops)
        assert fitted is not None
        slope, lengths = fitted
        span = ", ".join(format_length(v) for v in lengths)
        text = f"{name} L^{slope:.2f} over L={span}"
        if name in ATTENTION:
            verdict = HOLDS if slope >= QUADRATIC_SLOPE else FAILS
            # FLOPs per token a + b·L from the two longest lengths: where b·L = a.
            (l1, f1), (l2, f2) = sorted(flops.items())[-2:]
            b = (f2 / l2 - f1 / l1) / (l2 - l1)
            a = f1 / l1 - b * l1
            if b > 0:
                crossover = a / b
                text += f" (the L² term equals the rest at L≈{_about(crossover)}, {width})"
                if verdict == FAILS:
                    verdict = INCONCLUSIVE
                    details.append("lengths too short")
            verdicts.append(verdict)
        elif name in RECURRENT:
            verdict = HOLDS if lo <= slope <= hi else FAILS
            verdicts.append(verdict)
        else:  # shown, not decided: RWKV-4, and Monarch's FFT (L log L)
            text += " (not part of the claim)"
        parts.append(text)
    if not verdicts:
        return Claim(
            "e",
            statement,
            UNKNOWN,
            "needs counted FLOPs at ≥ 3 cost lengths (run the `scaling` preset)",
            detail="no data",
            boundary=boundary,
            paper=paper,
            says=says,
        )
    verdict = all_of(verdicts)
    detail = "; ".join(details) if verdict == INCONCLUSIVE else ""
    return Claim("e", statement, verdict, "; ".join(parts), detail, boundary, method, paper, says)


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
        _claim_flops_by_length(results),
        claim_generation(results, rng),
        *claims_width(results, rng),
        claim_attention_memory(results),
        *behaviour_claims(results),
    ]
