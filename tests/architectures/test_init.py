"""Initialisation as each block's reference code does it, depth included.

The expected values are written out here from the reference code (cited per test), not
taken from the blocks, so a block that drifts from its reference fails.
"""

import math

import pytest
import torch
import torch.nn.functional as F

import architectures
from architectures import SequenceModel


def _rwkv_lm_expected(layer_id: int, n_layer: int, n_embd: int) -> dict[str, torch.Tensor]:
    """RWKV-LM, RWKV-v5/src/model.py: RWKV_Tmix_x060.__init__ and RWKV_CMix_x060.__init__."""
    ratio_0_to_1 = layer_id / (n_layer - 1)
    ratio_1_to_almost0 = 1.0 - (layer_id / n_layer)
    ddd = torch.tensor([i / n_embd for i in range(n_embd)])
    decay_speed = torch.tensor(
        [-6 + 5 * (n / (n_embd - 1)) ** (0.7 + 1.3 * ratio_0_to_1) for n in range(n_embd)]
    )
    faaaa = torch.tensor(
        [ratio_0_to_1 * (1 - (n / (n_embd - 1))) + ((n + 1) % 3 - 1) * 0.1 for n in range(n_embd)]
    )
    return {
        "mixer.time_maa_x": 1.0 - torch.pow(ddd, ratio_1_to_almost0),
        "mixer.time_maa_w": 1.0 - torch.pow(ddd, ratio_1_to_almost0),
        "mixer.time_maa_k": 1.0 - torch.pow(ddd, ratio_1_to_almost0),
        "mixer.time_maa_v": 1.0 - (torch.pow(ddd, ratio_1_to_almost0) + 0.3 * ratio_0_to_1),
        "mixer.time_maa_r": 1.0 - torch.pow(ddd, 0.5 * ratio_1_to_almost0),
        "mixer.time_maa_g": 1.0 - torch.pow(ddd, 0.5 * ratio_1_to_almost0),
        "mixer.time_decay": decay_speed,
        "mixer.time_faaaa": faaaa,
        "mlp.time_maa_k": 1.0 - torch.pow(ddd, ratio_1_to_almost0),
        "mlp.time_maa_r": 1.0 - torch.pow(ddd, ratio_1_to_almost0),
        # RWKV.generate_init_weight: ln_x gain ((1 + layer) / n_layer) ** 0.7
        "mixer.ln_x.weight": torch.full((n_embd,), ((1 + layer_id) / n_layer) ** 0.7),
    }


@pytest.mark.parametrize("layer_idx", [0, 2, 5], ids=lambda i: f"layer={i}-of-6")
def test_rwkv_time_parameters_ramp_with_depth_as_rwkv_lm(layer_idx) -> None:
    block = architectures.create("rwkv", d_model=64, d_head=16, layer_idx=layer_idx, n_layers=6)
    params = dict(block.named_parameters())
    for name, expected in _rwkv_lm_expected(layer_idx, 6, 64).items():
        torch.testing.assert_close(params[name].detach().flatten(), expected, msg=name)


def test_rwkv_first_and_last_layers_differ() -> None:
    first, last = (
        architectures.create("rwkv", d_model=64, layer_idx=i, n_layers=4) for i in (0, 3)
    )
    assert (last.mixer.time_maa_k[1:] < first.mixer.time_maa_k[1:]).all()  # mix less
    assert first.mixer.time_faaaa.abs().max() <= 0.1 + 1e-6  # only the zigzag at layer 0
    assert last.mixer.time_faaaa.mean() > 0.4  # the last layer adds the 1 -> 0 ramp
    assert not torch.equal(first.mixer.time_decay, last.mixer.time_decay)


def test_rwkv_matrices_as_rwkv_lm_generate_init_weight() -> None:
    # Zero: att.output, ffn.value, ffn.receptance. Orthogonal with gain 0.1: att.key and
    # att.gate; gain 1: att.receptance, att.value, ffn.key.
    torch.manual_seed(0)
    block = architectures.create("rwkv", d_model=64, layer_idx=1, n_layers=2)
    for weight in (block.mixer.output, block.mlp.value, block.mlp.receptance):
        assert not weight.weight.any()
    eye = torch.eye(64)
    for layer, gain in [
        (block.mixer.key, 0.1),
        (block.mixer.gate, 0.1),
        (block.mixer.receptance, 1.0),
        (block.mixer.value, 1.0),
    ]:
        w = layer.weight.detach()
        torch.testing.assert_close(w @ w.T, gain**2 * eye, atol=1e-5, rtol=0)
    key = block.mlp.key.weight.detach()  # (224, 64): orthonormal columns
    torch.testing.assert_close(key.T @ key, eye, atol=1e-5, rtol=0)
    assert block.mlp.key.weight.shape == (224, 64)  # RWKV-LM: int(3.5 · 64) // 32 · 32


def _seeded(name: str, **config):
    torch.manual_seed(0)
    return architectures.create(name, d_model=32, **config)


@pytest.mark.parametrize("n_layers", [1, 4, 9])
def test_mamba_out_proj_is_rescaled_by_depth_as_mamba_ssm(n_layers) -> None:
    # mamba_ssm, models/mixer_seq_simple.py, _init_weights: default init / sqrt(n_layer).
    shallow = _seeded("mamba")
    deep = _seeded("mamba", layer_idx=0, n_layers=n_layers)
    torch.testing.assert_close(
        deep.mixer.out_proj.weight, shallow.mixer.out_proj.weight / math.sqrt(n_layers)
    )
    torch.testing.assert_close(deep.mixer.in_proj.weight, shallow.mixer.in_proj.weight)


@pytest.mark.parametrize("n_layers", [1, 3])
def test_transformer_residual_writes_scale_as_gpt2(n_layers) -> None:
    # GPT-2 / nanoGPT (GPT.__init__, c_proj): the two projections into the residual stream
    # start at 1/sqrt(2 · n_layer) of PyTorch's default init, uniform in ±1/sqrt(fan_in).
    unscaled_bound = 1 / math.sqrt(32)
    shallow = _seeded("transformer")
    deep = _seeded("transformer", layer_idx=0, n_layers=n_layers)
    for name in ("mixer.out_proj.weight", "mlp.out_proj.weight"):
        w_shallow = dict(shallow.named_parameters())[name].detach()
        w_deep = dict(deep.named_parameters())[name].detach()
        fan_in = w_deep.shape[1]
        bound = 1 / math.sqrt(fan_in) / math.sqrt(2 * n_layers)
        assert 0.9 * bound < w_deep.abs().max() <= bound, name
        torch.testing.assert_close(w_deep, w_shallow / math.sqrt(n_layers))
    in_proj = deep.mixer.in_proj.weight
    assert 0.9 * unscaled_bound < in_proj.abs().max() <= unscaled_bound  # not rescaled


def test_lstm_forget_gate_starts_open() -> None:
    block = _seeded("lstm")
    lstm = block.mixer.lstm
    H = lstm.hidden_size
    bias = (lstm.bias_ih_l0 + lstm.bias_hh_l0).detach()  # gates (i, f, g, o)
    torch.testing.assert_close(bias[H : 2 * H], torch.ones(H))
    assert not torch.allclose(bias[:H], torch.ones(H))  # only the forget gate


def test_sequence_model_tells_every_block_its_place() -> None:
    model = SequenceModel("rwkv", vocab_size=7, d_model=64, n_layers=3)
    assert [(b.config.layer_idx, b.config.n_layers) for b in model.blocks] == [
        (0, 3),
        (1, 3),
        (2, 3),
    ]
    gains = [b.mixer.ln_x.weight[0].item() for b in model.blocks]
    assert gains == pytest.approx([(1 / 3) ** 0.7, (2 / 3) ** 0.7, 1.0])


# --- Monarch Mixer: the implicit filter as M2 -------------------------------------------------


def test_m2_filter_starts_as_m2() -> None:
    block = _seeded("monarch", l_max=64)
    filt = block.mixer.filter
    sines = [m for m in filt.mlp if type(m).__name__ == "Sin"]
    linears = [m for m in filt.mlp if isinstance(m, torch.nn.Linear)]
    assert len(sines) == 3 and len(linears) == 3  # first layer + two inner, as num_inner_mlps=2
    assert all(s is sines[0] for s in sines)  # M2 appends one shared Sin module
    torch.testing.assert_close(sines[0].freq.detach(), torch.full((64,), 10.0))
    skip = block.mixer.skip.detach()
    assert skip.std() > 0.5 and (skip < 0).any()  # randn, not ones


def test_m2_filter_has_structure_at_the_training_length() -> None:
    # Positions normalised over l_max = L: the long filter decays to ~1% and turns away
    # from its start (with l_max = 2048 at L = 64 it kept 0.86 of its norm, cos 0.99).
    ratios, cosines = [], []
    for seed in range(5):
        torch.manual_seed(seed)
        filt = architectures.create("monarch", d_model=64, l_max=64).mixer.filter
        with torch.no_grad():
            h = filt.compute(64)
        ratios.append((h[-1].norm() / h[0].norm()).item())
        cosines.append(F.cosine_similarity(h[0], h[-1], dim=0).abs().item())
    assert max(ratios) < 0.05
    assert sum(cosines) / len(cosines) < 0.3
