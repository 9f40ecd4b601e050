"""Monarch Mixer: the FFT convolution, the Monarch layer, the implicit filter, the block."""

import pytest
import torch
import torch.nn.functional as F

import architectures
from architectures import ConfigError
from architectures.monarch import MonarchMixerBlock, fast_length, fft_conv
from architectures.monarch_linear import MonarchLinear


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


@pytest.mark.parametrize(("d_in", "d_out", "b"), SHAPES, ids=lambda v: str(v))
def test_monarch_linear_equals_its_dense_matrix(d_in, d_out, b):
    layer = MonarchLinear(d_in, d_out, b).double()
    x = torch.randn(3, 5, d_in, dtype=torch.float64)
    dense = layer.materialize()
    assert dense.shape == (d_in, d_out)
    torch.testing.assert_close(layer(x), x @ dense)


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


def test_channel_mixer_is_monarch_and_smaller_than_dense():
    block = architectures.create("monarch", d_model=64)
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
    assert architectures.create("monarch", d_model=40, nblocks=4).mlp.in_proj.d_mid == 48


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
