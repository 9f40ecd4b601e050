"""Stand-ins for the fused kernels, one per kernel with its exact signature, and the
``stand_ins`` fixture that installs them (used by test_wiring.py; see its docstring)."""

from __future__ import annotations

import importlib
import sys
import types

import torch
import torch.nn.functional as F

from architectures.selective_scan import selective_scan
from architectures.wkv import wkv6

KERNEL_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


class WiringError(AssertionError):
    """An argument laid out, typed or meant otherwise than its kernel reads it."""


def _require(ok: bool, kernel: str, message: str) -> None:
    if not ok:
        raise WiringError(f"{kernel}: {message}")


def _expect(kernel: str, what: str, t, shape: tuple[int, ...], dtype: torch.dtype) -> None:
    """``t`` has ``shape`` and ``dtype`` and is contiguous (the seam's promise: no copies)."""
    _require(isinstance(t, torch.Tensor), kernel, f"{what} must be a tensor, got {type(t)}")
    _require(
        tuple(t.shape) == shape and t.dtype == dtype,
        kernel,
        f"{what} must be {shape} {dtype}, got {tuple(t.shape)} {t.dtype}",
    )
    _require(t.is_contiguous(), kernel, f"{what} must be contiguous, got strides {t.stride()}")


# --- stand-ins, one per kernel, with the kernel's signature --------------------------------


def selective_scan_fn(
    u,
    delta,
    A,
    B,
    C,
    D=None,
    z=None,
    delta_bias=None,
    delta_softplus=False,
    return_last_state=False,
):
    """mamba_ssm.ops.selective_scan_interface.selective_scan_fn, checked as
    csrc/selective_scan/selective_scan.cpp checks it."""
    name = "selective_scan_fn"
    _require(u.dim() == 3, name, f"u must be (batch, dim, seqlen), got {tuple(u.shape)}")
    _require(u.dtype in KERNEL_DTYPES, name, f"u must be fp32, fp16 or bf16, got {u.dtype}")
    batch, dim, seqlen = u.shape
    _require(A.dim() == 2 and A.shape[0] == dim, name, f"A must be (dim={dim}, d_state)")
    d_state = A.shape[1]
    _require(d_state <= 256, name, f"d_state={d_state} must be <= 256")
    _expect(name, "u", u, (batch, dim, seqlen), u.dtype)
    _require(A.dtype == torch.float32, name, f"A must be float32, got {A.dtype}")
    _expect(name, "delta", delta, (batch, dim, seqlen), u.dtype)
    # 3-D B and C are "variable" (one per time step), read as (batch, 1 group, d_state, seqlen).
    _expect(name, "B", B, (batch, d_state, seqlen), u.dtype)
    _expect(name, "C", C, (batch, d_state, seqlen), u.dtype)
    if D is not None:
        _expect(name, "D", D, (dim,), torch.float32)
    if z is not None:
        _expect(name, "z", z, (batch, dim, seqlen), u.dtype)
    if delta_bias is not None:
        _expect(name, "delta_bias", delta_bias, (dim,), torch.float32)
    given = [t for t in (delta, A, B, C, D, z, delta_bias) if t is not None]
    _require(all(t.device == u.device for t in given), name, "every tensor on u's device")
    _require(isinstance(delta_softplus, bool), name, "delta_softplus must be a bool")
    with torch.autocast(u.device.type, enabled=False):  # a kernel: autocast does not reach it
        return selective_scan(
            u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state
        )


def causal_conv1d_fn(
    x,
    weight,
    bias=None,
    seq_idx=None,
    initial_states=None,
    return_final_states=False,
    final_states_out=None,
    activation=None,
):
    """causal_conv1d.causal_conv1d_fn, checked as csrc/causal_conv1d.cpp checks it."""
    name = "causal_conv1d_fn"
    _require(x.dim() == 3, name, f"x must be (batch, dim, seqlen), got {tuple(x.shape)}")
    _require(x.dtype in KERNEL_DTYPES, name, f"x must be fp32, fp16 or bf16, got {x.dtype}")
    _expect(name, "x", x, tuple(x.shape), x.dtype)  # channel-first: stride 1 along seqlen
    dim = x.shape[1]
    _require(
        weight.dim() == 2 and weight.shape[0] == dim,
        name,
        f"weight must be (dim={dim}, width), got {tuple(weight.shape)}",
    )
    width = weight.shape[1]
    _require(2 <= width <= 4, name, f"width={width} must lie between 2 and 4")
    _require(weight.dtype in KERNEL_DTYPES, name, "weight must be fp32, fp16 or bf16")
    if bias is not None:
        _expect(name, "bias", bias, (dim,), weight.dtype)
    _require(activation in (None, "silu", "swish"), name, f"activation={activation!r}")
    unused = (seq_idx, initial_states, final_states_out)
    _require(
        all(t is None for t in unused) and not return_final_states,
        name,
        "the stand-in implements what the Mamba block uses: no states, no seq_idx",
    )
    with torch.autocast(x.device.type, enabled=False):
        bias = None if bias is None else bias.float()
        y = F.conv1d(x.float(), weight.float()[:, None], bias, padding=width - 1, groups=dim)
        y = y[..., : x.shape[-1]]  # causal: drop the right padding
        return (y if activation is None else F.silu(y)).to(x.dtype)


def chunk_rwkv6(
    r,
    k,
    v,
    w,
    u,
    scale=None,
    initial_state=None,
    output_final_state=False,
    cu_seqlens=None,
    cu_seqlens_cpu=None,
    **kwargs,
):
    """fla.ops.rwkv6.chunk_rwkv6, checked as fla/ops/rwkv6/chunk.py reads its arguments."""
    name = "chunk_rwkv6"
    if "head_first" in kwargs:
        raise DeprecationWarning("head_first has been removed")  # as fla >= 0.5 does
    _require(r.dim() == 4 and u.dim() == 2, name, "r must be 4-D and u (heads, d_head)")
    batch, time, heads, d_head = r.shape
    _require(
        tuple(u.shape) == (heads, d_head),
        name,
        f"r must be (batch, time, heads, d_head) with (heads, d_head) = u.shape = "
        f"{tuple(u.shape)}, got r {tuple(r.shape)}",
    )
    _expect(name, "r", r, (batch, time, heads, d_head), r.dtype)
    _require(r.dtype in KERNEL_DTYPES, name, f"r must be fp32, fp16 or bf16, got {r.dtype}")
    _expect(name, "k", k, (batch, time, heads, d_head), r.dtype)
    _expect(name, "w", w, (batch, time, heads, d_head), r.dtype)
    _require(v.dim() == 4, name, "v must be (batch, time, heads, d_value)")
    _expect(name, "v", v, (batch, time, heads, v.shape[-1]), r.dtype)
    _expect(name, "u", u, (heads, d_head), u.dtype)
    _require(bool((w <= 0).all()), name, f"w must be the log decay (<= 0), max {w.max():.3g}")
    _require(scale is None or isinstance(scale, float), name, f"scale={scale!r} must be a float")
    if initial_state is not None:
        shape = (batch, heads, d_head, v.shape[-1])
        _expect(name, "initial_state", initial_state, shape, torch.float32)
    _require(isinstance(output_final_state, bool), name, "output_final_state must be a bool")
    _require(cu_seqlens is None, name, "the stand-in implements equal-length batches only")
    with torch.autocast(r.device.type, enabled=False):
        scale = d_head**-0.5 if scale is None else scale  # fla's default is attention's
        return wkv6(r, k, v, w, u, scale, initial_state, output_final_state)


STAND_INS = {
    "selective_scan_fn": selective_scan_fn,
    "causal_conv1d_fn": causal_conv1d_fn,
    "chunk_rwkv6": chunk_rwkv6,
}


def replace_kernel(monkeypatch, module_name: str, attribute: str, value) -> None:
    """Set ``module_name.attribute`` to ``value``; stub the modules where it does not import."""
    try:
        module = importlib.import_module(module_name)
    except Exception:  # not installed, or needs CUDA to import (mamba_ssm)
        parts = module_name.split(".")
        for i in range(1, len(parts) + 1):
            stub = types.ModuleType(".".join(parts[:i]))
            monkeypatch.setitem(sys.modules, stub.__name__, stub)
            if i > 1:
                setattr(sys.modules[".".join(parts[: i - 1])], parts[i - 1], stub)
        module = sys.modules[module_name]
    monkeypatch.setattr(module, attribute, value, raising=False)
