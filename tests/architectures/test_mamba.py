"""Mamba block and its selective scan: references, stability, memory, checkpoints, backends."""

import math

import pytest
import torch
import torch.nn.functional as F

import architectures
from architectures import ConfigError
from architectures.mamba import MambaBlock
from architectures.selective_scan import (
    KEEP_STATES_BELOW,
    _fast_chunks,
    _to_chunks,
    selective_scan,
    selective_scan_reference,
)

MAMBA_SSM_NAMES = {
    "in_proj.weight": (128, 32),
    "conv1d.weight": (64, 1, 4),
    "conv1d.bias": (64,),
    "x_proj.weight": (2 + 2 * 16, 64),  # dt_rank = ceil(32 / 16) = 2
    "dt_proj.weight": (64, 2),
    "dt_proj.bias": (64,),
    "A_log": (64, 16),
    "D": (64,),
    "out_proj.weight": (32, 64),
}


def _scan_inputs(batch=2, d=6, n=4, length=50, delta_scale=1.0, a_scale=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(batch, d, length, generator=g, dtype=torch.float64)
    delta = torch.rand(batch, d, length, generator=g, dtype=torch.float64) * delta_scale
    A = -torch.rand(d, n, generator=g, dtype=torch.float64) * a_scale - 0.1
    B, C = torch.randn(2, batch, n, length, generator=g, dtype=torch.float64)
    D = torch.randn(d, generator=g, dtype=torch.float64)
    z = torch.randn(batch, d, length, generator=g, dtype=torch.float64)
    return u, delta, A, B, C, D, z


def _rel_err(a, b):
    a, b = a.detach(), b.detach()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


@pytest.mark.parametrize("keep", [KEEP_STATES_BELOW, 0], ids=["states kept", "recomputed"])
@pytest.mark.parametrize("length", [1, 17, 50], ids=lambda n: f"L={n}")
def test_scan_forward_and_gradients_match_sequential_reference(length, keep):
    inputs = [t.requires_grad_() for t in _scan_inputs(length=length)]
    y, h = selective_scan(
        *inputs[:6], z=inputs[6], return_last_state=True, chunk_size=16, keep_states_below=keep
    )
    y_ref, h_ref = selective_scan_reference(*inputs)
    assert _rel_err(y, y_ref) < 1e-12 and _rel_err(h, h_ref) < 1e-12
    dy, dh = torch.randn_like(y), torch.randn_like(h)
    grads = torch.autograd.grad((y * dy).sum() + (h * dh).sum(), inputs)
    grads_ref = torch.autograd.grad((y_ref * dy).sum() + (h_ref * dh).sum(), inputs)
    for name, g, g_ref in zip(
        ["u", "delta", "A", "B", "C", "D", "z"], grads, grads_ref, strict=True
    ):
        torch.testing.assert_close(g, g_ref, atol=1e-12, rtol=1e-9, msg=name)


def test_scan_is_stable_for_strong_decays_over_long_sequences():
    # Bursts of large Δ against a very negative A: some chunks decay by e^-1000 or more
    # (stable path), the rest are mild (fast path); fp32 must match a float64 reference.
    u, delta, A, B, C, D, _ = _scan_inputs(batch=1, d=4, n=4, length=4096, a_scale=50.0)
    delta = torch.where(torch.rand_like(delta) < 0.01, delta * 40, delta * 0.02)
    chunks = _fast_chunks(_to_chunks(delta, 16), A)
    assert 0 < sum(chunks) < len(chunks), "the test must exercise both paths"
    y_ref, h_ref = selective_scan_reference(u, delta, A, B, C, D)
    inputs32 = [t.float().requires_grad_() for t in (u, delta, A, B, C, D)]
    y, h = selective_scan(*inputs32, return_last_state=True, chunk_size=16)
    assert torch.isfinite(y).all() and torch.isfinite(h).all()
    assert _rel_err(y.double(), y_ref) < 1e-5 and _rel_err(h.double(), h_ref) < 1e-5
    y.square().sum().backward()
    assert all(torch.isfinite(t.grad).all() for t in inputs32)


@pytest.mark.parametrize("keep", [False, True], ids=["long", "short"])
def test_scan_keeps_per_step_states_for_backward_only_when_short(keep):
    # Saved for backward: inputs and one state per chunk, never (B, L, d, N), unless all
    # the states number fewer than keep_states_below.
    batch, d, n, length = 2, 64, 16, 512
    u, delta, A, B, C, D, _ = (
        t.float().requires_grad_() for t in _scan_inputs(batch, d, n, length)
    )
    saved = []

    def pack(t):
        saved.append(t.numel())
        return t

    all_states = batch * length * d * n
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        selective_scan(
            u, delta, A, B, C, D, chunk_size=16, keep_states_below=all_states + 1 if keep else 0
        )
    if keep:  # the states and the decays, each (B, d, N, L)
        assert sum(saved) > 2 * all_states, f"saved {sum(saved)} numbers"
    else:
        assert sum(saved) < all_states / 2, f"saved {sum(saved)}, all states are {all_states}"


def test_bfloat16_inputs_scan_in_float32():
    u, delta, A, B, C, D, z = (t.float() for t in _scan_inputs())
    y32 = selective_scan(u, delta, A, B, C, D, z)
    y16 = selective_scan(*(t.bfloat16() for t in (u, delta, A, B, C, D, z)))
    assert y16.dtype == torch.bfloat16
    assert _rel_err(y16.float(), y32) < 0.05


def test_parameter_names_and_shapes_are_mamba_ssm_s():
    block = architectures.create("mamba", d_model=32)
    shapes = {name: tuple(p.shape) for name, p in block.mixer.named_parameters()}
    assert shapes == MAMBA_SSM_NAMES
    assert set(dict(block.named_parameters())) == {"norm.weight"} | {
        f"mixer.{name}" for name in MAMBA_SSM_NAMES
    }


def test_initialisation_follows_the_paper():
    config = architectures.make_config("mamba", d_model=48, dt_min=0.01, dt_max=0.05)
    mixer = MambaBlock(config).mixer
    assert config.rank == math.ceil(48 / 16)
    expected_a = torch.arange(1, 17.0).repeat(96, 1)  # S4D-real: A = -(1, …, N)
    assert torch.allclose(-torch.exp(mixer.A_log), -expected_a)
    dt = F.softplus(mixer.dt_proj.bias)
    assert (dt >= 0.01 * 0.999).all() and (dt <= 0.05 * 1.001).all()
    assert torch.equal(mixer.D, torch.ones(96))


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"d_state": 0}, "d_state=0 must be a positive integer"),
        ({"dt_rank": -1}, "dt_rank=-1 must be a positive integer or None"),
        ({"dt_min": 0.1, "dt_max": 0.01}, "dt_max=0.01 must be >= dt_min=0.1"),
    ],
    ids=["zero-state", "negative-rank", "dt-range-reversed"],
)
def test_invalid_settings_name_field_value_and_rule(setting, message):
    with pytest.raises(ConfigError, match=message):
        architectures.create("mamba", **setting)


def _mambapy_pair(d_model=32):
    mambapy = pytest.importorskip("mambapy.mamba")
    torch.manual_seed(0)
    theirs = mambapy.ResidualBlock(mambapy.MambaConfig(d_model=d_model, n_layers=1))
    ours = architectures.create("mamba", d_model=d_model, backend="torch")
    ours.load_state_dict(theirs.state_dict())  # same names: loads unchanged
    return ours, theirs


def test_matches_mambapy_forward_and_gradients():
    ours, theirs = _mambapy_pair()
    x = torch.randn(2, 37, 32)
    x_ours, x_theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
    y_ours, y_theirs = ours(x_ours), theirs(x_theirs)
    torch.testing.assert_close(y_ours, y_theirs, atol=1e-5, rtol=1e-4)
    dy = torch.randn_like(y_ours)
    y_ours.backward(dy)
    y_theirs.backward(dy)
    torch.testing.assert_close(x_ours.grad, x_theirs.grad, atol=1e-5, rtol=1e-4)
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        torch.testing.assert_close(
            p.grad,
            theirs_params[name].grad,
            atol=1e-4,
            rtol=1e-3,
            msg=lambda m, n=name: f"{n}: {m}",
        )


def test_step_matches_mambapy_step():
    ours, theirs = _mambapy_pair()
    x = torch.randn(2, 9, 32)
    state = ours.init_state(2)
    cache = (None, torch.zeros(2, 64, 3))  # mambapy: (ssm state, last d_conv - 1 inputs)
    with torch.no_grad():
        for t in range(x.shape[1]):
            y_ours, state = ours.step(x[:, t], state)
            y_theirs, cache = theirs.step(x[:, t], cache)
            torch.testing.assert_close(y_ours, y_theirs, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(state["ssm"], cache[0], atol=1e-5, rtol=1e-4)


def test_auto_backend_on_cpu_records_torch():
    block = architectures.create("mamba", d_model=16)
    block(torch.randn(1, 5, 16))
    assert block.backend_used == "torch"


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
def test_cuda_backend_matches_torch_backend(dtype):
    pytest.importorskip("mamba_ssm")
    torch.manual_seed(0)
    fused = architectures.create("mamba", d_model=256, backend="cuda").cuda().to(dtype)
    reference = architectures.create("mamba", d_model=256, backend="torch").cuda().to(dtype)
    reference.load_state_dict(fused.state_dict())
    x = torch.randn(4, 1000, 256, device="cuda", dtype=dtype)
    x_fused, x_ref = x.clone().requires_grad_(), x.clone().requires_grad_()
    y_fused, y_ref = fused(x_fused), reference(x_ref)
    assert fused.backend_used == "cuda" and reference.backend_used == "torch"
    tol = {"atol": 1e-3, "rtol": 1e-3} if dtype == torch.float32 else {"atol": 5e-2, "rtol": 5e-2}
    torch.testing.assert_close(y_fused, y_ref, **tol)
    y_fused.float().square().mean().backward()
    y_ref.float().square().mean().backward()
    torch.testing.assert_close(x_fused.grad, x_ref.grad, **tol)
    ref_params = dict(reference.named_parameters())
    for name, p in fused.named_parameters():
        torch.testing.assert_close(p.grad, ref_params[name].grad, **tol)


def test_kept_states_survive_a_second_backward():
    # Backward reads the kept states without writing them: retain_graph gives equal grads.
    inputs = [t.requires_grad_() for t in _scan_inputs(length=40)]
    y = selective_scan(*inputs[:6], chunk_size=16)
    first = torch.autograd.grad(y.square().sum(), inputs[:6], retain_graph=True)
    second = torch.autograd.grad(y.square().sum(), inputs[:6])
    for a, b in zip(first, second, strict=True):
        torch.testing.assert_close(a, b, atol=0, rtol=0)
