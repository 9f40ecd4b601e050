"""The one door to the fused CUDA kernels: their arguments laid out, the kernel looked up.

A block's ``cuda`` branch calls a function here instead of a kernel. The function takes
the block's tensors, prepares them exactly as the kernel's entry point checks them
(layouts, contiguity, dtypes) and calls the kernel that ``load_kernel`` finds. Tests
replace the kernels with stand-ins of the same signature that check every argument and
compute with the torch reference (``tests/test_wiring.py``), so a layout mistake fails on a
CPU; whether the real kernels then agree is for ``seqbench doctor`` on a GPU.

What each kernel requires, read from its entry point:

- mamba_ssm ``selective_scan_fn(u, delta, A, B, C, D=None, z=None, delta_bias=None,
  delta_softplus=False, return_last_state=False)`` (``csrc/selective_scan/selective_scan.cpp``):
  u, delta, z (B, d, L) in one of fp32 / fp16 / bf16 with stride 1 along L; A (d, N) fp32,
  N ≤ 256; B, C (B, N, L) in u's dtype (3-D: "variable", read as one group); D and
  delta_bias (d,) fp32. Its Python wrapper copies a tensor whose last stride is not 1;
  here every tensor arrives contiguous, so it never does.
- causal_conv1d ``causal_conv1d_fn(x, weight, bias=None, seq_idx=None, initial_states=None,
  return_final_states=False, final_states_out=None, activation=None)``
  (``csrc/causal_conv1d.cpp``): x (B, d, L) in fp32 / fp16 / bf16 (contiguous here: a
  stride-1 channel axis selects the channel-last kernel, which needs d % 8 == 0); weight
  (d, width) with 2 ≤ width ≤ 4; bias (d,) in the weight's dtype; activation "silu".
- fla ``chunk_rwkv6(r, k, v, w, u, scale=None, initial_state=None, output_final_state=False,
  cu_seqlens=None)`` (``fla/ops/rwkv6/chunk.py``, Triton): r, k, w (B, T, H, K) and v
  (B, T, H, V), time before heads; w the log decay (≤ 0); u (H, K); initial state
  (B, H, K, V) fp32. ``scale`` defaults to K^-½, RWKV-6 needs 1. fla's own RWKV-6 layer
  passes r, k, v, w in one dtype and u as its parameter, as done here.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from .base import BackendError


@dataclass(frozen=True)
class Kernel:
    module: str  # where the kernel lives
    attribute: str
    package: str  # what pip installs
    block: str  # the registered block whose "cuda" backend calls it
    optional: bool  # the block's "cuda" backend runs without it


KERNELS: dict[str, Kernel] = {
    "selective_scan_fn": Kernel(
        "mamba_ssm.ops.selective_scan_interface", "selective_scan_fn", "mamba-ssm", "mamba", False
    ),
    # Without it the "cuda" backend convolves with cuDNN (nn.Conv1d) and scans with mamba_ssm.
    "causal_conv1d_fn": Kernel("causal_conv1d", "causal_conv1d_fn", "causal-conv1d", "mamba", True),
    "chunk_rwkv6": Kernel("fla.ops.rwkv6", "chunk_rwkv6", "fla-core", "rwkv", False),
}

_KERNEL_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
_CONV_WIDTHS = range(2, 5)  # causal_conv1d: "only supports width between 2 and 4"
_MAX_D_STATE = 256  # selective_scan: "only supports state dimension <= 256"


def load_kernel(name: str) -> Callable:
    """The fused kernel ``name`` (a key of ``KERNELS``); raises when it does not import.

    Every fused call looks its kernel up here, at call time: replace this function, or the
    kernel in its module (as ``tests/test_wiring.py`` does), and every block calls the
    replacement.
    """
    kernel = KERNELS[name]
    return getattr(importlib.import_module(kernel.module), kernel.attribute)


@functools.cache
def import_error(name: str) -> str | None:
    """Why kernel ``name`` does not import here (``"ModuleNotFoundError: …"``), or None.

    Imported, not just found: a package built for another CUDA or torch is found but fails
    to import. The answer is kept for the process (``import_error.cache_clear()`` forgets).
    """
    try:
        load_kernel(name)
    except Exception as error:  # ImportError, or OSError / RuntimeError from a broken build
        lines = str(error).strip().splitlines()
        return f"{type(error).__name__}: {lines[0] if lines else ''}"[:300]
    return None


def importable(name: str) -> bool:
    """Whether kernel ``name`` imports here (cached; see ``import_error``)."""
    return import_error(name) is None


# --- Mamba ---------------------------------------------------------------------------------


def _dense(t: Tensor) -> Tensor:
    """``t`` contiguous: what the kernels read without a copy of their own."""
    return t.contiguous()


def mamba_causal_conv(x: Tensor, conv: nn.Conv1d) -> Tensor:
    """SiLU(causal depthwise conv) of x (B, d, L) with ``conv``'s weights: (B, d, L).

    Through causal_conv1d when it imports and takes this width (2 to 4), otherwise
    through ``conv`` itself (cuDNN on a GPU), which is built with padding width − 1.
    """
    # importable() is cached: a missing package costs one failed import, not one per call.
    if conv.weight.shape[-1] not in _CONV_WIDTHS or not importable("causal_conv1d_fn"):
        return F.silu(conv(x)[..., : x.shape[-1]])  # drop the right padding: causal
    kernel = load_kernel("causal_conv1d_fn")
    weight = rearrange(conv.weight, "d 1 w -> d w")  # (d, width)
    bias = None if conv.bias is None else _dense(conv.bias.to(weight.dtype))
    return kernel(_dense(x), _dense(weight), bias, activation="silu")


def mamba_selective_scan(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """mamba_ssm's ``selective_scan_fn`` on arguments laid out as its kernel checks them.

    Same signature and layouts as ``selective_scan.selective_scan`` (and the kernel):
    u, delta, z (B, d, L); A (d, N); B, C (B, N, L); D, delta_bias (d,). Views are made
    contiguous; delta, B, C and z take u's dtype; A, D and delta_bias are fp32.
    """
    if u.dtype not in _KERNEL_DTYPES:
        raise BackendError(
            f"mamba_ssm's selective scan takes float32, float16 or bfloat16 inputs, got "
            f"{u.dtype}; use backend='torch'"
        )
    if A.shape[-1] > _MAX_D_STATE:
        raise BackendError(
            f"mamba_ssm's selective scan supports d_state <= {_MAX_D_STATE}, got "
            f"{A.shape[-1]}; use backend='torch'"
        )
    scan = load_kernel("selective_scan_fn")
    dtype = u.dtype

    def fp32(t: Tensor | None) -> Tensor | None:
        return None if t is None else _dense(t.float())

    return scan(
        _dense(u),
        _dense(delta.to(dtype)),
        _dense(A.float()),
        _dense(B.to(dtype)),
        _dense(C.to(dtype)),
        fp32(D),
        z=None if z is None else _dense(z.to(dtype)),
        delta_bias=fp32(delta_bias),
        delta_softplus=delta_softplus,
        return_last_state=return_last_state,
    )


# --- RWKV-6 --------------------------------------------------------------------------------


def rwkv6_chunk(
    r: Tensor,
    k: Tensor,
    v: Tensor,
    w: Tensor,
    u: Tensor,
    scale: float = 1.0,
    initial_state: Tensor | None = None,
    output_final_state: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """fla's ``chunk_rwkv6``, called as ``wkv.wkv6`` is: ``(o (B, T, H, V), state or None)``.

    r, k, w (B, T, H, K), v (B, T, H, V), w the log decay, u (H, K). r, k, v and w go in
    r's dtype, contiguous; the state in fp32. ``scale`` is always passed: fla's default,
    K^-½, is attention's, not RWKV-6's.
    """
    if r.dtype not in _KERNEL_DTYPES:
        raise BackendError(
            f"fla's chunk_rwkv6 takes float32, float16 or bfloat16 inputs, got {r.dtype}; "
            "use backend='torch'"
        )
    chunk = load_kernel("chunk_rwkv6")
    dtype = r.dtype
    r, k, v, w = (_dense(t.to(dtype)) for t in (r, k, v, w))
    state = None if initial_state is None else _dense(initial_state.float())
    o, final = chunk(
        r,
        k,
        v,
        w,
        _dense(u),
        scale=float(scale),
        initial_state=state,
        output_final_state=output_final_state,
    )
    return o.to(dtype), final
