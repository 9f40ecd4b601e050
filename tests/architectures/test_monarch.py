"""Monarch Mixer: the FFT convolution, the Monarch layer, the implicit filter, the block."""

import pytest
import torch
import torch.nn.functional as F

import architectures
from architectures import ConfigError
from architectures.monarch import MonarchMixerBlock, fast_length, fft_conv
from architectures.monarch_linear import BlockDiagLinear, MonarchLinear


def _direct_causal_conv(u, h):
    """y_t = Σ_{s≤t} h_{t-s} u_s by conv1d (a cross-correlation, hence the flip)."""
    length, d = u.shape[-1], u.shape[1]
    return F.conv1d(F.pad(u, (length - 1, 0)), h.flip(-1)[:, None], groups=d)


# --- the long convolution -------------------------------------------------------------


@pytest.mark.parametrize("length", [1, 17, 257, 1001], ids=lambda n: f"L={n}")
def test_fft_conv_equals_direct_causal_conv(length):
    g = torch.Generator().manual_seed(length)
    u = torch.randn(2, 8, length, dtype=torch.float64, generator=g)
    h = torch.randn(8, length, dtype=torch.float64, generator=g) / length**0.5
    expected = _direct_causal_conv(u, h)
    got = fft_conv(u.float(), h.float()).double()
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def test_fft_conv_runs_bf16_through_fp32():
    u, h = torch.randn(2, 8, 129), torch.randn(8, 129) / 10
    y = fft_conv(u.bfloat16(), h.bfloat16())
    assert y.dtype == torch.bfloat16
    expected = _direct_causal_conv(u.bfloat16().float(), h.bfloat16().float())
    torch.testing.assert_close(y.float(), expected, atol=0.1, rtol=0.02)


@pytest.mark.parametrize("n", [1, 2, 7, 34, 514, 2002, 16385])
def test_fast_length_is_smallest_5_smooth_at_least_n(n):
    def smooth(m):
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        return m == 1

    m = fast_length(n)
    assert m >= n and smooth(m)
    assert not any(smooth(k) for k in range(n, m))


# --- the Monarch matrix -----------------------------------------------------------------


SHAPES = [(64, 64, 4), (64, 384, 4), (192, 64, 4), (40, 48, 4), (96, 48, 2)]


def _monarch_dense_by_definition(w1, w2, nblocks):
    """M = R · P · L entry by entry, from the module docstring, by index arithmetic alone.

    R[i, m]: input i = (block a, offset p) feeds first-stage unit m = (a, q) with w1[a, p, q].
    P: first-stage unit (block a, chunk j, c) goes to second-stage block j at slot (a, c).
    L[m', o]: second-stage unit m' = (block j, slot s) feeds output o = (j, r) with w2[j, s, r].
    """
    b = nblocks
    d_in, d_mid, d_out = b * w1.shape[1], b * w1.shape[2], b * w2.shape[2]
    c = d_mid // (b * b)  # chunk width
    M = torch.zeros(d_in, d_out, dtype=w1.dtype)
    for i in range(d_in):
        a, p_ = divmod(i, d_in // b)
        for q in range(d_mid // b):  # first-stage unit (a, q) = (block a, chunk j, offset k)
            j, k = divmod(q, c)
            slot = a * c + k  # where P puts it inside second-stage block j
            M[i, j * (d_out // b) : (j + 1) * (d_out // b)] += w1[a, p_, q] * w2[j, slot]
    return M


@pytest.mark.parametrize(("d_in", "d_out", "b"), SHAPES, ids=lambda v: str(v))
def test_monarch_linear_equals_the_matrix_its_definition_gives(d_in, d_out, b):
    layer = MonarchLinear(d_in, d_out, b).double()
    expected = _monarch_dense_by_definition(layer.w1.detach(), layer.w2.detach(), b)
    x = torch.randn(3, 5, d_in, dtype=torch.float64)
    torch.testing.assert_close(layer(x), x @ expected)
    torch.testing.assert_close(layer.materialize().detach(), expected)  # the helper agrees


def test_monarch_definition_check_would_catch_a_wrong_permutation():
    layer = MonarchLinear(64, 64, 4).double()
    no_shuffle = torch.block_diag(*layer.w1.detach()) @ torch.block_diag(*layer.w2.detach())
    expected = _monarch_dense_by_definition(layer.w1.detach(), layer.w2.detach(), 4)
    assert (no_shuffle - expected).abs().max() > 0.1


@pytest.mark.parametrize(("d_in", "d_out", "b"), [(64, 512, 4), (256, 64, 4), (48, 48, 2)])
def test_blockdiag_linear_is_a_block_diagonal_nn_linear(d_in, d_out, b):
    layer = BlockDiagLinear(d_in, d_out, b).double()
    weight = torch.block_diag(*layer.weight.detach())  # (d_out, d_in), as nn.Linear's
    x = torch.randn(3, 5, d_in, dtype=torch.float64)
    torch.testing.assert_close(layer(x), x @ weight.T + layer.bias)
    assert sum(p.numel() for p in layer.parameters()) == d_in * d_out // b + d_out
    bound = 1 / (d_in // b) ** 0.5  # PyTorch's Linear init for each block's fan-in
    assert 0.9 * bound < layer.weight.abs().max() <= bound


@pytest.mark.parametrize(("d_in", "d_out", "b"), SHAPES, ids=lambda v: str(v))
def test_monarch_linear_costs_less_than_dense(d_in, d_out, b):
    layer = MonarchLinear(d_in, d_out, b)
    n_params = sum(p.numel() for p in layer.parameters())
    assert n_params < d_in * d_out
    assert layer.flops_per_token() < 2 * d_in * d_out
    assert n_params == layer.flops_per_token() // 2  # one multiply-add per weight


def test_monarch_linear_mixes_channels_across_blocks():
    b, d = 4, 64
    layer = MonarchLinear(d, d, b).double()
    dense = layer.materialize()
    blocks = dense.reshape(b, d // b, b, d // b).abs().sum(dim=(1, 3))  # (b_in, b_out)
    assert (blocks > 0).all(), "some input block never reaches some output block"
    assert (dense != 0).all()  # every output sees every input
    # Without the stride permutation the two factors collapse to one block-diagonal.
    no_perm = torch.block_diag(*layer.w1) @ torch.block_diag(*layer.w2)
    no_perm_blocks = no_perm.reshape(b, d // b, b, d // b).abs().sum(dim=(1, 3))
    assert torch.equal(no_perm_blocks != 0, torch.eye(b, dtype=torch.bool))


def test_channel_mixer_is_m2s_blockdiag_glu_by_default():
    block = architectures.create("monarch", d_model=64)
    assert isinstance(block.mlp.in_proj, BlockDiagLinear) and block.mlp.in_proj.bias is None
    assert isinstance(block.mlp.out_proj, BlockDiagLinear) and block.mlp.out_proj.bias is not None
    assert (block.mlp.in_proj.d_out, block.mlp.out_proj.d_in) == (512, 256)  # 2 × 4D, 4D
    x = torch.randn(2, 3, 64)
    gate, up = block.mlp.in_proj(x).chunk(2, dim=-1)
    expected = block.mlp.out_proj(F.gelu(gate) * up)  # GELU, as M2 (not SiLU)
    torch.testing.assert_close(block.mlp(x), expected)


def test_paper_monarch_mlp_is_available_and_smaller_than_dense():
    block = architectures.create("monarch", d_model=64, mlp="monarch")
    assert isinstance(block.mlp.in_proj, MonarchLinear)
    assert isinstance(block.mlp.out_proj, MonarchLinear)
    dense = sum(m.d_in * m.d_out for m in (block.mlp.in_proj, block.mlp.out_proj))
    assert sum(p.numel() for p in block.mlp.parameters()) < dense / 2


# --- configuration ------------------------------------------------------------------------


def test_d_model_must_divide_into_nblocks():
    with pytest.raises(ConfigError, match="d_model=30 must be divisible by nblocks=4"):
        architectures.create("monarch", d_model=30)
    with pytest.raises(ConfigError, match="nblocks=0 must be positive"):
        architectures.create("monarch", nblocks=0)
    with pytest.raises(ConfigError, match="d_in=30 must be divisible by nblocks=4"):
        MonarchLinear(30, 64, 4)
    block = architectures.create("monarch", d_model=40, nblocks=4, mlp="monarch")
    assert block.mlp.in_proj.d_mid == 48
    with pytest.raises(ConfigError, match="mlp='dense' must be one of"):
        architectures.create("monarch", mlp="dense")
    with pytest.raises(ConfigError, match="l_max=1 must be >= 2"):
        architectures.create("monarch", l_max=1)


# --- the implicit filter and the block ----------------------------------------------------


def _block(**config):
    torch.manual_seed(0)
    return architectures.create("monarch", d_model=32, **config)


def test_filter_extrapolates_beyond_l_max():
    block = _block(l_max=16)
    x = torch.randn(2, 100, 32)
    with torch.no_grad():
        h_short, h_long = block.mixer.filter.compute(40), block.mixer.filter.compute(100)
        y_long, y_short = block(x), block(x[:, :40])
        state = block.init_state(2)
        for t in range(100):
            y_step, state = block.step(x[:, t], state)
    torch.testing.assert_close(h_long[:40], h_short)  # a function of position only
    assert h_long[16:].abs().sum() > 0 and torch.isfinite(y_long).all()
    torch.testing.assert_close(y_long[:, :40], y_short, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(y_step, y_long[:, -1], atol=1e-4, rtol=1e-4)


def test_filter_cache_is_dropped_when_parameters_change():
    filt = _block().mixer.filter
    with torch.no_grad():
        before = filt(50)
        assert filt(50).data_ptr() == before.data_ptr()  # reused, not recomputed
        torch.testing.assert_close(before, filt.compute(50))
        filt.out.weight.mul_(2.0)  # what an optimizer step does: in place
        after = filt(50)
    assert after.data_ptr() != before.data_ptr()
    torch.testing.assert_close(after, filt.compute(50))
    torch.testing.assert_close(after, 2 * before)


def test_filter_is_trained_not_cached_under_autograd():
    block = _block()
    with torch.no_grad():
        block(torch.randn(1, 9, 32))  # fills the inference cache
    block(torch.randn(2, 33, 32)).square().mean().backward()
    for name, p in block.mixer.filter.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_state_grows_by_one_token_of_history_per_step():
    block = _block()
    assert block.state_size(100) - block.state_size(0) == 100 * 32
    state = block.init_state(3)
    with torch.no_grad():
        for _ in range(5):
            _, state = block.step(torch.randn(3, 32), state)
    assert state["u"].shape == (3, 5, 32)


def test_bfloat16_forward_follows_fp32_at_long_odd_length():
    block = _block()
    x = torch.randn(2, 257, 32)
    with torch.no_grad():
        expected = block(x)
        got = block.to(torch.bfloat16)(x.bfloat16())
    assert got.dtype == torch.bfloat16
    err = (got.float() - expected).norm() / expected.norm()
    assert err < 0.05


@pytest.mark.gpu
def test_cuda_backend_matches_cpu_reference():
    block = _block()
    x = torch.randn(2, 300, 32)
    with torch.no_grad():
        expected = block(x)
        cuda_block = block.cuda()
        cuda_block.config = type(block.config)(d_model=32, backend="cuda")
        got = cuda_block(x.cuda()).cpu()
    assert cuda_block.backend_used == "cuda"
    torch.testing.assert_close(got, expected, atol=1e-3, rtol=1e-3)


def test_registered_under_monarch():
    assert architectures.get("monarch") is MonarchMixerBlock
