"""bench.run.reach: influence of the input at s on the output at t, by distance t − s."""

import math

import numpy as np
import pytest
import torch
from torch import Tensor, nn

import architectures
import tasks
from architectures import SequenceModel
from architectures.contract import randomize
from bench.run.reach import (
    REACH_SEED,
    decay_distance,
    fit_decay_rate,
    influence_by_distance,
    influence_of_architecture,
    reach_table,
)

NAMES = architectures.names()
TINY = {"d_model": 16, "seq_len": 32, "n_sequences": 2, "targets": 2}


def tiny_overrides(name: str) -> dict:
    """Settings a block needs at d_model 16 (RWKV's heads are 64 wide by default)."""
    return {"d_head": 16} if "d_head" in architectures.config_fields(name) else {}


class DecayingRecurrence(nn.Module):
    """y_t = Σ_{s≤t} λ^(t−s) W x_s, in parallel form: J_{t,s} = λ^(t−s) W exactly."""

    def __init__(self, d_model: int, lam: float, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.lam = lam
        self.W = nn.Parameter(torch.randn(d_model, d_model, generator=g) / math.sqrt(d_model))

    def forward(self, x: Tensor) -> Tensor:  # (B, L, D) -> (B, L, D)
        length = x.shape[1]
        t = torch.arange(length, dtype=x.dtype, device=x.device)
        lag = t[:, None] - t[None, :]  # (L, L): t − s
        kernel = torch.where(lag >= 0, self.lam ** lag.clamp(min=0), torch.zeros_like(lag))
        return torch.einsum("ts,bsd->btd", kernel, x) @ self.W.T


class CausalMean(nn.Module):
    """y_t = W · mean_{s≤t} x_s: uniform attention, whose influence does not decay."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.W = nn.Parameter(torch.eye(d_model))

    def forward(self, x: Tensor) -> Tensor:
        counts = torch.arange(1, x.shape[1] + 1, dtype=x.dtype)[:, None]  # (L, 1)
        return (x.cumsum(1) / counts) @ self.W.T


class LooksAhead(nn.Module):
    """y_t = x_t + x_{t+1}: not causal."""

    def forward(self, x: Tensor) -> Tensor:
        return x + torch.cat([x[:, 1:], torch.zeros_like(x[:, :1])], dim=1)


def _inputs(n: int, length: int, d_model: int, seed: int = 0) -> Tensor:
    return torch.randn(n, length, d_model, generator=torch.Generator().manual_seed(seed))


# --- the analytic answer -----------------------------------------------------------------------


@pytest.mark.parametrize("probes", [None, 8], ids=["exact", "8-probes"])
def test_recurrence_influence_is_lambda_to_the_distance(probes) -> None:
    lam, d_model, length = 0.8, 6, 64
    module = DecayingRecurrence(d_model, lam)
    profile = influence_by_distance(module, inputs=_inputs(3, length, d_model), probes=probes)
    relative = profile.relative_influence
    # Probes err by one factor per (sequence, target), the same at every distance: ratios
    # are exact where every target has a term (d ≤ 60), exact everywhere without probes.
    for d in (1, 2, 5, 17, 40, 60) if probes else (1, 2, 5, 17, 40, 61, 63):
        assert relative[d] == pytest.approx(lam**d, rel=1e-9), d
    if probes is None:  # exact: influence(0) is ‖W‖_F itself
        frobenius = torch.linalg.matrix_norm(module.W.detach().double()).item()
        assert profile.influence[0] == pytest.approx(frobenius, rel=1e-12)
    assert profile.acausal == 0.0


def test_fit_recovers_log_lambda_with_an_interval_containing_it() -> None:
    lam, d_model, length = 0.8, 4, 64
    profile = influence_by_distance(
        DecayingRecurrence(d_model, lam), inputs=_inputs(4, length, d_model), probes=4
    )
    fit = fit_decay_rate(profile)
    assert fit.rate == pytest.approx(math.log(lam), rel=1e-9)
    # The Jacobian is the same for every input, so the interval is a point up to rounding.
    assert fit.low - 1e-9 <= math.log(lam) <= fit.high + 1e-9
    assert fit.r2 == pytest.approx(1.0, abs=1e-12)
    assert fit.decays and not fit.flat
    assert fit.n_points == 60  # distances 1 … 60: every target (the last four) covers them
    assert fit.far_to_near < 1e-3


def test_fit_stops_at_the_float_noise_floor() -> None:
    # 0.5^d falls below 2e-13 (the float64 floor) after d = 42: the fit must stop there.
    profile = influence_by_distance(DecayingRecurrence(3, 0.5), inputs=_inputs(2, 128, 3))
    fit = fit_decay_rate(profile)
    assert fit.stop == math.floor(math.log(1e3 * torch.finfo(torch.float64).eps) / math.log(0.5))
    assert fit.rate == pytest.approx(math.log(0.5), rel=1e-9)


def test_a_causal_mean_does_not_decay() -> None:
    profile = influence_by_distance(CausalMean(4), inputs=_inputs(3, 48, 4, seed=1))
    fit = fit_decay_rate(profile)
    assert abs(fit.rate) < 1e-9 and fit.low - 1e-9 <= 0 <= fit.high + 1e-9
    assert fit.far_to_near == pytest.approx(1.0, rel=1e-9)
    assert not fit.decays


@pytest.mark.parametrize(("lam", "expected"), [(0.8, 31), (0.5, 10), (0.99, None)])
def test_decay_distance_is_the_analytic_one(lam, expected) -> None:
    # 0.8^31 = 9.9e-4 < 1e-3 <= 0.8^30; 0.5^10 = 9.8e-4; 0.99^63 = 0.53 never gets there.
    profile = influence_by_distance(DecayingRecurrence(4, lam), inputs=_inputs(2, 64, 4))
    assert decay_distance(profile, threshold=1e-3) == expected
    if expected is not None:
        assert expected == math.ceil(math.log(1e-3) / math.log(lam))
        # Against distance 1: λ^(d−1) < 1e-3 one distance later.
        assert decay_distance(profile, threshold=1e-3, reference=1) == expected + 1


def test_decay_from_distance_one_ignores_the_residual_identity() -> None:
    class ResidualMean(CausalMean):
        def forward(self, x: Tensor) -> Tensor:
            return x + super().forward(x)

    # J_{t,t} = I + I/(t+1), J_{t,s} = I/(t+1): 1/257 of distance 0 at every other distance.
    profile = influence_by_distance(ResidualMean(4), inputs=_inputs(2, 256, 4))
    assert decay_distance(profile, threshold=1e-2) == 1
    assert decay_distance(profile, threshold=1e-2, reference=1) is None


def test_exact_profile_matches_the_full_jacobian() -> None:
    # Bookkeeping check on a nonlinear block: every target, one sequence, torch's Jacobian.
    block = randomize(architectures.create("transformer", d_model=8, n_heads=2))
    x = _inputs(1, 6, 8, seed=3)
    profile = influence_by_distance(block, inputs=x, targets=range(6), max_rows=5)
    jac = torch.autograd.functional.jacobian(block.double(), x.double())[0, :, :, 0]  # (L,D,L,D)
    block_norms = torch.linalg.matrix_norm(jac.permute(0, 2, 1, 3)) ** 2  # (t, s)
    for d in range(6):
        expected = np.mean([block_norms[t, t - d].item() for t in range(d, 6)])
        assert profile.influence[d] ** 2 == pytest.approx(expected, rel=1e-10)
    assert profile.n_terms.tolist() == [6, 5, 4, 3, 2, 1]


# --- causality -----------------------------------------------------------------------------


def test_negative_distances_are_not_reported() -> None:
    profile = influence_by_distance(DecayingRecurrence(4, 0.9), inputs=_inputs(2, 16, 4))
    frame = profile.to_frame()
    assert list(frame.columns) == ["distance", "influence", "relative_influence", "n_terms"]
    assert frame.distance.tolist() == list(range(16))
    assert profile.acausal == 0.0


def test_a_module_that_looks_ahead_is_caught() -> None:
    profile = influence_by_distance(LooksAhead(), inputs=_inputs(2, 8, 4), targets=[3, 5])
    assert profile.acausal == pytest.approx(2.0)  # ‖I‖_F of the next position, D = 4
    assert profile.to_frame().distance.min() == 0


# --- every registered block ------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES, ids=[f"{n}-D=16-L=32-fp64" for n in NAMES])
def test_every_block_gives_a_finite_causal_profile(name: str) -> None:
    profile = influence_of_architecture(name, overrides=tiny_overrides(name), **TINY)
    influence = profile.influence
    assert len(influence) == 32 and np.isfinite(influence).all()
    assert (influence >= 0).all() and influence[0] > 0
    # FFT convolutions (Monarch) leak rounding error, 1e-16 of the signal, into the future.
    assert profile.acausal <= 1e-12 * influence[0]


@pytest.mark.parametrize("name", NAMES, ids=[f"{n}-randomised" for n in NAMES])
def test_every_randomised_block_reaches_back(name: str) -> None:
    # A fresh RWKV block is the identity (zero output layers); randomised, every path is live.
    torch.manual_seed(0)
    block = randomize(architectures.create(name, d_model=16, **tiny_overrides(name)))
    profile = influence_by_distance(block, 16, n_sequences=1, targets=1, probes=4)
    assert profile.relative_influence[1] > 1e-6
    assert profile.acausal <= 1e-12 * profile.influence[0]


def test_rwkv_at_init_has_no_reach_beyond_distance_zero() -> None:
    profile = influence_of_architecture("rwkv", overrides=tiny_overrides("rwkv"), **TINY)
    assert (profile.influence[1:] == 0).all()
    fit = fit_decay_rate(profile)
    assert fit.n_points == 0 and math.isnan(fit.rate)
    assert decay_distance(profile) == 1


def test_a_whole_model_is_measured_from_its_embeddings() -> None:
    # One layer: the model's profile from its embeddings is its lone block's profile.
    torch.manual_seed(0)
    model = SequenceModel("lstm", vocab_size=8, d_model=16, n_layers=1)
    tokens = torch.randint(0, 8, (2, 12), generator=torch.Generator().manual_seed(0))
    of_model = influence_by_distance(model, inputs=tokens)
    embeddings = model.embedding(tokens).detach()
    of_block = influence_by_distance(model.blocks[0], inputs=embeddings)
    np.testing.assert_allclose(of_model.sq_norms, of_block.sq_norms, rtol=1e-12)
    deep = SequenceModel("lstm", vocab_size=8, d_model=16, n_layers=2)
    assert influence_by_distance(deep, 12, n_sequences=2).acausal == 0.0


def test_subtract_input_removes_the_residual_identity_at_distance_zero() -> None:
    lone = influence_by_distance(LooksAhead(), inputs=_inputs(1, 8, 4), targets=[7])
    update = influence_by_distance(
        LooksAhead(), inputs=_inputs(1, 8, 4), targets=[7], subtract_input=True
    )
    assert lone.influence[0] == pytest.approx(2.0)  # ‖I‖_F, D = 4
    assert update.influence[0] == 0.0


def test_reach_table_has_a_row_per_architecture() -> None:
    names = ["lstm", "rwkv"]
    table = reach_table(names, overrides={"rwkv": tiny_overrides("rwkv")}, **TINY)
    assert table.architecture.tolist() == names
    assert str(table.decay_distance.dtype) == "Int64"
    assert table.loc[table.architecture == "rwkv", "decay_distance"].item() == 1


# --- determinism and hygiene -------------------------------------------------------------------


def test_same_seed_gives_the_same_profile() -> None:
    settings = {"overrides": {}, **TINY, "probes": 4}
    a = influence_of_architecture("mamba", seed=3, **settings)
    b = influence_of_architecture("mamba", seed=3, **settings)
    c = influence_of_architecture("mamba", seed=4, **settings)
    assert np.array_equal(a.sq_norms, b.sq_norms, equal_nan=True)
    assert not np.array_equal(a.sq_norms, c.sq_norms, equal_nan=True)
    assert fit_decay_rate(a) == fit_decay_rate(b)


def test_the_measured_module_is_left_as_it_was() -> None:
    block = architectures.create("lstm", d_model=16)
    before = {k: v.clone() for k, v in block.state_dict().items()}
    state = torch.random.get_rng_state()
    influence_by_distance(block, 8, n_sequences=1, targets=1)
    influence_of_architecture("lstm", d_model=16, seq_len=8, n_sequences=1, targets=1)
    assert all(p.dtype == torch.float32 and p.requires_grad for p in block.parameters())
    assert all(torch.equal(before[k], v) for k, v in block.state_dict().items())
    assert torch.equal(torch.random.get_rng_state(), state)


def test_bad_targets_are_refused_in_one_line() -> None:
    with pytest.raises(ValueError, match=r"targets=\[40\] must be positions in \[-32, 32\)"):
        influence_by_distance(DecayingRecurrence(4, 0.9), inputs=_inputs(1, 32, 4), targets=[40])
    with pytest.raises(ValueError, match="pass inputs="):
        influence_by_distance(DecayingRecurrence(4, 0.9), 32)


# --- after training: a run's reach metrics (bench.run.train.execute) ---------------------------


def _tiny_run(**changes):
    from _tiny import tiny

    from bench.sweep.load import build_sweep

    raw = tiny(grid={"architecture": ["lstm"], "task": ["induction"]}, measure={"cost": False})
    raw.update(changes)
    return build_sweep(raw).runs[0]


def test_a_run_with_reach_records_its_trained_and_initial_profiles() -> None:
    from bench.run.train import build_model, execute

    run = _tiny_run(reach={"n_sequences": 2, "targets": 2, "probes": 0})
    record = execute(run)
    assert record["status"] == "ok", record.get("traceback")
    m = record["metrics"]
    assert "reach_error" not in m
    for prefix in ("reach_", "reach_init_"):
        influence = m[f"{prefix}influence"]
        # Distances 0 … L − 2: the largest every target (the last two positions) covers.
        assert len(influence) == run.train.seq_len - 1 and influence[0] == 1.0
        assert m[f"{prefix}seq_len"] == run.train.seq_len
        assert m[f"{prefix}rate_low"] <= m[f"{prefix}rate"] <= m[f"{prefix}rate_high"]
        assert 0 <= m[f"{prefix}r2"] <= 1
    assert m["reach_influence"] != m["reach_init_influence"], "training changed the model"
    # The initial profile is that of the model the run starts from, on the run's sequences.
    task = tasks.create("induction")
    tokens = task.sample(2, run.train.seq_len, torch.Generator().manual_seed(REACH_SEED + run.seed))
    initial = influence_by_distance(
        build_model(run, task.vocab_size), inputs=tokens.inputs, targets=2
    )
    expected = initial.relative_influence[: run.train.seq_len - 1]
    np.testing.assert_allclose(m["reach_init_influence"], expected, rtol=1e-9)
    assert execute(run)["metrics"]["reach_influence"] == m["reach_influence"], "deterministic"


def test_a_run_without_reach_records_none_and_init_can_be_left_out() -> None:
    from bench.run.train import execute

    plain = execute(_tiny_run())["metrics"]
    assert not [key for key in plain if key.startswith("reach")]
    trained_only = execute(_tiny_run(reach={"init": False, "n_sequences": 1, "targets": 1}))
    keys = trained_only["metrics"]
    assert "reach_rate" in keys and not [k for k in keys if k.startswith("reach_init_")]


def test_a_failed_reach_measurement_leaves_the_run_standing(monkeypatch) -> None:
    from bench.run import train

    def broken(*_args, **_kwargs):
        raise RuntimeError("this kernel takes no float64")

    monkeypatch.setattr(train, "run_reach", broken)
    record = train.execute(_tiny_run(reach={}))
    assert record["status"] == "ok" and record["points"]
    assert record["metrics"]["reach_error"] == "RuntimeError: this kernel takes no float64"
