"""RWKV-6: the WKV operator against one-token-at-a-time recurrences, and the block's laws."""

import pytest
import torch

import architectures
from architectures import ConfigError
from architectures.contract import check_state_size, check_step_matches_forward
from architectures.rwkv import ChannelMix, RWKV6Block, TimeMix, wkv6
from architectures.wkv import wkv6_step


def recurrence(r, k, v, w, u, scale=1.0, initial_state=None):
    """The definition, in float64, token by token: o_t = r_t (S + u kᵀv), S ← e^w S + kᵀv."""
    r, k, v, w, u = (t.double() for t in (r, k, v, w, u))
    B, T, H, K = r.shape
    S = torch.zeros(B, H, K, v.shape[-1], dtype=torch.float64)
    if initial_state is not None:
        S = S + initial_state.double()
    outputs = []
    for t in range(T):
        kv = k[:, t, :, :, None] * v[:, t, :, None, :]  # (B, H, K, V)
        outputs.append(torch.einsum("bhk,bhkv->bhv", r[:, t] * scale, S + u[..., None] * kv))
        S = w[:, t].exp()[..., None] * S + kv
    return torch.stack(outputs, dim=1), S


def make_inputs(T, B=2, H=2, K=8, V=6, decay=(-3.0, 0.0), dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    r, k = (torch.randn(B, T, H, K, generator=g, dtype=dtype) for _ in range(2))
    v = torch.randn(B, T, H, V, generator=g, dtype=dtype)
    low, high = decay
    w = low + (high - low) * torch.rand(B, T, H, K, generator=g, dtype=dtype)
    u = torch.randn(H, K, generator=g, dtype=dtype)
    h0 = torch.randn(B, H, K, V, generator=g, dtype=dtype)
    return r, k, v, w, u, h0


def assert_close(actual, expected, tol=1e-4):
    err = (actual.double() - expected.double()).abs().max().item()
    assert err <= tol * (1 + expected.abs().max().item()), f"max |diff| {err:.2e}"


# --- the operator ---------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [4, 64], ids=lambda c: f"chunk={c}")
@pytest.mark.parametrize("T", [1, 17, 100], ids=lambda t: f"T={t}")
def test_wkv6_matches_float64_recurrence(T, chunk_size) -> None:
    r, k, v, w, u, h0 = make_inputs(T)
    o, S = wkv6(r, k, v, w, u, 0.5, h0, output_final_state=True, chunk_size=chunk_size)
    o_ref, S_ref = recurrence(r, k, v, w, u, 0.5, h0)
    assert o.shape == (2, T, 2, 6) and o.dtype == torch.float32 and S.shape == (2, 2, 8, 6)
    assert_close(o, o_ref)
    assert_close(S, S_ref)


def test_wkv6_without_state_returns_none_and_starts_from_zero() -> None:
    r, k, v, w, u, _ = make_inputs(9)
    o, S = wkv6(r, k, v, w, u)
    assert S is None
    assert_close(o, recurrence(r, k, v, w, u)[0])


def test_wkv6_gradients_match_float64_recurrence() -> None:
    # float64 inputs run the chunked path in float64: gradients must agree to rounding.
    inputs = [t.requires_grad_() for t in make_inputs(37, dtype=torch.float64)]
    grad_o, grad_S = (
        torch.randn(2, 37, 2, 6, dtype=torch.float64),
        torch.randn(2, 2, 8, 6, dtype=torch.float64),
    )
    grads = []
    for fn in (
        lambda *a: wkv6(*a[:5], 0.7, a[5], output_final_state=True, chunk_size=8),
        lambda *a: recurrence(*a[:5], 0.7, a[5]),
    ):
        o, S = fn(*inputs)
        grads.append(torch.autograd.grad((o * grad_o).sum() + (S * grad_S).sum(), inputs))
    names = ["r", "k", "v", "w", "u", "initial_state"]
    for name, ours, ref in zip(names, *grads, strict=True):
        assert torch.allclose(ours, ref, atol=1e-10, rtol=1e-9), name


@pytest.mark.parametrize(
    "decay",
    [(-20.0, -20.0), (-20.0, 0.0), (-1e-6, 0.0)],
    ids=["w=-20", "w-in-[-20,0]", "w~0"],
)
def test_wkv6_is_stable_at_T4096(decay) -> None:
    r, k, v, w, u, h0 = make_inputs(4096, B=1, H=1, K=16, V=16, decay=decay)
    o, S = wkv6(r, k, v, w, u, initial_state=h0, output_final_state=True)
    o_ref, S_ref = recurrence(r, k, v, w, u, initial_state=h0)
    assert torch.isfinite(o).all() and torch.isfinite(S).all()
    assert_close(o, o_ref, tol=2e-5)
    assert_close(S, S_ref, tol=2e-5)


def _rel_err(actual, expected) -> float:
    return ((actual.double() - expected).abs().max() / expected.abs().max()).item()


@pytest.mark.parametrize(
    "log_decay", [-1e4, -1e6, -1e8, float("-inf")], ids=["w=-1e4", "w=-1e6", "w=-1e8", "w=-inf"]
)
def test_wkv6_is_exact_for_every_strong_decay(log_decay) -> None:
    # A third of the channels decay at log_decay, the rest in [-3, 0]: the chunk sums
    # must not cancel (before the fix: 1.1e-4, 6.9e-3, 0.51 relative error, then NaN).
    r, k, v, w, u, h0 = make_inputs(100)
    strong = torch.rand(w.shape, generator=torch.Generator().manual_seed(1)) < 1 / 3
    w = torch.where(strong, torch.tensor(log_decay), w)
    for chunk_size in (4, 64):
        o, S = wkv6(r, k, v, w, u, 0.5, h0, output_final_state=True, chunk_size=chunk_size)
        o_ref, S_ref = recurrence(r, k, v, w, u, 0.5, h0)
        assert torch.isfinite(o).all() and torch.isfinite(S).all()
        assert _rel_err(o, o_ref) < 1e-5 and _rel_err(S, S_ref) < 1e-5


def test_wkv6_gradients_stay_finite_at_infinite_decay() -> None:
    r, k, v, w, u, h0 = make_inputs(40)
    w = torch.where(torch.arange(8) % 2 == 0, torch.tensor(float("-inf")), w)
    inputs = [r, k, v, u, h0]
    for t in inputs:
        t.requires_grad_()
    o, S = wkv6(r, k, v, w, u, 1.0, h0, output_final_state=True, chunk_size=8)
    (o.square().sum() + S.square().sum()).backward()
    assert all(torch.isfinite(t.grad).all() for t in inputs)


def test_wkv6_step_matches_chunked() -> None:
    r, k, v, w, u, h0 = make_inputs(23)
    o, S = wkv6(r, k, v, w, u, 2.0, h0, output_final_state=True)
    steps, state = [], h0
    for t in range(23):
        o_t, state = wkv6_step(r[:, t], k[:, t], v[:, t], w[:, t], u, state, scale=2.0)
        steps.append(o_t)
    assert_close(torch.stack(steps, dim=1), o)
    assert_close(state, S)


def test_wkv6_runs_in_bfloat16_close_to_fp32() -> None:
    r, k, v, w, u, _ = make_inputs(40)
    o, _ = wkv6(*(t.bfloat16() for t in (r, k, v, w, u)))
    assert o.dtype == torch.bfloat16
    assert_close(o, wkv6(r, k, v, w, u)[0], tol=5e-2)


def test_wkv6_rejects_chunk_size_not_power_of_two() -> None:
    with pytest.raises(ValueError, match="chunk_size=48 must be a power of two"):
        wkv6(*make_inputs(4)[:5], chunk_size=48)


def test_wkv6_matches_fla_naive_recurrence() -> None:
    naive = pytest.importorskip("fla.ops.rwkv6.recurrent_naive").naive_recurrent_rwkv6
    inputs = [t.requires_grad_() for t in make_inputs(33)]
    grad_o = torch.randn(2, 33, 2, 6)
    o, S = wkv6(*inputs[:5], 1.0, inputs[5], output_final_state=True, chunk_size=16)
    heads_first = [t.transpose(1, 2) for t in inputs[:4]]  # fla's naive op is (B, H, T, K)
    o_fla, S_fla = naive(*heads_first, inputs[4], 1.0, inputs[5], output_final_state=True)
    assert_close(o, o_fla.transpose(1, 2))
    assert_close(S, S_fla)
    ours = torch.autograd.grad((o * grad_o).sum() + S.sum(), inputs)
    ref = torch.autograd.grad((o_fla.transpose(1, 2) * grad_o).sum() + S_fla.sum(), inputs)
    for a, b in zip(ours, ref, strict=True):
        assert_close(a, b)


@pytest.mark.gpu
def test_wkv6_matches_fla_chunk_kernel_on_cuda() -> None:
    pytest.importorskip("fla.ops.rwkv6")
    from architectures._fused import rwkv6_chunk

    inputs = [t.cuda().requires_grad_() for t in make_inputs(300, H=4, K=64, V=64)]
    grad_o = torch.randn(2, 300, 4, 64, device="cuda")
    results = []
    for op in (wkv6, rwkv6_chunk):
        o, S = op(*inputs[:5], 1.0, inputs[5], output_final_state=True)
        grads = torch.autograd.grad((o * grad_o).sum() + S.sum(), inputs)
        results.append((o, S, *grads))
    for ours, fla in zip(*results, strict=True):
        assert_close(fla, ours, tol=2e-3)


# --- the block ------------------------------------------------------------------------------


def test_d_head_must_divide_d_model() -> None:
    with pytest.raises(ConfigError, match="d_model=96 must be divisible by d_head=64"):
        architectures.create("rwkv", d_model=96)
    with pytest.raises(ConfigError, match="d_head=0 must be positive"):
        architectures.create("rwkv", d_head=0)


def test_block_has_time_mix_and_channel_mix_with_paper_names() -> None:
    block = architectures.create("rwkv", d_model=128, d_head=32)
    assert isinstance(block, RWKV6Block)
    assert isinstance(block.mixer, TimeMix) and isinstance(block.mlp, ChannelMix)
    assert block.mixer.n_heads == 4 and block.mixer.time_faaaa.shape == (4, 32)
    names = dict(block.named_parameters())
    for name in ("time_maa_w1", "time_decay_w2", "time_faaaa", "ln_x.weight", "output.weight"):
        assert f"mixer.{name}" in names
    assert block.state_size(1000) == 2 * 128 + 128 * 32


def test_only_the_first_block_normalises_its_input_with_ln0() -> None:
    first, second = (
        architectures.create("rwkv", d_model=64, layer_idx=i, n_layers=2) for i in (0, 1)
    )
    assert "ln0.weight" in dict(first.named_parameters())
    assert not any(name.startswith("ln0") for name, _ in second.named_parameters())
    x = 5 + 3 * torch.randn(2, 7, 64)
    with torch.no_grad():  # fresh blocks are the identity after ln0 (zero output layers)
        torch.testing.assert_close(first(x), torch.nn.functional.layer_norm(x, (64,)))
        torch.testing.assert_close(second(x), x)


def test_a_fresh_block_hides_a_future_peek_that_random_parameters_expose(monkeypatch) -> None:
    # RWKV-6 starts with its output layers and adapters at zero, so the token shift is
    # invisible at init: the contract's random-parameter variant is what catches this.
    import architectures.rwkv as rwkv
    from architectures.contract import CHECKS, ContractViolation, block_factory

    honest = rwkv._shift

    def peeking(x, last=None):
        return honest(x, last) + (0.1 * torch.roll(x, -1, dims=1) if last is None else 0)

    monkeypatch.setattr(rwkv, "_shift", peeking)
    make = block_factory(RWKV6Block)
    with pytest.raises(ContractViolation, match=r"^with random parameters: not causal"):
        CHECKS["causal"](make)


def test_decay_beyond_float_range_keeps_output_and_gradients_finite() -> None:
    block = _trained_looking_block(d_model=64, d_head=16)()
    with torch.no_grad():
        block.mixer.time_decay[::2] = 100.0  # exp(100) overflows float32: w_t = 0 exactly
    x = torch.randn(2, 70, 64, requires_grad=True)
    y = block(x)
    y.square().mean().backward()
    assert torch.isfinite(y).all() and torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in block.parameters())


def _trained_looking_block(**config):
    """A block with every parameter randomised, so every data-dependent path is live."""
    from architectures.contract import randomize

    def make():
        torch.manual_seed(0)
        return randomize(RWKV6Block(RWKV6Block.Config(**config)))

    return make


def test_decay_and_shift_mix_depend_on_the_data() -> None:
    block = _trained_looking_block(d_model=64, d_head=16)()
    x = torch.randn(1, 12, 64)
    _, _, _, w, _ = block.mixer.project(x, torch.zeros_like(x))
    assert ((-w).log().std(dim=1) > 1e-2).all()  # every channel's decay varies over tokens
    assert (w < 0).all()  # a log decay: every w_t = exp(log w) lies in (0, 1)


def test_multi_head_block_step_matches_forward_and_state_size() -> None:
    make = _trained_looking_block(d_model=64, d_head=16)
    check_step_matches_forward(make)
    check_state_size(make)


@pytest.mark.gpu
def test_block_cuda_backend_agrees_with_torch() -> None:
    pytest.importorskip("fla.ops.rwkv6")
    torch.manual_seed(0)
    block = architectures.create("rwkv", d_model=256, backend="cuda").cuda()
    x = torch.randn(2, 200, 256, device="cuda")
    with torch.no_grad():
        y = block(x)
        assert block.backend_used == "cuda"
        block.config = RWKV6Block.Config(d_model=256, backend="torch")
        assert_close(y, block(x), tol=2e-3)
