"""Cost against model width at a fixed length (the `width` preset), and the claims that
Monarch Mixer scales sub-quadratically in width (Fu et al. 2023).

    width_series(results) -> list[WidthSeries]
    claims_width(results, rng) -> [Claim (g), Claim (h)]

A series is one block at one length over several widths (``d_model``): counted forward
FLOPs per token of its channel mixers (``flops_mlp_forward_per_token``) and of its blocks
(``flops_blocks_forward_per_token``), and every timed prefill. Monarch runs with two MLPs:
M2's released block-diagonal one (``mlp="blockdiag"``, a fixed number of blocks: d²/4)
and the paper's Monarch matrices with about √d blocks (``mlp="monarch"``, the preset sets
``nblocks`` to 2^⌊log₂ d / 2⌋), which is what O(d^1.5) needs; each is its own series.

Both are decided on counted FLOPs, which are exact: the MLP's time is not measured apart
from the block's, and a block's time also measures how well the device runs each size (a
CPU runs large matrix products faster per FLOP). (h) shows every block's timed prefill
slope beside its FLOPs, with a bootstrap interval over the repeats
(``bench.analysis.verdicts.fit_slope`` over widths) and what time alone would decide.
The boundary is 1.75, midway between the 1.5 of √d Monarch blocks and the 2 of a dense
layer; slopes are fitted over the widest half of the widths (at least 3), where the d²
terms dominate what does not grow with width (per-call costs, attention's L²·d).
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
    UNKNOWN,
    Claim,
    all_of,
    decide,
    exact_slope,
    fit_slope,
)
from bench.store import cells
from bench.store.formats import architecture_order, format_length

SUBQUADRATIC = 1.75  # between Monarch's d^1.5 (√d blocks) and a dense layer's d²
DENSE = "transformer"
PAPER = "Fu et al. 2023 (Monarch Mixer), §3"
SAYS = (
    "Monarch matrices of √d blocks cost O(d^1.5) against a dense layer's O(d²), so M2 "
    "scales sub-quadratically in model width as well as in length"
)


@dataclass(frozen=True)
class WidthSeries:
    label: str  # "monarch (mlp=monarch)"
    architecture: str
    seq_len: int
    mlp_flops: dict[int, float]  # d_model -> forward FLOPs per token of the channel mixers
    block_flops: dict[int, float]  # d_model -> forward FLOPs per token of the blocks
    seconds: dict[int, np.ndarray]  # d_model -> every timed prefill (s per batch)


def _mlp_kind(rows: pd.DataFrame) -> pd.Series:
    kind = rows["model.mlp"] if "model.mlp" in rows else pd.Series(np.nan, index=rows.index)
    return kind.where(kind.notna(), "")


def width_series(results: pd.DataFrame) -> list[WidthSeries]:
    """Every block measured at ≥ 3 widths at one length, in line-up order."""
    needed = {"flops_blocks_forward_per_token", "d_model", "seq_len"}
    if not needed <= set(results.columns):
        return []
    results = cells.prepare(results)
    rows = results[(results["row_kind"] == "cost") & results["d_model"].notna()]
    rows = rows.assign(mlp_kind=_mlp_kind(rows))
    out = []
    for (arch, kind, length), group in rows.groupby(["architecture", "mlp_kind", "seq_len"]):
        if group["d_model"].nunique() < 3:
            continue
        by_width = group.groupby("d_model")
        mlp = pd.to_numeric(group["flops_mlp_forward_per_token"], errors="coerce")
        block = pd.to_numeric(group["flops_blocks_forward_per_token"], errors="coerce")
        seconds = {}
        for d, g in by_width:
            ok = g[g["status"] == "ok"]
            found = [s for s in map(_samples, ok.get("prefill_times_s", [])) if s is not None]
            if found:
                seconds[int(d)] = np.concatenate(found)
        out.append(
            WidthSeries(
                label=f"{arch} (mlp={kind})" if kind else arch,
                architecture=arch,
                seq_len=int(length),
                mlp_flops={
                    int(d): float(v)
                    for d, v in mlp.groupby(group["d_model"]).median().items()
                    if np.isfinite(v)
                },
                block_flops={
                    int(d): float(v) for d, v in block.groupby(group["d_model"]).median().items()
                },
                seconds=seconds,
            )
        )
    rank = {a: i for i, a in enumerate(architecture_order({s.architecture for s in out}))}
    return sorted(out, key=lambda s: (rank[s.architecture], s.label))


def _span(widths: tuple[int, ...]) -> str:
    return ", ".join(format_length(d) for d in widths)


def _flops_text(series: WidthSeries, flops: dict[int, float], what: str) -> str | None:
    fitted = exact_slope(flops)
    if fitted is None:
        return None
    slope, widths = fitted
    return f"{series.label} {what} FLOPs ∝ d^{slope:.2f} over d={_span(widths)}"


def _monarch_sqrt(series: list[WidthSeries]) -> WidthSeries | None:
    found = [s for s in series if s.architecture == "monarch" and "mlp=monarch" in s.label]
    return found[0] if found else None


def claim_mlp_width(series: list[WidthSeries]) -> Claim:
    statement = "Monarch Mixer's MLP grows sub-quadratically in width, a dense MLP quadratically"
    boundary = (
        f"counted forward FLOPs per token of the channel mixer against d_model: Monarch "
        f"matrices with √d blocks at a slope ≤ {SUBQUADRATIC}, the Transformer's dense "
        f"(SwiGLU) MLP at ≥ {SUBQUADRATIC} ({SUBQUADRATIC} lies midway between d^1.5 and "
        "d²), over the widest half of the widths"
    )
    method = (
        "exact: counted FLOPs (bench.run.flops), least-squares log-log slope; no interval is needed"
    )
    monarch = _monarch_sqrt(series)
    dense = next((s for s in series if s.architecture == DENSE), None)
    if monarch is None or dense is None or exact_slope(monarch.mlp_flops) is None:
        return Claim(
            "g",
            statement,
            UNKNOWN,
            "needs counted MLP FLOPs at ≥ 3 widths of the Transformer and of Monarch with "
            "mlp='monarch' (run the `width` preset)",
            detail="no data",
            boundary=boundary,
            paper=PAPER,
            says=SAYS,
        )
    m_slope, _ = exact_slope(monarch.mlp_flops)
    d_slope, _ = exact_slope(dense.mlp_flops)
    verdict = all_of(
        [HOLDS if m_slope <= SUBQUADRATIC else FAILS, HOLDS if d_slope >= SUBQUADRATIC else FAILS]
    )
    parts = [_flops_text(monarch, monarch.mlp_flops, "MLP") + " (nblocks ≈ √d)"]
    parts.append(_flops_text(dense, dense.mlp_flops, "MLP"))
    for s in series:  # the other channel mixers, for comparison
        if s not in (monarch, dense) and (text := _flops_text(s, s.mlp_flops, "MLP")):
            if s.architecture == "monarch":
                text += " (M2's released block-diagonal MLP: a fixed number of blocks)"
            parts.append(text)
    evidence = f"at L={format_length(dense.seq_len)}: " + "; ".join(parts)
    return Claim("g", statement, verdict, evidence, "", boundary, method, PAPER, SAYS)


def claim_block_width(series: list[WidthSeries], rng: np.random.Generator) -> Claim:
    statement = "The whole Monarch Mixer block grows sub-quadratically in width"
    boundary = (
        f"the counted forward FLOPs per token of Monarch's blocks (with √d-block Monarch "
        f"MLPs) against d_model at a fixed length, slope ≤ {SUBQUADRATIC} over the widest "
        f"half of the widths. Each block's prefill time is fitted beside it, with its 95 % "
        f"interval and what it alone would decide: time also reflects how well the device "
        "runs each size (a CPU runs a large matrix product faster per FLOP than a small one)"
    )
    method = (
        "FLOPs exact (no interval); time: bootstrap over repeats, each width's timed "
        "prefills resampled 2,000 times, slope of the per-width median log-time on log d, "
        "2.5th–97.5th percentile (widths are separate runs, taken one after another)"
    )
    monarch = _monarch_sqrt(series) or next(
        (s for s in series if s.architecture == "monarch"), None
    )
    fitted = exact_slope(monarch.block_flops) if monarch is not None else None
    if fitted is None:
        return Claim(
            "h",
            statement,
            UNKNOWN,
            "needs Monarch cost rows at ≥ 3 widths (run the `width` preset)",
            detail="no data",
            boundary=boundary,
            paper=PAPER,
            says=SAYS,
        )
    verdict = HOLDS if fitted[0] <= SUBQUADRATIC else FAILS
    parts = []
    for s in [monarch, *[s for s in series if s is not monarch]]:
        counted = exact_slope(s.block_flops)
        text = f"{s.label} blocks' FLOPs ∝ d^{counted[0]:.2f}" if counted else s.label
        timed = fit_slope(s.seconds, rng) if len(s.seconds) >= 3 else None
        if timed is not None:
            timed = dataclasses.replace(timed, variable="d")
            alone = decide(timed.interval, high=SUBQUADRATIC)
            text += f", prefill time ∝ {timed.text()}"
            if s is monarch:
                text += f" (by time alone: {alone})"
        parts.append(text)
    evidence = f"at L={format_length(monarch.seq_len)}: " + "; ".join(parts)
    widest = max(monarch.block_flops)
    if monarch.mlp_flops.get(widest):
        share = monarch.mlp_flops[widest] / monarch.block_flops[widest]
        evidence += (
            f". At d={format_length(widest)} the MLP is {share:.0%} of the block's FLOPs: "
            "the sequence mixer's input and output projections are dense (as in M2's code), "
            "so they set the block's slope"
        )
    return Claim("h", statement, verdict, evidence, "", boundary, method, PAPER, SAYS)


def claims_width(results: pd.DataFrame, rng: np.random.Generator) -> list[Claim]:
    series = width_series(results)
    return [claim_mlp_width(series), claim_block_width(series, rng)]
