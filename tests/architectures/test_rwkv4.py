"""RWKV-4: the WKV operator against a float64 recurrence, the block against RWKV-LM.

The references here share no code with ``architectures/rwkv4.py`` or ``wkv4.py``. The
recurrence is the one RWKV-LM's CUDA kernel runs (``RWKV-v4/cuda/wkv_cuda.cu``,
``kernel_forward``: p, q, o, here aa, bb, pp as in ``RWKV-v4neo/src/model_run.py``),
in float64, one token at a time; the block reference transcribes ``RWKV_TimeMix``,
``RWKV_ChannelMix`` and ``Block.forward`` of ``RWKV-v4neo/src/model.py`` on plain tensors.
"""

import math

import pytest
import torch
import torch.nn.functional as F

import architectures
from architectures import SequenceModel
from architectures.contract import randomize
from architectures.rwkv4 import RWKV4Block
from architectures.wkv4 import wkv4, wkv4_step


def recurrence(w, u, k, v, state=None):
    """wkv_cuda.cu's kernel_forward in float64: w, u (D,); k, v (B, T, D) -> (y, (aa, bb, pp))."""
    w, u, k, v = (t.double() for t in (w, u, k, v))
    B, T, D = k.shape
    if state is None:
        aa = torch.zeros(B, D, dtype=torch.float64)
        bb = torch.zeros(B, D, dtype=torch.float64)
        pp = torch.full((B, D), -1e38, dtype=torch.float64)  # MIN_VALUE
    else:
        aa, bb, pp = (t.double() for t in state)
    ys = []
    for t in range(T):
        kt, vt = k[:, t], v[:, t]
        no = torch.maximum(pp, u + kt)
        A, Bt = torch.exp(pp - no), torch.exp(u + kt - no)
        ys.append((A * aa + Bt * vt) / (A * bb + Bt))
        no = torch.maximum(w + pp, kt)
        A, Bt = torch.exp(w + pp - no), torch.exp(kt - no)
        aa, bb, pp = A * aa + Bt * vt, A * bb + Bt, no
    return torch.stack(ys, dim=1), (aa, bb, pp)


def definition(w, u, k, v):
    """The paper's sums written out, in float64 and unstabilised (small inputs only)."""
    w, u, k, v = (t.double() for t in (w, u, k, v))
    T = k.shape[1]
    ys = []
    for t in range(T):
        s = torch.arange(t, dtype=torch.float64)[:, None]  # (t, 1)
        e = torch.exp((t - 1 - s) * w + k[:, :t])  # (B, t, D)
        bonus = torch.exp(u + k[:, t])
        ys.append(((e * v[:, :t]).sum(1) + bonus * v[:, t]) / (e.sum(1) + bonus))
    return torch.stack(ys, dim=1)


# Log decays w per channel (D = 16): the regimes the operator must be exact in.
REGIMES = {
    "mild": torch.full((16,), -1e-3),
    "strong": -torch.logspace(math.log10(20), 20, 16),  # −20 down to −1e20
    "mixed": torch.tensor([-1e-3, -20.0, -0.5, -1e4] * 4),  # per channel, side by side
    "ramp": -torch.exp(torch.linspace(-9, 12, 16)),  # −1.2e-4 … −1.6e5
}


def make_inputs(T, B=2, D=16, key_scale=3.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    k = key_scale * torch.randn(B, T, D, generator=g)  # e^k spans ~e^±10: needs the stable form
    v = torch.randn(B, T, D, generator=g)
    u = torch.randn(D, generator=g)  # the bonus, both signs
    return u, k, v


def rel_err(actual, expected) -> float:
    """max |actual − expected| over max |expected|."""
    return float((actual.double() - expected).abs().max() / expected.abs().max())


def state_rel_err(state, expected) -> float:
    """Largest relative error of the sums aa·e^pp and bb·e^pp, referred to the expected pp."""
    (aa, bb, pp), (aa_e, bb_e, pp_e) = ([t.double() for t in s] for s in (state, expected))
    scale = torch.exp(pp - pp_e)
    return max(rel_err(aa * scale, aa_e), rel_err(bb * scale, bb_e))


# --- the references --------------------------------------------------------------------------


def test_the_recurrence_computes_the_papers_sums() -> None:
    u, k, v = make_inputs(40, key_scale=1.0)
    w = -torch.rand(16, generator=torch.Generator().manual_seed(3)) * 2
    torch.testing.assert_close(recurrence(w, u, k, v)[0], definition(w, u, k, v))


# --- the operator ----------------------------------------------------------------------------


@pytest.mark.parametrize("regime", list(REGIMES))
def test_wkv4_matches_float64_recurrence_over_2048_tokens(regime) -> None:
    w = REGIMES[regime]
    u, k, v = make_inputs(2048)
    y, state = wkv4(w, u, k, v)
    y_ref, state_ref = recurrence(w, u, k, v)
    assert y.dtype == torch.float32 and torch.isfinite(y).all()
    assert rel_err(y, y_ref) < 1e-5
    assert state_rel_err(state, state_ref) < 1e-5


@pytest.mark.parametrize("chunk_size", [1, 4, 64], ids=lambda c: f"chunk={c}")
@pytest.mark.parametrize("T", [1, 17, 100], ids=lambda t: f"T={t}")
def test_wkv4_matches_float64_recurrence_at_any_length_and_chunk(T, chunk_size) -> None:
    w = REGIMES["mixed"]
    u, k, v = make_inputs(T)
    y, state = wkv4(w, u, k, v, chunk_size=chunk_size)
    y_ref, state_ref = recurrence(w, u, k, v)
    assert y.shape == (2, T, 16)
    assert rel_err(y, y_ref) < 1e-5 and state_rel_err(state, state_ref) < 1e-5


def test_wkv4_is_exact_for_keys_beyond_the_float_range() -> None:
    # e^60 overflows float32 and e^-60 is below its normal range: only the stable form works.
    u, k, v = make_inputs(300, key_scale=30.0)
    w = REGIMES["ramp"]
    y, state = wkv4(w, u, k, v)
    y_ref, state_ref = recurrence(w, u, k, v)
    assert rel_err(y, y_ref) < 1e-5 and state_rel_err(state, state_ref) < 1e-5


def test_wkv4_continues_from_a_state() -> None:
    w = REGIMES["mixed"]
    u, k, v = make_inputs(250)
    y_ref, state_ref = recurrence(w, u, k, v)
    _, middle = recurrence(w, u, k[:, :90], v[:, :90])
    y, state = wkv4(w, u, k[:, 90:], v[:, 90:], state=tuple(t.float() for t in middle))
    assert rel_err(y, y_ref[:, 90:]) < 1e-5 and state_rel_err(state, state_ref) < 1e-5


def test_wkv4_step_is_the_recurrence() -> None:
    w = REGIMES["mixed"]
    u, k, v = make_inputs(70)
    y_ref, state_ref = recurrence(w, u, k, v)
    state = (torch.zeros(2, 16), torch.zeros(2, 16), torch.full((2, 16), -1e38))
    ys = []
    for t in range(70):
        y_t, state = wkv4_step(w, u, k[:, t], v[:, t], state)
        ys.append(y_t)
    assert rel_err(torch.stack(ys, dim=1), y_ref) < 1e-5 and state_rel_err(state, state_ref) < 1e-5


def test_wkv4_gradients_match_the_float64_recurrence() -> None:
    # float64 inputs run the chunked form in float64: gradients agree to rounding.
    w = REGIMES["mixed"].double()
    u, k, v = (t.double() for t in make_inputs(37))
    aa, bb, pp = recurrence(w, u, k[:, :5], v[:, :5])[1]
    inputs = [t.clone().requires_grad_() for t in (w, u, k[:, 5:], v[:, 5:], aa, bb)]
    g = torch.Generator().manual_seed(5)
    grad_y = torch.randn(2, 32, 16, generator=g, dtype=torch.float64)
    grad_a, grad_b = (torch.randn(2, 16, generator=g, dtype=torch.float64) for _ in range(2))

    def loss(y, state):  # the sums aa·e^pp, bb·e^pp, not their scaled parts
        a, b, p = state
        return (y * grad_y).sum() + (a * p.exp() * grad_a).sum() + (b * p.exp() * grad_b).sum()

    def chunked(w, u, k, v, aa, bb):
        return wkv4(w, u, k, v, state=(aa, bb, pp), chunk_size=8)

    def stepped(w, u, k, v, aa, bb):
        return recurrence(w, u, k, v, state=(aa, bb, pp))

    grads = [torch.autograd.grad(loss(*op(*inputs)), inputs) for op in (chunked, stepped)]
    for name, ours, ref in zip(["w", "u", "k", "v", "aa", "bb"], *grads, strict=True):
        torch.testing.assert_close(ours, ref, atol=1e-9, rtol=1e-8, msg=name)


def test_wkv4_gradients_stay_finite_at_the_strongest_decays() -> None:
    u, k, v = (t.requires_grad_() for t in make_inputs(100))
    w = REGIMES["strong"].clone().requires_grad_()
    y, _ = wkv4(w, u, k, v, chunk_size=16)
    y.square().sum().backward()
    assert all(torch.isfinite(t.grad).all() for t in (w, u, k, v))


def test_wkv4_runs_in_bfloat16_close_to_fp32() -> None:
    w = REGIMES["mixed"]
    u, k, v = make_inputs(60)
    y, _ = wkv4(w, u, k.bfloat16(), v.bfloat16())
    assert y.dtype == torch.bfloat16
    assert rel_err(y, wkv4(w, u, k, v)[0].double()) < 5e-2


def test_wkv4_rejects_a_chunk_size_not_a_power_of_two() -> None:
    with pytest.raises(ValueError, match="chunk_size=48 must be a power of two"):
        wkv4(REGIMES["mild"], *make_inputs(4), chunk_size=48)


# --- the block: RWKV-LM's init, written out again from RWKV-v4neo/src/model.py ----------------


def _rwkv_lm_expected(layer_id: int, n_layer: int, n_embd: int) -> dict[str, torch.Tensor]:
    """RWKV_TimeMix.__init__ and RWKV_ChannelMix.__init__ (a lone layer counts as the first)."""
    ratio_0_to_1 = layer_id / max(n_layer - 1, 1)
    ratio_1_to_almost0 = 1.0 - (layer_id / n_layer)
    decay_speed = torch.tensor(
        [-5 + 8 * (h / (n_embd - 1)) ** (0.7 + 1.3 * ratio_0_to_1) for h in range(n_embd)]
    )
    zigzag = torch.tensor([(i + 1) % 3 - 1 for i in range(n_embd)]) * 0.5
    x = torch.tensor([i / n_embd for i in range(n_embd)])
    return {
        "mixer.time_decay": decay_speed,
        "mixer.time_first": torch.ones(n_embd) * math.log(0.3) + zigzag,
        "mixer.time_mix_k": torch.pow(x, ratio_1_to_almost0),
        "mixer.time_mix_v": torch.pow(x, ratio_1_to_almost0) + 0.3 * ratio_0_to_1,
        "mixer.time_mix_r": torch.pow(x, 0.5 * ratio_1_to_almost0),
        "mlp.time_mix_k": torch.pow(x, ratio_1_to_almost0),
        "mlp.time_mix_r": torch.pow(x, ratio_1_to_almost0),
    }


@pytest.mark.parametrize(("layer_idx", "n_layers"), [(0, 1), (0, 6), (2, 6), (5, 6)])
def test_time_parameters_ramp_with_depth_as_rwkv_lm(layer_idx, n_layers) -> None:
    block = architectures.create("rwkv4", d_model=64, layer_idx=layer_idx, n_layers=n_layers)
    params = dict(block.named_parameters())
    for name, expected in _rwkv_lm_expected(layer_idx, n_layers, 64).items():
        torch.testing.assert_close(params[name].detach(), expected, msg=name)


def test_matrices_as_rwkv_lm_generate_init_weight() -> None:
    # Zero: att.key, att.receptance, att.output, ffn.value, ffn.receptance. Orthogonal:
    # att.value with gain 1, ffn.key (256 × 64) with gain √(256 / 64) = 2.
    torch.manual_seed(0)
    block = architectures.create("rwkv4", d_model=64, layer_idx=1, n_layers=2)
    mixer, mlp = block.mixer, block.mlp
    for layer in (mixer.key, mixer.receptance, mixer.output, mlp.value, mlp.receptance):
        assert not layer.weight.any()
    value = mixer.value.weight.detach()
    torch.testing.assert_close(value @ value.T, torch.eye(64), atol=1e-5, rtol=0)
    key = mlp.key.weight.detach()
    assert key.shape == (256, 64)
    torch.testing.assert_close(key.T @ key, 4 * torch.eye(64), atol=1e-4, rtol=0)


def test_a_fresh_block_is_the_identity_after_ln0() -> None:
    first, second = (
        architectures.create("rwkv4", d_model=64, layer_idx=i, n_layers=2) for i in (0, 1)
    )
    assert "ln0.weight" in dict(first.named_parameters())
    assert not any(name.startswith("ln0") for name, _ in second.named_parameters())
    x = 5 + 3 * torch.randn(2, 7, 64)
    with torch.no_grad():
        torch.testing.assert_close(first(x), F.layer_norm(x, (64,)))
        torch.testing.assert_close(second(x), x)


def test_time_parameters_are_exempt_from_weight_decay_and_matrices_decay() -> None:
    model = SequenceModel("rwkv4", vocab_size=11, d_model=32, n_layers=2)
    decayed, exempt = model.param_groups(0.1)
    name_of = {id(p): name for name, p in model.named_parameters()}
    decayed, exempt = ({name_of[id(p)] for p in g["params"]} for g in (decayed, exempt))
    time_params = {n for n in name_of.values() if ".time_" in n}
    assert len(time_params) == 2 * 7 and time_params <= exempt
    for weight in ("mixer.key", "mixer.value", "mixer.receptance", "mixer.output", "mlp.key"):
        assert f"blocks.1.{weight}.weight" in decayed


def test_state_is_five_numbers_per_channel_against_rwkv6s_matrix() -> None:
    rwkv4 = architectures.create("rwkv4", d_model=64)
    rwkv6 = architectures.create("rwkv", d_model=64)
    assert rwkv4.state_size(4096) == 5 * 64 == 320
    assert rwkv6.state_size(4096) == 2 * 64 + 64 * 64 == 4224
    assert set(rwkv4.init_state(3)) == {"mix_shift", "aa", "bb", "pp", "mlp_shift"}


def test_the_registry_tells_rwkv6_and_rwkv4_apart() -> None:
    assert architectures.get("rwkv4") is RWKV4Block
    assert architectures.get("rwkv").__name__ == "RWKV6Block"


def test_decay_beyond_float_range_keeps_output_and_gradients_finite() -> None:
    torch.manual_seed(0)
    block = randomize(architectures.create("rwkv4", d_model=32))
    with torch.no_grad():
        block.mixer.time_decay[::2] = 100.0  # exp(100) overflows float32: e^w = 0 exactly
    x = torch.randn(2, 70, 32, requires_grad=True)
    block(x).square().mean().backward()
    assert torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in block.parameters())


# --- the block against RWKV-LM's forward, transcribed ------------------------------------------


def time_shift(x):  # nn.ZeroPad2d((0, 0, 1, -1)): x_{t-1}, zero before the first token
    return F.pad(x, (0, 0, 1, -1))


def time_mix(p, x):
    """RWKV_TimeMix.forward (jit_func and RUN_CUDA), the kernel replaced by its recurrence."""
    xx = time_shift(x)
    xk = x * p["time_mix_k"] + xx * (1 - p["time_mix_k"])
    xv = x * p["time_mix_v"] + xx * (1 - p["time_mix_v"])
    xr = x * p["time_mix_r"] + xx * (1 - p["time_mix_r"])
    k, v = xk @ p["key.weight"].T, xv @ p["value.weight"].T
    sr = torch.sigmoid(xr @ p["receptance.weight"].T)
    w = -torch.exp(p["time_decay"])  # WKV.forward
    return (sr * recurrence(w, p["time_first"], k, v)[0]) @ p["output.weight"].T


def channel_mix(p, x):
    xx = time_shift(x)
    xk = x * p["time_mix_k"] + xx * (1 - p["time_mix_k"])
    xr = x * p["time_mix_r"] + xx * (1 - p["time_mix_r"])
    k = torch.square(torch.relu(xk @ p["key.weight"].T))
    return torch.sigmoid(xr @ p["receptance.weight"].T) * (k @ p["value.weight"].T)


def block_forward(params, x, layer_id):
    """Block.forward: ln0 in layer 0, then the two residual sub-layers."""

    def ln(name, h):
        return F.layer_norm(h, h.shape[-1:], params[f"{name}.weight"], params[f"{name}.bias"])

    def sub(prefix):
        n = len(prefix) + 1
        return {k[n:]: t for k, t in params.items() if k.startswith(f"{prefix}.")}

    if layer_id == 0:
        x = ln("ln0", x)
    x = x + time_mix(sub("mixer"), ln("ln1", x))
    return x + channel_mix(sub("mlp"), ln("ln2", x))


@pytest.mark.parametrize("layer_idx", [0, 1], ids=lambda i: f"layer={i}")
def test_block_matches_rwkv_lm_forward_with_random_parameters(layer_idx) -> None:
    torch.manual_seed(0)
    block = randomize(architectures.create("rwkv4", d_model=32, layer_idx=layer_idx, n_layers=2))
    x = torch.randn(2, 150, 32)
    params = {n: t.detach().double() for n, t in block.state_dict().items()}
    with torch.no_grad():
        y = block(x)
    assert rel_err(y, block_forward(params, x.double(), layer_idx)) < 1e-5
