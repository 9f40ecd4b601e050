"""The contract suite: every registered block, every law (DESIGN.md)."""

import pytest
import torch
from torch import Tensor

import architectures
from architectures import Block, BlockConfig, ConfigError, register
from architectures.base import State
from architectures.contract import (
    CHECKS,
    ContractViolation,
    block_factory,
    run_contract,
)

NAMES = architectures.names()


@pytest.mark.parametrize("check", list(CHECKS))
@pytest.mark.parametrize("name", NAMES)
def test_block_obeys_contract(name: str, check: str) -> None:
    CHECKS[check](block_factory(architectures.get(name)))


@pytest.mark.parametrize("name", NAMES)
def test_block_runs_in_bfloat16(name: str) -> None:
    torch.manual_seed(0)
    block = architectures.create(name, d_model=64).to(torch.bfloat16)
    x = torch.randn(2, 17, 64, dtype=torch.bfloat16)
    y = block(x)
    assert y.dtype == torch.bfloat16 and torch.isfinite(y).all()


@pytest.mark.parametrize("name", NAMES)
def test_block_exposes_mixer(name: str) -> None:
    block = architectures.create(name, d_model=64)
    assert isinstance(block.mixer, torch.nn.Module)


# --- the suite catches broken blocks -----------------------------------------------------


class _Base(Block):
    Config = BlockConfig

    def __init__(self, config: BlockConfig) -> None:
        super().__init__(config)
        self.mixer = torch.nn.Linear(config.d_model, config.d_model)

    def forward(self, x: Tensor) -> Tensor:
        self.select_backend(x)
        return x + self.mixer(x).cumsum(1)

    def init_state(self, batch_size: int) -> State:
        return {"sum": torch.zeros(batch_size, self.config.d_model)}

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        total = state["sum"] + self.mixer(x)
        return x + total, {"sum": total}

    def state_size(self, seq_len: int) -> int:
        return self.config.d_model


class FuturePeeking(_Base):
    def forward(self, x: Tensor) -> Tensor:
        y = super().forward(x)
        return y + 0.1 * torch.roll(x, shifts=-1, dims=1)  # looks one token ahead


class StepMismatch(_Base):
    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        y, state = super().step(x, state)
        return y * 1.01, state


class UnderReportedState(_Base):
    def state_size(self, seq_len: int) -> int:
        return self.config.d_model // 2


class NaNBlock(_Base):
    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x) * float("nan")


def test_reference_block_passes() -> None:
    assert all(r.passed for r in run_contract(_Base)), run_contract(_Base)


@pytest.mark.parametrize(
    ("cls", "check", "reason"),
    [
        (FuturePeeking, "causal", "not causal"),
        (StepMismatch, "step_matches_forward", "step disagrees with forward"),
        (UnderReportedState, "state_size_honest", "under-reports"),
        (NaNBlock, "finite_forward_backward", "NaN"),
    ],
    ids=["future-peeking", "step-mismatch", "under-reported-state", "nan-output"],
)
def test_suite_catches_broken_block(cls, check, reason) -> None:
    with pytest.raises(ContractViolation, match=reason):
        CHECKS[check](block_factory(cls))
    failed = {r.check: r.reason for r in run_contract(cls) if not r.passed}
    assert check in failed and reason in failed[check]


# --- registry -----------------------------------------------------------------------------


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ConfigError, match=r"unknown architecture 'mamab'.*transformer"):
        architectures.create("mamab")


def test_unknown_setting_lists_valid_settings() -> None:
    with pytest.raises(ConfigError, match=r"no setting 'n_head'.*n_heads"):
        architectures.create("transformer", n_head=4)


def test_invalid_value_names_field_value_and_rule() -> None:
    with pytest.raises(ConfigError, match="d_model=100 must be divisible by n_heads=8"):
        architectures.create("transformer", d_model=100, n_heads=8)
    with pytest.raises(ConfigError, match="backend='gpu' must be one of"):
        architectures.create("lstm", backend="gpu")


def test_available_lists_builtin_blocks_with_backends() -> None:
    found = architectures.available()
    assert {"transformer", "lstm"} <= set(found)
    assert all("torch" in backends for backends in found.values())


def test_register_rejects_name_clash_and_non_blocks() -> None:
    with pytest.raises(ConfigError, match="taken"):
        register("transformer")(type("Other", (_Base,), {}))
    with pytest.raises(TypeError):
        register("not-a-block")(object)


def test_registered_block_appears_and_is_created() -> None:
    @register("test-cumsum")
    class CumSum(_Base):
        pass

    try:
        assert "test-cumsum" in architectures.names()
        assert isinstance(architectures.create("test-cumsum", d_model=8), CumSum)
    finally:
        from architectures import registry

        registry._REGISTRY.pop("test-cumsum")


def test_every_builtin_block_module_imports() -> None:
    assert architectures.plugin_errors() == {}
