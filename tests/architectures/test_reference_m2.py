"""Monarch Mixer side by side with a transcription of HazyResearch/m2's equations.

Written out below, on plain float64 tensors and sharing no code with
``architectures/monarch.py``, from HazyResearch/m2 ``bert/src/mm/``:

- ``hyena_utils.py``: ``PositionalEmbedding`` (z over l_max positions), ``ExponentialModulation``,
  ``HyenaFilter.filter`` (the implicit MLP with one shared ``Sin``) and ``fftconv_ref``;
- ``monarch_mixer_sequence_mixer.py``: ``MonarchMixerSequenceMixing.forward``
  (unidirectional, no residual long conv);
- ``bert_layers.py``: ``BertGatedLinearUnitMLP`` with ``use_monarch_mlp``, whose
  ``BlockdiagLinear`` multiplies as ``blockdiag_multiply_reference`` (``blockdiag_multiply.py``).

Our names map to M2's as ``in_proj`` = ``in_linear``, ``conv1d`` = ``short_filter``,
``skip`` = ``filter_fn.bias``, ``filter.mlp``/``filter.out`` = ``filter_fn.implicit_filter``,
``out_proj`` = ``out_linear``, ``mlp.in_proj``/``mlp.out_proj`` = ``gated_layers``/``wo``.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from einops import rearrange

import architectures
from architectures.contract import randomize


def positional_embedding(emb_dim, seq_len):
    t = torch.linspace(0, 1, seq_len, dtype=torch.float64)[None, :, None]
    bands = (emb_dim - 1) // 2
    t_rescaled = torch.linspace(0, seq_len - 1, seq_len, dtype=torch.float64)[None, :, None]
    w = 2 * math.pi * t_rescaled / seq_len
    f = torch.linspace(1e-4, bands - 1, bands, dtype=torch.float64)[None, None]
    z = torch.exp(-1j * f * w)
    return torch.cat([t, z.real, z.imag], dim=-1), t


def exponential_modulation(t, x, d_model, fast_decay_pct=0.3, slow_decay_pct=1.5, target=1e-2):
    max_decay = math.log(target) / fast_decay_pct
    min_decay = math.log(target) / slow_decay_pct
    deltas = torch.linspace(min_decay, max_decay, d_model, dtype=torch.float64)[None, None]
    return x * torch.exp(-t * deltas.abs())


def hyena_filter(p, L, l_max, emb_dim, d_model):
    """HyenaFilter.filter(L): z, t sliced from l_max, implicit MLP, modulation."""
    z, t = positional_embedding(emb_dim, l_max)
    z, t = z[:, :L], t[:, :L]

    def sin(x):  # Sin.forward, the one module shared by every activation
        return torch.sin(p["freq"] * x)

    h = sin(z @ p["lin0.weight"].T + p["lin0.bias"])
    h = sin(h @ p["lin1.weight"].T + p["lin1.bias"])
    h = sin(h @ p["lin2.weight"].T + p["lin2.bias"])
    h = h @ p["out.weight"].T
    return exponential_modulation(t, h, d_model)  # (1, L, D)


def fftconv_ref(u, k, D):
    seqlen = u.shape[-1]
    fft_size = 2 * seqlen
    k_f = torch.fft.rfft(k, n=fft_size) / fft_size
    u_f = torch.fft.rfft(u, n=fft_size)
    y = torch.fft.irfft(u_f * k_f, n=fft_size, norm="forward")[..., :seqlen]
    return y + u * D


def m2_sequence_mixing(p, u, l_max, emb_dim):
    """MonarchMixerSequenceMixing.forward; u (B, L, H)."""
    L, d_model = u.size(-2), u.size(-1)
    u = u @ p["in_linear.weight"].T + p["in_linear.bias"]
    u = rearrange(u, "b l d -> b d l")
    uc = F.conv1d(
        u, p["short_filter.weight"], p["short_filter.bias"], padding=2, groups=3 * d_model
    )
    uc = uc[..., :L]
    x1, x2, v = uc.split(d_model, dim=1)
    v = v * x1
    k = hyena_filter(p, L, l_max, emb_dim, d_model)
    k = rearrange(k, "c l d -> c d l")[0]
    y = fftconv_ref(v, k, p["filter_fn.bias"][None, :, None])
    y = y * x2
    y = y.transpose(-1, -2)
    return y @ p["out_linear.weight"].T + p["out_linear.bias"]


def blockdiag_multiply_reference(x, weight):
    nblocks = weight.shape[0]
    x_reshaped = rearrange(x, "... (nblocks p) -> ... nblocks p", nblocks=nblocks)
    return rearrange(
        torch.einsum("...kp, kqp -> ...kq", x_reshaped, weight), "... nblocks q -> ... (nblocks q)"
    )


def m2_glu_mlp(p, x, intermediate_size):
    """BertGatedLinearUnitMLP's gated layers (before its residual add and post-LayerNorm)."""
    h = blockdiag_multiply_reference(x, p["gated_layers.weight"])
    gated, non_gated = h[..., :intermediate_size], h[..., intermediate_size:]
    h = F.gelu(gated, approximate="none") * non_gated
    return blockdiag_multiply_reference(h, p["wo.weight"]) + p["wo.bias"]


def m2_params(block) -> dict[str, torch.Tensor]:
    mixer, mlp = block.mixer, block.mlp
    lin0, sin, lin1, _, lin2, _ = mixer.filter.mlp
    return {
        name: t.detach().double()
        for name, t in {
            "in_linear.weight": mixer.in_proj.weight,
            "in_linear.bias": mixer.in_proj.bias,
            "short_filter.weight": mixer.conv1d.weight,
            "short_filter.bias": mixer.conv1d.bias,
            "filter_fn.bias": mixer.skip,
            "freq": sin.freq,
            "lin0.weight": lin0.weight,
            "lin0.bias": lin0.bias,
            "lin1.weight": lin1.weight,
            "lin1.bias": lin1.bias,
            "lin2.weight": lin2.weight,
            "lin2.bias": lin2.bias,
            "out.weight": mixer.filter.out.weight,
            "out_linear.weight": mixer.out_proj.weight,
            "out_linear.bias": mixer.out_proj.bias,
            "gated_layers.weight": mlp.in_proj.weight,
            "wo.weight": mlp.out_proj.weight,
            "wo.bias": mlp.out_proj.bias,
        }.items()
    }


def _block(random: bool, l_max: int = 64):
    torch.manual_seed(0)
    block = architectures.create("monarch", d_model=32, l_max=l_max)
    return (randomize(block) if random else block).double()


@pytest.mark.parametrize("random", [False, True], ids=["fresh", "random"])
@pytest.mark.parametrize("length", [7, 64], ids=lambda n: f"L={n}")
def test_sequence_mixer_equals_m2(length, random) -> None:
    block = _block(random)
    x = torch.randn(2, length, 32, dtype=torch.float64)
    reference = m2_sequence_mixing(m2_params(block), x, l_max=64, emb_dim=5)
    with torch.no_grad():
        ours = block.mixer(x)
    torch.testing.assert_close(ours, reference, atol=1e-10, rtol=1e-10)


def test_implicit_filter_equals_m2() -> None:
    block = _block(random=True)
    reference = hyena_filter(m2_params(block), 64, 64, 5, 32)[0]
    with torch.no_grad():
        ours = block.mixer.filter.compute(64)
    torch.testing.assert_close(ours, reference, atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("random", [False, True], ids=["fresh", "random"])
def test_mlp_equals_m2_glu_with_blockdiag_layers(random) -> None:
    block = _block(random)
    x = torch.randn(3, 5, 32, dtype=torch.float64)
    intermediate = block.mlp.out_proj.d_in
    reference = m2_glu_mlp(m2_params(block), x, intermediate)
    with torch.no_grad():
        ours = block.mlp(x)
    torch.testing.assert_close(ours, reference, atol=1e-12, rtol=1e-10)


def test_block_is_pre_norm_residual_around_m2_layers() -> None:
    # M2-BERT is post-norm (LayerNorm after each residual add); seqbench's causal blocks
    # are pre-norm, RMSNorm before each layer, like every other block here.
    block = _block(random=True)
    p = m2_params(block)
    x = torch.randn(2, 30, 32, dtype=torch.float64)
    norm1, norm2 = block.norm1.weight.detach().double(), block.norm2.weight.detach().double()
    h = x + m2_sequence_mixing(p, F.rms_norm(x, (32,), norm1), 64, 5)
    reference = h + m2_glu_mlp(p, F.rms_norm(h, (32,), norm2), block.mlp.out_proj.d_in)
    with torch.no_grad():
        ours = block(x)
    torch.testing.assert_close(ours, reference, atol=1e-10, rtol=1e-10)
