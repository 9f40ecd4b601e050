"""The contract suite: every registered block, every law (docs/design.md)."""

import pytest
import torch
from torch import Tensor

import architectures
from architectures import Block, BlockConfig, ConfigError, register
from architectures.base import State
from architectures.contract import (
    CHECKS,
    ContractSkipped,
    ContractViolation,
    block_factory,
    randomize,
    run_contract,
)

NAMES = architectures.names()


def _run_check(check: str, make_block) -> None:
    try:
        CHECKS[check](make_block)
    except ContractSkipped as skipped:
        pytest.skip(str(skipped))


@pytest.mark.parametrize("check", list(CHECKS))
@pytest.mark.parametrize("name", NAMES)
def test_block_obeys_contract(name: str, check: str) -> None:
    _run_check(check, block_factory(architectures.get(name)))


@pytest.mark.parametrize("check", ["causal", "step_matches_forward", "state_size_honest"])
@pytest.mark.parametrize("name", NAMES)
def test_block_deep_in_a_model_obeys_contract(name: str, check: str) -> None:
    # Depth changes the init (RWKV's ramps and its first-layer ln0, residual scales).
    _run_check(check, block_factory(architectures.get(name), layer_idx=2, n_layers=3))


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


class PeekBehindZeroGate(_Base):
    """Looks one token ahead through a gate that starts at zero (like RWKV's adapters)."""

    def __init__(self, config: BlockConfig) -> None:
        super().__init__(config)
        self.gate = torch.nn.Parameter(torch.zeros(config.d_model))

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x) + self.gate * torch.roll(x, shifts=-1, dims=1)


class StepIgnoresZeroGate(_Base):
    """forward uses a zero-initialised gate that step forgets."""

    def __init__(self, config: BlockConfig) -> None:
        super().__init__(config)
        self.gate = torch.nn.Parameter(torch.zeros(config.d_model))

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x) + self.gate * x


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


@pytest.mark.parametrize(
    ("cls", "check", "reason"),
    [
        (PeekBehindZeroGate, "causal", "with random parameters: not causal"),
        (StepIgnoresZeroGate, "step_matches_forward", "with random parameters: step disagrees"),
    ],
    ids=["peek-behind-zero-gate", "step-ignores-zero-gate"],
)
def test_random_parameters_expose_paths_a_fresh_block_hides(cls, check, reason) -> None:
    block = block_factory(cls)()
    assert not block.gate.any()  # fresh: the broken path is silent
    with pytest.raises(ContractViolation, match=reason):
        CHECKS[check](block_factory(cls))


def test_randomize_moves_every_parameter_reproducibly() -> None:
    make = block_factory(architectures.get("rwkv"))
    fresh, a, b = make(), randomize(make()), randomize(make())
    params_b = dict(b.named_parameters())
    for (name, p0), (_, pa) in zip(fresh.named_parameters(), a.named_parameters(), strict=True):
        assert (pa != p0).float().mean() > 0.99, name  # zero-initialised ones included
        assert torch.equal(pa, params_b[name]), name
    assert a.mixer.time_maa_w1.abs().min() > 0 and a.mixer.output.weight.abs().max() > 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="the backend law compares on CUDA here")
def test_backend_law_on_cpu_is_skipped_not_compared_with_itself() -> None:
    results = {r.check: r for r in run_contract(_Base)}
    backend = results["backend_switch"]
    assert backend.passed and backend.skipped
    assert backend.reason.startswith("skipped: no fused kernel here")
    assert not any(r.skipped for name, r in results.items() if name != "backend_switch")


def test_backend_law_still_requires_cuda_on_cpu_to_be_refused() -> None:
    class RunsCudaOnCpu(_Base):
        def select_backend(self, x: Tensor) -> str:
            self.backend_used = "cuda" if self.config.backend == "cuda" else "torch"
            return self.backend_used

    with pytest.raises(ContractViolation, match="ran instead of raising BackendError"):
        CHECKS["backend_switch"](block_factory(RunsCudaOnCpu))


def test_plugin_config_inherits_placement_fields() -> None:
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class PluginConfig(BlockConfig):
        width: int = 3

    class PluginBlock(_Base):
        Config = PluginConfig

    block = PluginBlock(PluginConfig(d_model=8, layer_idx=1, n_layers=2))
    assert (block.config.layer_idx, block.config.n_layers, block.config.width) == (1, 2, 3)
    assert all(r.passed for r in run_contract(PluginBlock, d_model=8))


@pytest.mark.parametrize(
    ("placement", "message"),
    [
        ({"layer_idx": 2, "n_layers": 2}, r"layer_idx=2 must lie in \[0, n_layers=2\)"),
        ({"layer_idx": -1}, r"layer_idx=-1 must lie in"),
        ({"n_layers": 0}, "n_layers=0 must be a positive integer"),
    ],
    ids=["past-the-end", "negative", "no-layers"],
)
def test_invalid_placement_names_field_value_and_rule(placement, message) -> None:
    with pytest.raises(ConfigError, match=message):
        architectures.create("lstm", **placement)


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
    found = {n: architectures.get(n).backends() for n in architectures.available()}
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

        registry.REGISTRY.entries.pop("test-cumsum")


def test_every_builtin_block_module_imports() -> None:
    assert architectures.plugin_errors() == {}
