"""Attention's memory against length, by the kernel that ran (``attention_kernel``), and the
claim that doubling the length quadruples it only where the score matrix is materialised.

    claim_attention_memory(results, rng) -> Claim (i)

"Doubling the sequence length makes attention need 4× the memory" holds for SDPA's math
path, softmax(QKᵀ)V with the (L, L) scores held, not for a fused kernel (flash,
memory-efficient, cuDNN, the CPU's flash), which works through the keys in blocks and
keeps O(L). The `attention-memory` preset runs the Transformer with the kernel pinned
each way (``measure.attention``); every cost row records the kernel that actually ran.

The figure is the log-log slope of the inference forward's peak memory on length over the
longest lengths (at least 3, at most 4), with the regression interval through one peak
per length (slope ± t(0.975, n−2) · standard error): peak memory is measured once per
length. Materialised: slope ≥ 1.5, where the L² scores outweigh the O(L) activations;
fused: slope ≤ 1.25, linear or below (memory that does not grow with L still amortizing).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from bench.analysis.verdicts import (
    INCONCLUSIVE,
    LEVEL,
    UNKNOWN,
    Claim,
    Interval,
    all_of,
    decide,
)
from bench.store.formats import format_bytes, format_length

QUADRATIC, LINEAR = 1.5, (0.8, 1.25)  # as claims (a) and (b)
MATERIALISED = ("math",)
FIT_LENGTHS = 4


def memory_by_kernel(results: pd.DataFrame, column: str = "peak_memory_infer_bytes"):
    """Kernel -> {length: median peak bytes} of the Transformer's ok cost rows."""
    if "attention_kernel" not in results.columns or column not in results.columns:
        return {}
    rows = results[
        (results["row_kind"] == "cost")
        & (results["architecture"] == "transformer")
        & (results["status"] == "ok")
        & results["attention_kernel"].fillna("").ne("")
    ]
    rows = rows[pd.to_numeric(rows[column], errors="coerce") > 0]
    out = {}
    for kernel, group in rows.groupby("attention_kernel"):
        series = pd.to_numeric(group[column]).groupby(group["seq_len"]).median()
        if len(series) >= 3:
            out[str(kernel)] = {int(length): float(v) for length, v in series.items()}
    return out


def memory_slope(by_length: dict[int, float]) -> tuple[float, Interval | None, tuple[int, ...]]:
    lengths = sorted(by_length)[-FIT_LENGTHS:]
    x = np.log(np.asarray(lengths, float))
    y = np.log(np.asarray([by_length[n] for n in lengths]))
    xc = x - x.mean()
    sxx = float(xc @ xc)
    slope = float(xc @ (y - y.mean()) / sxx)
    dof = len(lengths) - 2
    if dof < 1:
        return slope, None, tuple(lengths)
    residual = y - y.mean() - slope * xc
    se = math.sqrt(float(residual @ residual) / dof / sxx)
    half = float(stats.t.ppf(1 - (1 - LEVEL) / 2, dof)) * se
    return slope, Interval(slope - half, slope + half), tuple(lengths)


def claim_attention_memory(results: pd.DataFrame) -> Claim:
    statement = (
        "Doubling the length quadruples attention's memory on a materialised path "
        "(softmax(QKᵀ)V), and only doubles it on a fused kernel"
    )
    lo, hi = LINEAR
    boundary = (
        f"the log-log slope of the Transformer's inference peak memory on length over the "
        f"longest lengths: ≥ {QUADRATIC} with the math kernel (the L² scores outweigh the "
        f"O(L) activations), ≤ {hi} with a fused kernel (flash, memory-efficient, cuDNN, the "
        f"CPU's flash: linear, or below {lo} where fixed memory is not yet amortized); each "
        "decided by its whole 95 % interval"
    )
    method = (
        f"regression interval through one peak per length over the longest {FIT_LENGTHS} "
        "lengths (slope ± t(0.975, n−2) · standard error)"
    )
    series = memory_by_kernel(results)
    if not series:
        return Claim(
            "i",
            statement,
            UNKNOWN,
            "needs Transformer cost rows with the attention kernel recorded at ≥ 3 lengths "
            "(run the `attention-memory` preset)",
            detail="no data",
            boundary=boundary,
        )
    parts, verdicts, details = [], [], []
    for kernel in sorted(series, key=lambda k: (k not in MATERIALISED, k)):
        by_length = series[kernel]
        slope, interval, lengths = memory_slope(by_length)
        materialised = kernel in MATERIALISED
        verdict = decide(interval, low=QUADRATIC) if materialised else decide(interval, high=hi)
        if verdict == INCONCLUSIVE:
            details.append(f"{kernel} interval {interval.text() if interval else '—'}")
        verdicts.append(verdict)
        span = ", ".join(format_length(n) for n in lengths)
        spread = f" ({interval.text()})" if interval else ""
        longest = max(by_length)
        parts.append(
            f"{kernel}: peak memory ∝ L^{slope:.2f}{spread} over L={span}, "
            f"{format_bytes(by_length[longest])} at L={format_length(longest)}"
        )
    first = results[(results["row_kind"] == "cost") & (results["architecture"] == "transformer")]
    setup = []
    if "d_model" in first and first["d_model"].notna().any():
        setup.append(f"d_model={first['d_model'].iloc[0]:.0f}")
    if "measure.batch_size" in first and first["measure.batch_size"].notna().any():
        setup.append(f"batch {first['measure.batch_size'].iloc[0]:.0f}")
    if "device_name" in first and first["device_name"].notna().any():
        setup.append(str(first["device_name"].iloc[0]))
    evidence = "; ".join(parts) + (f"; {', '.join(setup)}" if setup else "")
    kinds = {k in MATERIALISED for k in series}
    if kinds != {True, False}:
        missing = "a fused kernel" if True in kinds else "the math kernel"
        evidence += f"; no rows with {missing}"
    verdict = all_of(verdicts)
    if kinds != {True, False}:  # one kind alone cannot show the difference the claim is about
        verdict, details = UNKNOWN, [f"no rows with {missing}"]
        return Claim("i", statement, verdict, evidence, details[0], boundary, method)
    detail = "; ".join(details) if verdict == INCONCLUSIVE else ""
    return Claim("i", statement, verdict, evidence, detail, boundary, method)
