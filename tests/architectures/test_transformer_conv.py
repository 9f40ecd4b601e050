"""The Transformer's optional short convolution before attention (``d_conv``).

With ``d_conv > 0`` the block must still obey every law of the contract, its ``step``
carrying the convolution's last inputs; with ``d_conv = 0`` (the default) it must be the
block it was before the option existed, parameter for parameter and output for output.
"""

import hashlib

import pytest
import torch

import architectures
from architectures import ConfigError, SequenceModel
from architectures.contract import CHECKS, ContractSkipped, block_factory, randomize
from architectures.transformer import TransformerBlock, TransformerConfig


def _run_check(check: str, make_block) -> None:
    try:
        CHECKS[check](make_block)
    except ContractSkipped as skipped:
        pytest.skip(str(skipped))


@pytest.mark.parametrize("check", list(CHECKS))
def test_block_with_a_short_convolution_obeys_the_contract(check) -> None:
    _run_check(check, block_factory(TransformerBlock, d_conv=3))


@pytest.mark.parametrize("check", ["causal", "state_size_honest"])
@pytest.mark.parametrize("d_conv", [1, 2, 4], ids=lambda d: f"d_conv={d}")
def test_every_width_keeps_causality_and_state_size(d_conv, check) -> None:
    _run_check(check, block_factory(TransformerBlock, d_conv=d_conv, layer_idx=1, n_layers=2))


@pytest.mark.parametrize("length", [1, 2, 3, 20], ids=lambda n: f"L={n}")
@pytest.mark.parametrize("d_conv", [1, 2, 4], ids=lambda d: f"d_conv={d}")
def test_every_width_steps_as_it_runs_also_before_the_window_fills(d_conv, length) -> None:
    # The contract checks L = 1, 17, 257 at d_conv = 3; this adds the other widths, and
    # lengths shorter than the window (the history still holds the zeros it starts with).
    torch.manual_seed(0)
    block = randomize(architectures.create("transformer", d_model=32, d_conv=d_conv))
    x = torch.randn(2, length, 32)
    with torch.no_grad():
        y = block(x)
        state, ys = block.init_state(2), []
        for t in range(length):
            y_t, state = block.step(x[:, t], state)
            ys.append(y_t)
    torch.testing.assert_close(torch.stack(ys, dim=1), y, atol=1e-5, rtol=1e-5)


def test_state_holds_the_last_d_conv_minus_one_inputs() -> None:
    block = architectures.create("transformer", d_model=32, d_conv=3)
    state = block.init_state(5)
    assert state["conv"].shape == (5, 32, 2)
    assert block.state_size(10) == 2 * 10 * 32 + 32 * 2


def test_convolution_is_depthwise_and_causal_as_written_out() -> None:
    # conv(h)_t = Σ_j c_j ⊙ h_{t−j} per channel, c_0 the newest tap, zero before the start.
    torch.manual_seed(0)
    mixer = architectures.create("transformer", d_model=16, n_heads=2, d_conv=4).mixer
    taps = mixer.conv1d.weight.detach()[:, 0].flip(-1)  # (D, 4): c_0 … c_3
    h = torch.randn(3, 11, 16)
    expected = torch.zeros_like(h)
    for t in range(11):
        for j in range(min(4, t + 1)):
            expected[:, t] += taps[:, j] * h[:, t - j]
    with torch.no_grad():
        torch.testing.assert_close(mixer.convolve(h), expected)


def test_a_single_unit_tap_is_the_block_without_convolution() -> None:
    torch.manual_seed(0)
    plain = randomize(architectures.create("transformer", d_model=32))
    conv = architectures.create("transformer", d_model=32, d_conv=1)
    missing, unexpected = conv.load_state_dict(plain.state_dict(), strict=False)
    assert missing == ["mixer.conv1d.weight"] and not unexpected
    with torch.no_grad():
        conv.mixer.conv1d.weight.fill_(1.0)
        x = torch.randn(2, 13, 32)
        torch.testing.assert_close(conv(x), plain(x), rtol=0, atol=0)
        conv.mixer.conv1d.weight.fill_(0.5)
        assert not torch.allclose(conv(x), plain(x))  # the convolution is on the path


def test_d_conv_must_be_a_non_negative_integer() -> None:
    with pytest.raises(ConfigError, match=r"d_conv=-1 must be a non-negative integer"):
        architectures.create("transformer", d_conv=-1)


def test_a_model_with_convolutions_steps_as_it_runs() -> None:
    torch.manual_seed(0)
    model = randomize(SequenceModel("transformer", vocab_size=11, d_model=32, n_layers=2, d_conv=3))
    tokens = torch.randint(0, 11, (2, 9))
    with torch.no_grad():
        logits = model(tokens)
        states, stepped = model.init_state(2), []
        for t in range(9):
            out, states = model.step(tokens[:, t], states)
            stepped.append(out)
    torch.testing.assert_close(torch.stack(stepped, 1), logits, atol=1e-4, rtol=1e-4)


# --- d_conv = 0 is the block as it was -------------------------------------------------------

# Recorded from architectures/transformer.py before d_conv existed (commit b00be7d): seed 0,
# TransformerConfig(d_model=32, n_heads=4, layer_idx=1, n_layers=2), input from
# torch.Generator().manual_seed(1), shape (2, 9, 32).
_OLD_PARAMETERS = [
    "norm1.weight",
    "mixer.in_proj.weight",
    "mixer.out_proj.weight",
    "norm2.weight",
    "mlp.in_proj.weight",
    "mlp.out_proj.weight",
]
_OLD_PARAMETER_DIGEST = "40f79f5044332f3b"  # sha256 over names and bytes, in order
_OLD_OUTPUT = {
    "sum": 4.323309898376465,
    "sum of squares": 583.4631958007812,
    "y[0, -1, :4]": [
        -1.3632997274398804,
        0.7618749737739563,
        0.31652626395225525,
        0.7370395660400391,
    ],
    "y[1, 3, -3:]": [0.3598112463951111, -0.7878262996673584, -0.5511423349380493],
}


@pytest.mark.parametrize("config", [{}, {"d_conv": 0}], ids=["default", "d_conv=0"])
def test_without_convolution_the_block_is_unchanged(config) -> None:
    torch.manual_seed(0)
    block = TransformerBlock(
        TransformerConfig(d_model=32, n_heads=4, layer_idx=1, n_layers=2, **config)
    )
    digest = hashlib.sha256()
    for name, p in block.state_dict().items():
        digest.update(name.encode())
        digest.update(p.detach().numpy().tobytes())
    assert list(block.state_dict()) == _OLD_PARAMETERS
    assert digest.hexdigest()[:16] == _OLD_PARAMETER_DIGEST
    x = torch.randn(2, 9, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = block(x)
    found = {
        "sum": y.sum().item(),
        "sum of squares": y.square().sum().item(),
        "y[0, -1, :4]": y[0, -1, :4].tolist(),
        "y[1, 3, -3:]": y[1, 3, -3:].tolist(),
    }
    for key, expected in _OLD_OUTPUT.items():
        torch.testing.assert_close(torch.tensor(found[key]), torch.tensor(expected), msg=key)
    assert set(block.init_state(2)) == {"k", "v"} and block.state_size(9) == 2 * 9 * 32
