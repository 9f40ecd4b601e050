"""The claims on counted FLOPs (e), generation throughput (f) and width (g, h)."""

from __future__ import annotations

import _synthetic_results as synthetic
import numpy as np
import pandas as pd
import pytest

from bench.analysis.claims import check_claims
from bench.analysis.generation import generation_series, throughput_ratio
from bench.analysis.verdicts import FAILS, HOLDS, INCONCLUSIVE, UNKNOWN, exact_slope
from bench.analysis.width import width_series


@pytest.fixture(scope="module")
def everything() -> pd.DataFrame:
    return synthetic.results(width=True, generation=True)


def claim(results: pd.DataFrame, key: str):
    return next(c for c in check_claims(results) if c.key == key)


def test_exact_slope_is_the_log_log_slope_over_the_largest_half():
    assert exact_slope({256: 1.0, 512: 2.0, 1024: 4.0}) == (pytest.approx(1.0), (256, 512, 1024))
    values = {2**k: 2.0 ** (2 * k) for k in range(4, 12)}
    slope, keys = exact_slope(values)
    assert slope == pytest.approx(2.0) and keys == (256, 512, 1024, 2048)
    assert exact_slope({1: 1.0, 2: 2.0}) is None


# --------------------------------------------------------------------------- (e) FLOPs


def _flop_rows(architecture, per_token, lengths=(512, 1024, 2048, 4096)):
    return [
        {
            "config_hash": architecture,
            "row_kind": "cost",
            "architecture": architecture,
            "task": "none",
            "seed": 0,
            "status": "ok",
            "train_seq_len": np.nan,
            "eval_seq_len": np.nan,
            "seq_len": length,
            "accuracy": np.nan,
            "d_model": 64,
            "flops_forward_per_token": per_token(length),
        }
        for length in lengths
    ]


def test_counted_flops_decide_quadratic_attention_and_linear_recurrences():
    rows = _flop_rows("transformer", lambda L: 1e5 + 1e3 * L) + _flop_rows("mamba", lambda L: 2e5)
    found = claim(pd.DataFrame(rows), "e")
    assert found.verdict == HOLDS, found
    assert "transformer L^1.9" in found.evidence and "mamba L^1.00" in found.evidence
    assert "L≈100" in found.evidence  # 1e5 / 1e3: where attention's FLOPs equal the rest


def test_short_lengths_make_the_flops_claim_inconclusive_not_false():
    rows = _flop_rows("transformer", lambda L: 1e7 + 1e3 * L) + _flop_rows("mamba", lambda L: 2e5)
    found = claim(pd.DataFrame(rows), "e")
    assert found.verdict == INCONCLUSIVE and found.detail == "lengths too short"
    assert "L≈9.8K" in found.evidence  # 1e7 / 1e3 tokens


def test_a_recurrence_whose_flops_grow_per_token_fails():
    rows = _flop_rows("transformer", lambda L: 1e3 * L) + _flop_rows("rwkv", lambda L: 5.0 * L)
    assert claim(pd.DataFrame(rows), "e").verdict == FAILS


# --------------------------------------------------------------------------- (f) generation


def test_the_generation_claim_holds_at_five_times(everything):
    found = claim(everything, "f")
    assert found.verdict == HOLDS, found
    assert "×4.9" in found.evidence and "at equal batch 64" in found.evidence
    assert "decode alone (no prefill) ×4.5" in found.evidence
    assert "stopped at batch 128: oom" in found.evidence  # the Transformer's KV cache
    assert "prompt 2048 + 128 generated" in found.evidence
    assert "NVIDIA H100" in found.evidence and found.paper.startswith("Gu & Dao")


def test_equal_memory_lets_mamba_use_batches_the_transformer_cannot_fit(everything):
    rng = np.random.default_rng(0)
    mamba = generation_series(everything, "mamba")
    transformer = generation_series(everything, "transformer")
    budget = max(transformer.memory.values())
    at_memory = throughput_ratio(mamba, transformer, rng, budget=budget)
    assert (at_memory.mamba_batch, at_memory.transformer_batch) == (128, 64)
    at_batch = throughput_ratio(mamba, transformer, rng, batch=8)
    assert at_batch.value < at_memory.value
    assert at_batch.interval.low < at_batch.value < at_batch.interval.high


def test_a_smaller_gain_does_not_hold_and_says_by_how_much(everything):
    slower = everything.copy()
    mamba = slower["architecture"].eq("mamba") & slower["row_kind"].eq("generate")
    slower.loc[mamba & slower["status"].eq("ok"), "generate_times_s"] = slower.loc[
        mamba & slower["status"].eq("ok"), "generate_times_s"
    ].map(lambda times: [3 * t for t in times])
    found = claim(slower, "f")
    assert found.verdict == FAILS and found.detail.startswith("×1.6")


def test_without_generation_rows_the_claim_is_unknown():
    assert claim(synthetic.results(), "f").verdict == UNKNOWN


# --------------------------------------------------------------------------- (g, h) width


def test_width_series_split_monarch_by_its_mlp(everything):
    labels = [s.label for s in width_series(everything)]
    assert labels == [
        "transformer",
        "lstm",
        "rwkv",
        "monarch",
        "monarch (mlp=monarch)",
        "mamba",
    ]


def test_monarch_matrices_make_the_mlp_subquadratic_in_width(everything):
    found = claim(everything, "g")
    assert found.verdict == HOLDS, found
    assert "d^1.50" in found.evidence and "transformer MLP FLOPs ∝ d^2.00" in found.evidence
    assert "released block-diagonal MLP" in found.evidence


def test_the_whole_monarch_block_is_not_subquadratic_its_projections_are_dense(everything):
    found = claim(everything, "h")
    assert found.verdict == FAILS, found
    assert "projections are dense" in found.evidence
    assert (
        "prefill time ∝ d^1.8" in found.evidence
        and "(by time alone: does not hold)" in found.evidence
    )


def test_without_a_width_sweep_the_width_claims_are_unknown():
    results = synthetic.results()
    assert [claim(results, k).verdict for k in ("g", "h")] == [UNKNOWN, UNKNOWN]


# --------------------------------------------------------------------------- (i) memory


def _memory_rows(kernel, peak, lengths=(256, 512, 1024, 2048, 4096, 8192)):
    return [
        {
            "config_hash": kernel,
            "row_kind": "cost",
            "architecture": "transformer",
            "task": "none",
            "seed": 0,
            "status": "ok",
            "train_seq_len": np.nan,
            "eval_seq_len": np.nan,
            "seq_len": length,
            "accuracy": np.nan,
            "d_model": 256,
            "attention_kernel": kernel,
            "peak_memory_infer_bytes": peak(length) * (1 + 0.01 * np.sin(length)),
        }
        for length in lengths
    ]


def test_attention_memory_is_quadratic_on_the_math_path_and_linear_fused():
    rows = _memory_rows("math", lambda L: 1e4 * L + 64 * L**2)
    rows += _memory_rows("flash (cpu)", lambda L: 1e4 * L)
    found = claim(pd.DataFrame(rows), "i")
    assert found.verdict == HOLDS, found
    assert found.evidence.startswith("math: peak memory ∝ L^1.")
    assert "flash (cpu): peak memory ∝ L^1.00" in found.evidence


def test_a_fused_kernel_with_quadratic_memory_does_not_hold():
    rows = _memory_rows("math", lambda L: 64 * L**2) + _memory_rows("flash", lambda L: 64 * L**2)
    assert claim(pd.DataFrame(rows), "i").verdict == FAILS


def test_one_kernel_alone_cannot_decide_the_memory_claim():
    found = claim(pd.DataFrame(_memory_rows("math", lambda L: 64 * L**2)), "i")
    assert found.verdict == UNKNOWN and "no rows with a fused kernel" in found.detail
    assert claim(synthetic.results(), "i").verdict == UNKNOWN
