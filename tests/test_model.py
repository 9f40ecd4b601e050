import pytest
import torch

import architectures
from architectures import SequenceModel

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
