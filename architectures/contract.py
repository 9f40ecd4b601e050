"""The block contract as executable checks.

Each check takes a ``make_block`` callable (returns a freshly seeded block in fp32 on
CPU) and raises ``ContractViolation`` with a reason a person can act on. The test suite
runs every check on every registered block; ``seqbench check`` runs them on any class.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from .base import BackendError, Block, count_state_numbers

MakeBlock = Callable[[], Block]

BATCH = 2
STEP_LENGTHS = (1, 17, 257)  # odd lengths catch chunk-boundary bugs
ATOL = RTOL = 1e-4


class ContractViolation(AssertionError):
    """A block broke one law of the contract."""


def _inputs(block: Block, length: int, seed: int = 1) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(BATCH, length, block.config.d_model, generator=g)


def _run_steps(block: Block, x: Tensor):
    state = block.init_state(x.shape[0])
    ys = []
    for t in range(x.shape[1]):
        y, state = block.step(x[:, t], state)
        ys.append(y)
    return torch.stack(ys, dim=1) if ys else x[:, :0], state


def _worst(a: Tensor, b: Tensor) -> tuple[float, int]:
    """Largest |a-b| beyond tolerance, and the first position (dim 1) where it occurs."""
    excess = (a - b).abs() - (ATOL + RTOL * b.abs())
    bad = (excess > 0).flatten(2).any(-1).any(0)
    position = int(bad.nonzero()[0]) if bad.any() else -1
    return float((a - b).abs().max()), position


def check_shape_dtype(make_block: MakeBlock) -> None:
    block = make_block()
    x = _inputs(block, 17)
    y = block(x)
    if y.shape != x.shape or y.dtype != x.dtype:
        raise ContractViolation(
            f"forward maps {tuple(x.shape)} {x.dtype} to "
            f"{tuple(y.shape)} {y.dtype}; it must keep shape and dtype"
        )


def check_finite(make_block: MakeBlock) -> None:
    block = make_block()
    x = _inputs(block, 33).requires_grad_(True)
    y = block(x)
    if not torch.isfinite(y).all():
        raise ContractViolation("forward produced NaN or inf")
    y.square().mean().backward()
    for name, p in [("input", x), *block.named_parameters()]:
        if p.grad is not None and not torch.isfinite(p.grad).all():
            raise ContractViolation(f"backward produced NaN or inf in the gradient of {name}")
    if x.grad is None or x.grad.abs().sum() == 0:
        raise ContractViolation("backward gives no gradient to the input")


def check_causal(make_block: MakeBlock) -> None:
    block = make_block()
    length = 33
    x = _inputs(block, length)
    with torch.no_grad():
        y = block(x)
        for t in (1, length // 2, length - 1):
            x_changed = x.clone()
            x_changed[:, t:] = _inputs(block, length, seed=2)[:, t:]
            y_changed = block(x_changed)
            diff, position = _worst(y_changed[:, :t], y[:, :t])
            if position >= 0:
                raise ContractViolation(
                    f"not causal: changing inputs at positions >= {t} changed the output at "
                    f"position {position} (max |diff| {diff:.2e})"
                )


def check_step_matches_forward(make_block: MakeBlock) -> None:
    block = make_block()
    for length in STEP_LENGTHS:
        x = _inputs(block, length)
        with torch.no_grad():
            y_forward = block(x)
            y_step, _ = _run_steps(block, x)
        if y_step.shape != y_forward.shape:
            raise ContractViolation(
                f"step outputs have shape {tuple(y_step.shape[2:])} per token, "
                f"forward {tuple(y_forward.shape[2:])}"
            )
        diff, position = _worst(y_step, y_forward)
        if position >= 0:
            raise ContractViolation(
                f"step disagrees with forward at L={length}: first at position {position}, "
                f"max |diff| {diff:.2e} > atol {ATOL:g} + rtol {RTOL:g}"
            )


def check_state_size(make_block: MakeBlock) -> None:
    block = make_block()
    for length in (0, 5, 17):
        x = _inputs(block, length) if length else None
        with torch.no_grad():
            state = _run_steps(block, x)[1] if x is not None else block.init_state(BATCH)
        held = count_state_numbers(state, BATCH)
        claimed = block.state_size(length)
        if held != claimed:
            verb = "under-reports" if claimed < held else "over-reports"
            raise ContractViolation(
                f"state_size({length}) {verb}: it says {claimed} numbers per "
                f"sequence, the state holds {held}"
            )


def check_deterministic(make_block: MakeBlock) -> None:
    a, b = make_block(), make_block()
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        if not torch.equal(pa, pb):
            raise ContractViolation(f"two blocks built under the same seed differ in {name}")
    x = _inputs(a, 17)
    with torch.no_grad():
        if not torch.equal(a(x), b(x)) or not torch.equal(a(x), a(x)):
            raise ContractViolation("forward is not deterministic for a fixed seed and input")


def check_backend(make_block: MakeBlock) -> None:
    block = make_block()
    x = _inputs(block, 17)
    with torch.no_grad():
        y = block(x)
    if block.backend_used not in ("torch", "cuda"):
        raise ContractViolation(
            f"forward recorded backend_used={block.backend_used!r}; "
            "call self.select_backend(x) in forward"
        )
    reference = make_block()
    reference.config = dataclasses.replace(reference.config, backend="torch")
    with torch.no_grad():
        diff, position = _worst(reference(x), y)
    if position >= 0:
        raise ContractViolation(
            f"backend='torch' and backend='auto' disagree (max |diff| {diff:.2e})"
        )
    if not x.is_cuda:
        cuda_block = make_block()
        cuda_block.config = dataclasses.replace(cuda_block.config, backend="cuda")
        try:
            cuda_block(x)
        except BackendError:
            pass
        else:
            raise ContractViolation(
                "backend='cuda' on CPU inputs ran instead of raising BackendError"
            )


CHECKS: dict[str, Callable[[MakeBlock], None]] = {
    "shape_dtype": check_shape_dtype,
    "finite_forward_backward": check_finite,
    "causal": check_causal,
    "step_matches_forward": check_step_matches_forward,
    "state_size_honest": check_state_size,
    "deterministic": check_deterministic,
    "backend_switch": check_backend,
}


@dataclass(frozen=True)
class CheckResult:
    check: str
    passed: bool
    reason: str = ""


def block_factory(cls: type[Block], d_model: int = 64, seed: int = 0, **config) -> MakeBlock:
    def make_block() -> Block:
        torch.manual_seed(seed)
        return cls(cls.Config(d_model=d_model, **config)).float()

    return make_block


def run_contract(cls: type[Block], d_model: int = 64, **config) -> list[CheckResult]:
    """Run every check against ``cls``; a crash inside a check is a failure with its error."""
    make_block = block_factory(cls, d_model, **config)
    results = []
    for name, check in CHECKS.items():
        try:
            check(make_block)
            results.append(CheckResult(name, True))
        except ContractViolation as violation:
            results.append(CheckResult(name, False, str(violation)))
        except Exception as error:
            results.append(CheckResult(name, False, f"raised {type(error).__name__}: {error}"))
    return results
