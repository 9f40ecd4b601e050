"""The block contract as executable checks.

Each check takes a ``make_block`` callable (returns a freshly seeded block in fp32 on
CPU) and raises ``ContractViolation`` with a reason a person can act on. The test suite
runs every check on every registered block; ``seqbench check`` runs them on any class.

Every law is checked twice: on the block as initialised, and on the same block with every
parameter randomised (``randomize``). A fresh block can hide a path: RWKV-6 starts with its
low-rank adapters and output layers at zero, so its data-dependent shift and decay, and
everything behind its output projection, are constant or silent until trained. The
random variant makes every adapter, gate and decay live, so a causality or ``step`` bug on
such a path is caught.

A check that cannot be carried out here raises ``ContractSkipped`` (the backend law on a
machine without the fused kernels): ``run_contract`` reports it as passed, ``skipped``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .base import BackendError, Block, count_state_numbers

MakeBlock = Callable[[], Block]

BATCH = 2
STEP_LENGTHS = (1, 17, 257)  # odd lengths catch chunk-boundary bugs
ATOL = RTOL = 1e-4
BACKEND_TOL = 2e-3  # fused kernels reorder sums (and Triton's fp32 dots may use TF32)
RANDOM_SEED = 1234


class ContractViolation(AssertionError):
    """A block broke one law of the contract."""


class ContractSkipped(Exception):
    """A law that cannot be checked on this machine; the message says why."""


@torch.no_grad()
def randomize(module: nn.Module, seed: int = RANDOM_SEED) -> nn.Module:
    """Add Gaussian noise to every parameter of ``module``, in place, and return it.

    The noise of a parameter has the standard deviation of its values, and at least
    1/√(last dimension) for a matrix (a unit-gain weight) or 0.1 for a vector: parameters
    that start at zero or at one constant (adapters, output layers, gains) become generic,
    and a block's activations stay of order one.
    """
    generator = torch.Generator().manual_seed(seed)
    for p in module.parameters():
        spread = float(p.float().std()) if p.numel() > 1 else 0.0
        floor = 1 / math.sqrt(p.shape[-1]) if p.dim() >= 2 else 0.1
        noise = torch.randn(p.shape, generator=generator, dtype=torch.float32)
        p.add_((noise * max(spread, floor)).to(device=p.device, dtype=p.dtype))
    return module


def randomized(make_block: MakeBlock, seed: int = RANDOM_SEED) -> MakeBlock:
    """``make_block`` whose blocks have every parameter randomised (same seed, same block)."""

    def make() -> Block:
        return randomize(make_block(), seed)

    return make


def _variants(make_block: MakeBlock) -> list[tuple[str, MakeBlock]]:
    """(prefix for violation messages, factory): the fresh block, then the randomised one."""
    return [("", make_block), ("with random parameters: ", randomized(make_block))]


def _every_variant(law: Callable[[MakeBlock], None]) -> Callable[[MakeBlock], None]:
    """A check that runs ``law`` on the fresh block and on the randomised block."""

    def check(make_block: MakeBlock) -> None:
        for prefix, make in _variants(make_block):
            try:
                law(make)
            except ContractViolation as violation:
                raise ContractViolation(f"{prefix}{violation}") from None

    check.__name__ = law.__name__
    check.__doc__ = law.__doc__
    return check


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


@_every_variant
def check_shape_dtype(make_block: MakeBlock) -> None:
    block = make_block()
    x = _inputs(block, 17)
    y = block(x)
    if y.shape != x.shape or y.dtype != x.dtype:
        raise ContractViolation(
            f"forward maps {tuple(x.shape)} {x.dtype} to "
            f"{tuple(y.shape)} {y.dtype}; it must keep shape and dtype"
        )


@_every_variant
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


@_every_variant
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


@_every_variant
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


@_every_variant
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


@_every_variant
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
    """The backend is recorded; "cuda" on CPU inputs is refused; "cuda" equals "torch".

    The numbers are compared only where the fused kernels can run (a CUDA device and the
    block's package): on CPU both "auto" and "torch" run the same code, so comparing them
    would compare the reference with itself. There the check reports itself skipped.
    """
    for prefix, make in _variants(make_block):
        block = make()
        x = _inputs(block, 17)
        with torch.no_grad():
            block(x)
        if block.backend_used not in ("torch", "cuda"):
            raise ContractViolation(
                f"{prefix}forward recorded backend_used={block.backend_used!r}; "
                "call self.select_backend(x) in forward"
            )
        cuda_block = _with_backend(make(), "cuda")
        try:
            cuda_block(x)
        except BackendError:
            pass
        else:
            raise ContractViolation(
                f"{prefix}backend='cuda' on CPU inputs ran instead of raising BackendError"
            )
    block_cls = type(make_block())
    if "cuda" not in block_cls.backends():
        package = block_cls.cuda_package or "torch's CUDA kernels"
        raise ContractSkipped(
            f"no fused kernel here (needs a CUDA device and {package}); "
            "the torch path was not compared with itself"
        )
    for prefix, make in _variants(make_block):
        fused, reference = (_with_backend(make(), b).cuda() for b in ("cuda", "torch"))
        x = _inputs(fused, 257).cuda()
        with torch.no_grad():
            y_fused, y_reference = fused(x), reference(x)
        if fused.backend_used != "cuda" or reference.backend_used != "torch":
            raise ContractViolation(
                f"{prefix}backend='cuda' ran {fused.backend_used!r} and backend='torch' ran "
                f"{reference.backend_used!r}"
            )
        error = float((y_fused - y_reference).abs().max())
        bound = BACKEND_TOL * (1 + float(y_reference.abs().max()))
        if not error <= bound:
            raise ContractViolation(
                f"{prefix}backend='cuda' and backend='torch' disagree at L=257: "
                f"max |diff| {error:.2e} > {bound:.2e}"
            )


def _with_backend(block: Block, backend: str) -> Block:
    block.config = dataclasses.replace(block.config, backend=backend)
    return block


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
    skipped: bool = False  # passed because it could not be checked here; reason says why


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
        except ContractSkipped as skipped:
            results.append(CheckResult(name, True, f"skipped: {skipped}", skipped=True))
        except ContractViolation as violation:
            results.append(CheckResult(name, False, str(violation)))
        except Exception as error:
            results.append(CheckResult(name, False, f"raised {type(error).__name__}: {error}"))
    return results
