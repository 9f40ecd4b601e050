"""Weight decay: blocks declare what must not decay, and ``SequenceModel.param_groups`` obeys."""

from dataclasses import dataclass

import pytest
import torch
from torch import Tensor

import architectures
from architectures import Block, BlockConfig, SequenceModel
from architectures.base import State

NAMES = architectures.names()


def _groups_by_name(model: SequenceModel, weight_decay: float = 0.1) -> tuple[set, set]:
    decayed, exempt = model.param_groups(weight_decay)
    assert decayed["weight_decay"] == weight_decay and exempt["weight_decay"] == 0.0
    name_of = {id(p): name for name, p in model.named_parameters()}
    return {name_of[id(p)] for p in decayed["params"]}, {name_of[id(p)] for p in exempt["params"]}


@pytest.mark.parametrize("name", NAMES)
def test_groups_cover_every_parameter_once(name: str) -> None:
    model = SequenceModel(name, vocab_size=11, d_model=64, n_layers=2)
    decayed, exempt = model.param_groups(0.1)
    ids = [id(p) for group in (decayed, exempt) for p in group["params"]]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))


@pytest.mark.parametrize("name", NAMES)
def test_embedding_norms_and_biases_are_exempt_and_lm_head_decays(name: str) -> None:
    model = SequenceModel(name, vocab_size=11, d_model=64, n_layers=2)
    decayed, exempt = _groups_by_name(model)
    assert {"embedding.weight", "norm.weight", "lm_head.weight"} <= decayed | exempt
    assert "embedding.weight" in exempt and "norm.weight" in exempt
    assert "lm_head.weight" in decayed
    for param_name, p in model.named_parameters():
        if p.dim() < 2:
            assert param_name in exempt, param_name
    assert any(p.dim() >= 2 for n, p in model.named_parameters() if n in decayed)


def test_mamba_exempts_a_log_and_d_as_mamba_ssm_does() -> None:
    model = SequenceModel("mamba", vocab_size=11, d_model=32, n_layers=2)
    decayed, exempt = _groups_by_name(model)
    for i in range(2):
        assert {f"blocks.{i}.mixer.A_log", f"blocks.{i}.mixer.D"} <= exempt
        assert {f"blocks.{i}.mixer.in_proj.weight", f"blocks.{i}.mixer.x_proj.weight"} <= decayed
        assert f"blocks.{i}.mixer.out_proj.weight" in decayed


def test_rwkv_exempts_every_time_parameter_as_rwkv_lm_does() -> None:
    model = SequenceModel("rwkv", vocab_size=11, d_model=64, n_layers=2, d_head=16)
    decayed, exempt = _groups_by_name(model)
    time_params = {n for n, _ in model.named_parameters() if ".time_" in n}
    # 2-D ones too: the adapters time_maa_w1/w2, time_decay_w1/w2 and the bonus time_faaaa.
    assert {"blocks.0.mixer.time_maa_w1", "blocks.1.mixer.time_faaaa"} <= time_params
    assert time_params <= exempt
    for weight in ("mixer.receptance", "mixer.key", "mixer.output", "mlp.key", "mlp.value"):
        assert f"blocks.1.{weight}.weight" in decayed


def test_adamw_on_the_groups_leaves_a_log_alone() -> None:
    # The failure the groups prevent: with decay on, A = -exp(A_log) collapses towards -1.
    torch.manual_seed(0)
    model = SequenceModel("mamba", vocab_size=11, d_model=32, n_layers=1)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.AdamW(model.param_groups(weight_decay=0.5), lr=0.1)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)  # no gradient: only weight decay can move a parameter
    optimizer.step()
    after = dict(model.named_parameters())
    torch.testing.assert_close(after["blocks.0.mixer.A_log"], before["blocks.0.mixer.A_log"])
    torch.testing.assert_close(after["embedding.weight"], before["embedding.weight"])
    in_proj = "blocks.0.mixer.in_proj.weight"
    torch.testing.assert_close(after[in_proj], before[in_proj] * (1 - 0.1 * 0.5))


@dataclass(frozen=True)
class _PluginConfig(BlockConfig):
    pass


class _PluginBlock(Block):
    """A third-party block using both ways of declaring exemptions."""

    Config = _PluginConfig
    no_weight_decay_patterns = ("mixer.scale_*",)

    def __init__(self, config: _PluginConfig) -> None:
        super().__init__(config)
        d = config.d_model
        self.mixer = torch.nn.Linear(d, d)
        self.mixer.scale_table = torch.nn.Parameter(torch.ones(4, d))
        self.marked = torch.nn.Parameter(torch.ones(d, d))
        self.marked._no_weight_decay = True
        self.plain = torch.nn.Parameter(torch.ones(d, d))

    def forward(self, x: Tensor) -> Tensor:
        self.select_backend(x)
        return x + self.mixer(x)

    def init_state(self, batch_size: int) -> State:
        return {}

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        return x + self.mixer(x), state

    def state_size(self, seq_len: int) -> int:
        return 0


def test_plugin_blocks_declare_exemptions_by_pattern_or_mark() -> None:
    block = _PluginBlock(_PluginConfig(d_model=8))
    assert block.no_weight_decay() == {"mixer.bias", "mixer.scale_table", "marked"}
