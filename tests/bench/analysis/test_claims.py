"""Claim verdicts from intervals: decisive when the data decide, inconclusive when not.

Cost rows are built here with noise on every timed call, as a run on a shared machine
records them; the true exponent is known, so the verdict and the interval can be checked.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from bench.analysis.claims import check_claims
from bench.analysis.cost_series import cost_series
from bench.analysis.verdicts import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    UNKNOWN,
    Claim,
    Interval,
    decide,
    fit_slope,
    mean_interval,
    quadratic_share,
)

LENGTHS = (256, 512, 1024, 2048, 4096, 8192)


def cost_rows(
    architecture: str,
    seconds_at,
    *,
    noise: float = 0.03,
    repeats: int = 8,
    seed: int = 0,
    lengths=LENGTHS,
    keep_calls: bool = True,
) -> list[dict]:
    """One cost row per length; every call's seconds = seconds_at(L) × lognormal noise,
    one call in each length slowed by half (another process)."""
    rng = np.random.default_rng([seed, len(architecture)])
    rows = []
    for length in lengths:
        calls = seconds_at(length) * rng.lognormal(0.0, noise, repeats)
        calls[rng.integers(repeats)] *= 1.5
        row = {
            "config_hash": f"{architecture}-{seed}",
            "row_kind": "cost",
            "architecture": architecture,
            "task": "none",
            "seed": seed,
            "status": "ok",
            "train_seq_len": np.nan,
            "eval_seq_len": np.nan,
            "seq_len": length,
            "accuracy": np.nan,
            "d_model": 256,
            "prefill_tokens_per_s": 2 * length / np.median(calls),
        }
        if keep_calls:
            row["prefill_times_s"] = list(calls)
        rows.append(row)
    return rows


def frame(*groups: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([row for rows in groups for row in rows])


def claim(results: pd.DataFrame, key: str) -> Claim:
    return next(c for c in check_claims(results) if c.key == key)


def slope_interval(found: Claim) -> tuple[float, float]:
    """The first "L^s (low–high)" interval in a claim's evidence."""
    low, high = re.search(r"L\^[-\d.]+ \(([-\d.]+)–([-\d.]+)\)", found.evidence).groups()
    return float(low), float(high)


def power(exponent: float, scale: float = 1e-3):
    return lambda length: scale * (length / 256) ** exponent


def test_decide_needs_the_whole_interval_on_one_side():
    assert decide(Interval(1.52, 1.60), low=1.5) == HOLDS
    assert decide(Interval(1.40, 1.49), low=1.5) == FAILS
    assert decide(Interval(1.45, 1.55), low=1.5) == INCONCLUSIVE
    assert decide(Interval(0.9, 1.1), 0.8, 1.25) == HOLDS
    assert decide(Interval(1.2, 1.3), 0.8, 1.25) == INCONCLUSIVE
    assert decide(Interval(1.3, 1.4), 0.8, 1.25) == FAILS
    assert decide(None, low=1.5) == INCONCLUSIVE


@pytest.mark.parametrize(
    ("exponent", "noise", "verdict"),
    [
        pytest.param(1.9, 0.03, HOLDS, id="clearly-quadratic-holds"),
        pytest.param(1.5, 0.10, INCONCLUSIVE, id="on-the-boundary-is-inconclusive"),
        pytest.param(1.0, 0.03, FAILS, id="linear-attention-does-not-hold"),
    ],
)
def test_attention_slope_verdict_follows_its_interval(exponent, noise, verdict):
    found = claim(frame(cost_rows("transformer", power(exponent), noise=noise)), "a")
    assert found.verdict == verdict, found
    low, high = slope_interval(found)
    assert low <= exponent <= high  # the interval covers the truth
    if verdict == INCONCLUSIVE:
        assert low < 1.5 < high
        assert found.label == f"inconclusive (interval {low:.2f}–{high:.2f})"
    assert "over L=2K, 4K, 8K (8 repeats each)" in found.evidence
    assert "bootstrap over repeats" in found.method
    assert "passes 1.5 exactly where the L² term equals the linear layers" in found.boundary


def test_attention_below_its_crossover_is_too_short_to_decide():
    # a·L + b·L² whose L² term catches up with the linear one only at L = 32K
    crossover = 32 * 1024
    found = claim(
        frame(cost_rows("transformer", lambda L: 1e-6 * L * (1 + L / crossover), noise=0.02)),
        "a",
    )
    assert found.verdict == INCONCLUSIVE and found.detail == "lengths too short"
    slope = float(found.evidence.split("L^")[1].split(" ")[0])
    assert 1.0 < slope < 1.3
    assert "level with the linear layers near L≈32K" in found.evidence
    assert "(e.g. up to 128K)" in found.evidence


def test_quadratic_share_finds_the_crossover_and_no_term_in_linear_cost():
    rng = np.random.default_rng(0)

    def seconds(fn):
        return {L: fn(L) * rng.lognormal(0, 0.02, 8) for L in LENGTHS}

    crossover, share = quadratic_share(seconds(lambda L: 1e-6 * L * (1 + L / 16384)), rng, 400)
    assert 16384 / 1.5 < crossover < 16384 * 1.5 and share > 0.975
    crossover, share = quadratic_share(seconds(lambda L: 1e-6 * L), rng, 400)
    assert share < 0.975
    medians = {L: 1e-6 * L * (1 + L / 16384) * np.ones(1) for L in LENGTHS}
    crossover, share = quadratic_share(medians, rng)
    assert crossover == pytest.approx(16384, rel=1e-3) and share is None


@pytest.mark.parametrize(
    ("exponent", "verdict", "detail"),
    [
        pytest.param(1.0, HOLDS, "", id="linear-holds"),
        pytest.param(1.25, INCONCLUSIVE, "rwkv interval", id="on-the-upper-boundary"),
        pytest.param(1.6, FAILS, "", id="super-linear-does-not-hold"),
        pytest.param(0.5, INCONCLUSIVE, "rwkv: lengths too short", id="sub-linear-too-short"),
    ],
)
def test_linear_claim_verdict_follows_its_interval(exponent, verdict, detail):
    found = claim(frame(cost_rows("rwkv", power(exponent), noise=0.08)), "b")
    assert found.verdict == verdict, found
    assert found.detail.startswith(detail)


def test_linear_claim_needs_both_parts():
    rows = frame(cost_rows("rwkv", power(1.0)), cost_rows("mamba", power(1.6)))
    assert claim(rows, "b").verdict == FAILS
    rows = frame(cost_rows("rwkv", power(1.0)), cost_rows("mamba", power(1.25), noise=0.1))
    found = claim(rows, "b")
    assert found.verdict == INCONCLUSIVE and found.detail.startswith("mamba interval")


def test_interval_covers_the_true_slope_and_verdicts_do_not_flip():
    """Twenty runs of one machine: the old rule (point slope vs 1.5) says "holds" in some
    and "does not hold" in others; the interval rule stays inconclusive at the boundary
    and decisive away from it."""
    old, new, covered = [], [], 0
    for seed in range(20):
        rows = frame(cost_rows("transformer", power(1.5), noise=0.1, seed=seed))
        seconds = cost_series(rows, "transformer").seconds
        slope = fit_slope(seconds, np.random.default_rng(seed))
        old.append(slope.value >= 1.5)
        new.append(claim(rows, "a").verdict)
        covered += slope.interval.low <= 1.5 <= slope.interval.high
    assert any(old) and not all(old)  # the single slope flips
    assert new.count(INCONCLUSIVE) >= 17 and not (HOLDS in new and FAILS in new)
    assert covered >= 17
    steep = [
        claim(frame(cost_rows("transformer", power(1.8), noise=0.1, seed=s)), "a")
        for s in range(10)
    ]
    assert [c.verdict for c in steep] == [HOLDS] * 10


def test_results_without_per_call_times_fall_back_to_a_regression_interval():
    with_calls = claim(frame(cost_rows("transformer", power(1.9))), "a")
    medians = claim(frame(cost_rows("transformer", power(1.9), keep_calls=False)), "a")
    assert "regression interval" in medians.method and "no per-call times" in medians.method
    assert "(medians only)" in medians.evidence

    def width(found):
        low, high = slope_interval(found)
        return high - low

    assert width(medians) > width(with_calls)


def test_a_cell_that_keeps_every_call_is_preferred_over_an_older_one():
    old = cost_rows("transformer", power(1.5), keep_calls=False, seed=1)
    new = cost_rows("transformer", power(1.9))
    for rows, repeats in ((old, 5), (new, 8)):
        for row in rows:
            row["measure.repeats"] = repeats  # another setting: another cell, never pooled
    found = claim(frame(old, new), "a")
    assert "(8 repeats each)" in found.evidence and found.verdict == HOLDS


def test_one_repeat_per_length_gives_no_zero_width_bootstrap():
    rows = frame(cost_rows("transformer", power(1.5), repeats=1, noise=0.1))
    slope = fit_slope(cost_series(rows, "transformer").seconds, np.random.default_rng(0))
    assert "regression interval" in slope.method
    assert slope.interval.high - slope.interval.low > 0.05


def test_cost_claims_without_data_are_unknown():
    rows = frame(cost_rows("lstm", power(1.0)))
    assert claim(rows, "a").label == "unknown (no data)"
    assert claim(rows, "b").verdict == UNKNOWN


# --------------------------------------------------------------------------- accuracy


def mqar_rows(accuracies: dict[str, list[float]], d_model: int = 64) -> list[dict]:
    rows = []
    for architecture, values in accuracies.items():
        for seed, accuracy in enumerate(values):
            rows.append(
                {
                    "config_hash": f"{architecture}-{d_model}-{seed}",
                    "row_kind": "eval",
                    "architecture": architecture,
                    "task": "mqar",
                    "seed": seed,
                    "status": "ok",
                    "train_seq_len": 64,
                    "eval_seq_len": 64,
                    "accuracy": accuracy,
                    "d_model": d_model,
                }
            )
    return rows


@pytest.mark.parametrize(
    ("accuracies", "verdict", "detail"),
    [
        pytest.param(
            {"transformer": [0.99, 0.98, 0.995], "mamba": [0.3, 0.35, 0.32]},
            HOLDS,
            "",
            id="attention-solves-mamba-does-not",
        ),
        pytest.param(
            {"transformer": [0.99, 0.6, 0.97], "mamba": [0.3, 0.35, 0.32]},
            INCONCLUSIVE,
            "interval crosses 0.9 for transformer",
            id="a-failed-seed-makes-it-inconclusive",
        ),
        pytest.param(
            {"transformer": [0.99, 0.98, 0.995], "rwkv": [0.97, 0.98, 0.99]},
            FAILS,
            "",
            id="rwkv-solves-too",
        ),
        pytest.param(
            {"transformer": [0.3, 0.32, 0.28], "mamba": [0.3, 0.35, 0.32]},
            FAILS,
            "",
            id="attention-does-not-solve",
        ),
        pytest.param(
            {"transformer": [0.999], "lstm": [0.1]},
            INCONCLUSIVE,
            "1 seed: no interval",
            id="one-seed-is-inconclusive",
        ),
    ],
)
def test_mqar_claim_uses_intervals_over_seeds(accuracies, verdict, detail):
    found = claim(frame(mqar_rows(accuracies)), "d")
    assert found.verdict == verdict, found
    assert found.detail.startswith(detail)
    assert "t interval over the seeds" in found.method


def test_mean_interval_is_a_t_interval():
    mean, interval = mean_interval([0.9, 1.0, 0.95], 0.0, 1.0)
    half = 4.302652729911275 * 0.05 / math.sqrt(3)  # t(0.975, 2) · sd / √n
    assert mean == pytest.approx(0.95)
    assert interval.low == pytest.approx(0.95 - half)
    assert interval.high == 1.0  # clipped
    assert mean_interval([0.5]) == (0.5, None)
