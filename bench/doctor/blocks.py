"""Every block through the torch path, and ``backend="cuda"`` against ``backend="torch"``;
the tools for comparing two forward+backward passes, which the references use too.

Agreement is judged per tensor by the relative error ‖a − b‖ / ‖b‖, the worst tensor
against ``TOLERANCE``: fp32 5e-3 (fused kernels sum in another order, and Triton runs fp32
dots in TF32 on Ampere and later, ~1e-3; torch's own matmuls and convolutions are held to
true fp32 here); bf16 5e-2 (an 8-bit mantissa, rounded at different points in each path).
"bf16" is ``torch.autocast(bfloat16)`` over fp32 weights, what ``train.dtype="bfloat16"`` runs.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator

import torch

import architectures
from architectures import _fused
from architectures.contract import randomize
from bench.run import measure

from .capabilities import required_import
from .journal import Failed, Skip

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
TOLERANCE = {"fp32": 5e-3, "bf16": 5e-2}
# (batch, length, d_model): small on a CPU, long enough on a GPU to cross every chunk size.
AGREEMENT_SIZES = {"cpu": (2, 64, 64), "cuda": (2, 1000, 256)}


@contextlib.contextmanager
def true_fp32() -> Iterator[None]:
    """torch's matmuls and cuDNN in full fp32 (no TF32) while comparing; restored after."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def make_block(name: str, d_model: int, backend: str) -> architectures.Block:
    try:
        return architectures.create(name, d_model=d_model, backend=backend)
    except architectures.ConfigError as error:
        raise Skip(f"needs other settings than d_model={d_model}: {error}") from None


def block_inputs(batch: int, length: int, d_model: int, device: torch.device):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(batch, length, d_model, generator=g)
    dy = torch.randn(batch, length, d_model, generator=g)
    return x.to(device), dy.to(device)


def forward_backward(module, x, dy, dtype: str, call=None) -> tuple[torch.Tensor, dict]:
    """Output and gradients (of the input and every parameter) of ⟨module(x), dy⟩."""
    module.zero_grad(set_to_none=True)
    x = x.detach().clone().requires_grad_()
    with measure.autocast(x.device, DTYPES[dtype]):
        y = (call or module)(x)
    (y.float() * dy).sum().backward()
    grads = {"input": x.grad, **{n: p.grad for n, p in module.named_parameters()}}
    return y.detach(), grads


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().double(), b.detach().double()
    error = float((a - b).norm() / b.norm().clamp_min(1e-30))
    return error if math.isfinite(error) else math.inf  # NaN must not hide behind max()


def compare(ours, theirs, dtype: str, tolerance: float | None = None) -> dict:
    """Relative errors of two (output, gradients) pairs; ``Failed`` beyond the tolerance."""
    (y, grads), (y_ref, grads_ref) = ours, theirs
    tol = TOLERANCE[dtype] if tolerance is None else tolerance
    errors = {"output": rel_err(y, y_ref)}
    for name, g_ref in grads_ref.items():
        g = grads.get(name)
        if (g is None) != (g_ref is None):
            raise Failed(f"gradient of {name} is missing on one side", {})
        if g is not None:
            errors[name] = rel_err(g, g_ref)
    worst = max(errors, key=errors.get)
    figures = {
        "output_rel_err": errors["output"],
        "worst": worst,
        "worst_rel_err": errors[worst],
        "tolerance": tol,
        "tensors_compared": len(errors),
        "summary": f"worst {worst}: {errors[worst]:.1e} (tolerance {tol:g})",
    }
    if not errors[worst] <= tol:  # NaN fails too
        raise Failed(f"{worst}: relative error {errors[worst]:.2e} > {tol:g}", figures)
    return figures


def torch_path_check(name: str, dtype: str, device: torch.device) -> dict:
    batch, length, d_model = AGREEMENT_SIZES[device.type]
    block = randomize(make_block(name, d_model, "torch")).to(device)
    x, dy = block_inputs(batch, length, d_model, device)
    started = time.perf_counter()
    y, grads = forward_backward(block, x, dy, dtype)
    measure.synchronize(device)
    seconds = time.perf_counter() - started
    bad = [n for n, g in {"output": y, **grads}.items() if g is not None and not g.isfinite().all()]
    if bad:
        raise Failed(f"not finite: {', '.join(bad[:5])}", {"not_finite": bad})
    return {
        "seconds": seconds,
        "backend_used": block.backend_used,
        "summary": f"forward+backward finite, B={batch} L={length} D={d_model}",
    }


def cuda_vs_torch_check(name: str, dtype: str, device: torch.device) -> dict:
    if device.type != "cuda":
        raise Skip("no CUDA device")
    cls = architectures.get(name)
    if not ("cuda" in cls.backends() and required_import(name)):
        missing = [k for k, s in _fused.KERNELS.items() if s.block == name and not s.optional]
        why = "; ".join(f"{k}: {_fused.import_error(k)}" for k in missing) or cls.cuda_package
        raise Skip(f"backend='cuda' cannot run: {why} (see the fallback check)")
    batch, length, d_model = AGREEMENT_SIZES["cuda"]
    torch.manual_seed(0)
    fused = randomize(make_block(name, d_model, "cuda")).to(device)
    reference = make_block(name, d_model, "torch").to(device)
    reference.load_state_dict(fused.state_dict())
    x, dy = block_inputs(batch, length, d_model, device)
    with true_fp32():
        ours = forward_backward(fused, x, dy, dtype)
        theirs = forward_backward(reference, x, dy, dtype)
    if fused.backend_used != "cuda":
        raise Failed(f"backend='cuda' ran {fused.backend_used!r}", {})
    return compare(ours, theirs, dtype)


def fallback_check(name: str, device: torch.device) -> dict:
    """Without its kernels a block still runs on CUDA, and says which code ran."""
    batch, length, d_model = AGREEMENT_SIZES["cuda"]
    block = make_block(name, d_model, "auto").to(device)
    x, _ = block_inputs(batch, length, d_model, device)
    with torch.no_grad():
        y = block(x)
    if block.backend_used != "torch" or not y.isfinite().all():
        raise Failed(f"backend='auto' ran {block.backend_used!r}", {})
    return {"backend_used": "torch", "summary": "backend='auto' ran the torch code on CUDA"}
