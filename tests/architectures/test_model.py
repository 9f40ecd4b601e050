import pytest
import torch

import architectures
from architectures import SequenceModel
from architectures.contract import randomize

NAMES = architectures.names()


@pytest.mark.parametrize("name", NAMES)
def test_model_logits_shape_and_step_agrees(name: str) -> None:
    torch.manual_seed(0)
    model = SequenceModel(
        name, vocab_size=11, d_model=32 if name != "rwkv" else 64, n_layers=2
    ).eval()
    tokens = torch.randint(0, 11, (3, 9))
    with torch.no_grad():
        logits = model(tokens)
        states = model.init_state(3)
        stepped = []
        for t in range(tokens.shape[1]):
            out, states = model.step(tokens[:, t], states)
            stepped.append(out)
    assert logits.shape == (3, 9, 11)
    torch.testing.assert_close(torch.stack(stepped, 1), logits, atol=1e-4, rtol=1e-4)
    assert model.state_size(9) == sum(b.state_size(9) for b in model.blocks)


def test_generate_is_greedy_continuation() -> None:
    torch.manual_seed(0)
    model = SequenceModel("transformer", vocab_size=7, d_model=32, n_layers=1).eval()
    prompt = torch.randint(0, 7, (2, 5))
    out = model.generate(prompt, n_new=4)
    assert out.shape == (2, 9) and torch.equal(out[:, :5], prompt)
    with torch.no_grad():
        expected_next = model(prompt)[:, -1].argmax(-1)
    assert torch.equal(out[:, 5], expected_next)


def test_model_records_backend_and_counts_params() -> None:
    model = SequenceModel("lstm", vocab_size=5, d_model=16, n_layers=3)
    model(torch.zeros(1, 4, dtype=torch.long))
    assert model.backends_used == ["torch"]
    assert model.num_params() == sum(p.numel() for p in model.parameters()) > 0
    assert len(model.blocks) == 3


def test_model_passes_architecture_settings_to_every_block() -> None:
    model = SequenceModel("transformer", vocab_size=5, d_model=32, n_layers=2, n_heads=8)
    assert all(b.config.n_heads == 8 for b in model.blocks)


@pytest.mark.parametrize("name", NAMES)
def test_holdout_future_tokens_cannot_change_earlier_logits(name: str) -> None:
    # The holdout check on a whole model with every parameter randomised (fresh RWKV
    # blocks start as the identity, so a fresh model would hide a leak in them).
    torch.manual_seed(0)
    model = randomize(SequenceModel(name, vocab_size=13, d_model=64, n_layers=2)).eval()
    tokens = torch.randint(0, 13, (2, 40))
    with torch.no_grad():
        logits = model(tokens)
        for t in (0, 17, 39):
            changed = tokens.clone()
            changed[:, t] = (changed[:, t] + 1) % 13
            other = model(changed)
            torch.testing.assert_close(other[:, :t], logits[:, :t], atol=1e-5, rtol=1e-5)
            assert (other[:, t] - logits[:, t]).abs().max() > 1e-3  # the change did arrive


@pytest.mark.parametrize("name", NAMES)
def test_random_model_step_agrees_with_forward(name: str) -> None:
    torch.manual_seed(0)
    model = randomize(SequenceModel(name, vocab_size=11, d_model=64, n_layers=2)).eval()
    tokens = torch.randint(0, 11, (2, 21))
    with torch.no_grad():
        logits = model(tokens)
        states, stepped = model.init_state(2), []
        for t in range(tokens.shape[1]):
            out, states = model.step(tokens[:, t], states)
            stepped.append(out)
    torch.testing.assert_close(torch.stack(stepped, 1), logits, atol=1e-4, rtol=1e-4)


def test_model_places_blocks_and_keeps_placement_its_own() -> None:
    model = SequenceModel("mamba", vocab_size=5, d_model=16, n_layers=3)
    assert [b.config.layer_idx for b in model.blocks] == [0, 1, 2]
    assert {b.config.n_layers for b in model.blocks} == {3}
    with pytest.raises(architectures.ConfigError, match="'layer_idx' is set by SequenceModel"):
        SequenceModel("mamba", vocab_size=5, d_model=16, n_layers=3, layer_idx=1)
