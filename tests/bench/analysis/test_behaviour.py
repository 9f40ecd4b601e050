"""The behaviour claims (bench.analysis.behaviour) decided from synthetic results: each
verdict follows its interval, and each says what would decide it when it cannot."""

import math

import numpy as np
import pytest
from _synthetic_results import behaviour_results, results

from bench.analysis.behaviour import (
    DISTANCE_MARGIN,
    ORDER_MARGIN,
    behaviour_claims,
    distance_frame,
    order_frame,
    per_doubling,
    reach_frame,
)
from bench.analysis.claims import check_claims
from bench.analysis.verdicts import FAILS, HOLDS, INCONCLUSIVE, UNKNOWN

# Rates far enough apart that three seeds place every block (the tables' defaults put
# RWKV-6 within noise of attention, which tests the inconclusive branch instead).
SPREAD = {"rwkv": -0.05, "rwkv4": -0.08, "mamba": -0.1}


def claims(**changes):
    return {claim.key: claim for claim in behaviour_claims(behaviour_results(**changes))}


def test_the_published_pattern_holds_on_every_claim():
    found = claims(rates=SPREAD)
    assert [found[k].verdict for k in "jkl"] == [HOLDS, HOLDS, HOLDS]
    assert "lstm +0.4" in found["j"].evidence and "3 seeds" in found["j"].evidence
    assert "induction (distance=64, L=68), D=64" in found["k"].evidence
    assert "lstm (induction) -0.2" in found["l"].evidence


def test_they_join_the_report_claims_only_where_their_data_is():
    keys = [claim.key for claim in check_claims(behaviour_results(rates=SPREAD))]
    assert keys == list("abcdefghijkl")
    assert [claim.key for claim in check_claims(results())] == list("abcdefghi")


# --- (j) order ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("order", "verdict", "detail"),
    [
        ({"lstm": (0.7, 0.7)}, FAILS, ""),  # a fixed state with no order effect
        ({"lstm": (0.5, 0.8)}, FAILS, ""),  # the hard order better
        ({"transformer": (0.98, 0.6)}, FAILS, ""),  # attention cares about order
        ({"lstm": (0.99, 0.99)}, INCONCLUSIVE, "lstm: both orders solved"),
        ({"lstm": (0.05, 0.05)}, INCONCLUSIVE, "lstm: neither order learned"),
        ({"monarch": (0.3, 0.9)}, HOLDS, ""),  # not fixed-state: shown, not decided
    ],
    ids=["lstm-no-gap", "lstm-reversed", "attention-gap", "ceiling", "floor", "monarch"],
)
def test_order_verdicts_follow_the_paired_interval(order, verdict, detail):
    claim = claims(order=order, noise=0.003)["j"]
    assert claim.verdict == verdict
    assert detail in claim.detail


def test_order_with_one_seed_or_one_order_cannot_decide():
    one = claims(seeds=(0,))["j"]
    assert one.verdict == INCONCLUSIVE and "1 seed, run ≥ 3" in one.detail
    frame = behaviour_results()
    hard_only = frame[frame.get("task.small_first", True) != True]  # noqa: E712
    claim = {c.key: c for c in behaviour_claims(hard_only)}["j"]
    assert claim.verdict == UNKNOWN and "both orders" in claim.evidence


def test_a_noisy_gap_is_inconclusive_and_asks_for_more_seeds():
    claim = claims(order={"lstm": (0.8, 0.77)}, noise=0.05)["j"]
    assert claim.verdict == INCONCLUSIVE and "lstm: interval crosses 0" in claim.detail


def test_an_order_gap_needs_attention_and_a_fixed_state_block():
    only_fixed = claims(architectures=("lstm", "mamba"))["j"]
    assert only_fixed.verdict == INCONCLUSIVE and "needs attention" in only_fixed.detail


def test_order_frame_has_both_orders_per_run():
    frame = order_frame(behaviour_results())
    assert set(frame["order"]) == {"small set first", "large set first"}
    assert len(frame) == 6 * 3 * 2 and frame.groupby("easy").size().tolist() == [18, 18]


# --- (k) reach ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rates", "verdict"),
    [
        ({"lstm": -0.01}, FAILS),  # the LSTM does not decay by 10x over 64 distances
        ({"transformer": -0.1}, FAILS),  # attention decays
        ({"rwkv": -0.3}, FAILS),  # RWKV-6 decays faster than the LSTM: not between
        ({"mamba": 0.05}, FAILS),  # Mamba flatter than attention: not between
    ],
    ids=["lstm-flat", "attention-decays", "rwkv-below-lstm", "mamba-above-attention"],
)
def test_reach_verdicts_follow_the_rate_intervals(rates, verdict):
    assert claims(rates={**SPREAD, **rates})["k"].verdict == verdict


def test_reach_at_the_boundary_or_with_one_seed_is_inconclusive():
    bound = -math.log(10) / 64  # a fall of 10x over the 64 distances measured
    at = claims(rates={"lstm": bound}, rate_noise=0.02, architectures=("transformer", "lstm"))["k"]
    assert at.verdict == INCONCLUSIVE and "lstm: interval crosses r*" in at.detail
    assert f"r* = {bound:.3f}" in at.boundary
    one = claims(rates=SPREAD, seeds=(0,))["k"]
    assert one.verdict == INCONCLUSIVE and "1 seed" in one.detail


def test_reach_needs_attention_and_the_lstm_and_is_absent_without_reach():
    claim = claims(architectures=("rwkv", "mamba"))["k"]
    assert claim.verdict == UNKNOWN and "transformer and lstm" in claim.detail
    frame = behaviour_results()
    frame = frame[[c for c in frame.columns if not c.startswith("reach_")]]
    assert "k" not in {c.key for c in behaviour_claims(frame)}


def test_reach_frame_holds_both_models_in_the_claims_setting():
    frame = reach_frame(behaviour_results())
    assert set(frame["model"]) == {"trained", "at init"}
    assert frame["distance"].max() == 64 and (frame["distance"] == 0).sum() == 6 * 3 * 2
    assert set(frame["setting"]) == {"induction (distance=64, L=68)"}
    lstm = frame[(frame["architecture"] == "lstm") & (frame["model"] == "trained")]
    assert lstm.groupby("distance")["influence"].mean().iloc[10] < 0.2


# --- (l) distance ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("distance", "verdict", "detail"),
    [
        ({"lstm": (0.6, 0.6, 0.6)}, FAILS, ""),  # the LSTM keeps its accuracy
        ({"transformer": (1.0, 0.7, 0.4)}, FAILS, ""),  # attention falls with distance
        ({"lstm": (0.99, 0.98, 0.99)}, INCONCLUSIVE, "lstm: solved at every distance"),
        ({"lstm": (0.1, 0.08, 0.07)}, INCONCLUSIVE, "lstm: not learned at the shortest"),
    ],
    ids=["lstm-flat", "attention-falls", "ceiling", "floor"],
)
def test_distance_verdicts_follow_the_slope_interval(distance, verdict, detail):
    claim = claims(distance=distance, noise=0.003)["l"]
    assert claim.verdict == verdict
    assert detail in claim.detail


def test_a_fall_within_the_margin_is_no_fall_for_attention():
    # 1.0 → 0.985 over four doublings: less than the margin per doubling, attention stays.
    claim = claims(distance={"transformer": (1.0, 0.993, 0.985)}, noise=0.0)["l"]
    assert claim.verdict == HOLDS


def test_distance_with_one_seed_cannot_decide_and_needs_two_distances():
    one = claims(seeds=(0,))["l"]
    assert one.verdict == INCONCLUSIVE and "lstm: 1 seed" in one.detail
    frame = behaviour_results()
    single = frame[(frame["task"] != "induction") | (frame["task.distance"] == 16)]
    claim = {c.key: c for c in behaviour_claims(single)}["l"]
    assert claim.verdict == UNKNOWN and "≥ 2 distances" in claim.evidence


def test_per_doubling_is_the_slope_on_log2_distance():
    distances = np.array([4.0, 16.0, 64.0])
    assert per_doubling(distances, 1 - 0.1 * np.log2(distances)) == pytest.approx(-0.1)
    assert per_doubling(distances, np.full(3, 0.7)) == pytest.approx(0.0)
    assert (DISTANCE_MARGIN, ORDER_MARGIN) == (0.02, 0.05)


def test_distance_frame_has_one_row_per_run_and_distance():
    frame = distance_frame(behaviour_results())
    assert sorted(frame["distance"].unique()) == [4, 16, 64]
    assert len(frame) == 6 * 3 * 3
