"""Which attention kernel runs, and pinning one for a whole run (``measure.attention``).

    pin(model, "math")                     # every forward of the model on SDPA's math path
    kernel_used(model, vocab_size) -> str  # "flash (cpu)", "flash", "efficient", "math", ""

``F.scaled_dot_product_attention`` picks a kernel per call: on a CPU the fused
``flash (cpu)`` kernel, on CUDA flash, memory-efficient or cuDNN attention, falling back
to the *math* path: softmax(QKᵀ)V with the (L, L) score matrix materialised. The fused
kernels work through the keys in blocks and keep O(L) memory; the math path needs O(L²).
"Doubling the length makes attention need 4× the memory" is a statement about the math
path, so the kernel is recorded with every result (``attention_kernel``) and can be
pinned: ``measure.attention = "math"`` (or ``"flash"``, ``"efficient"``, ``"cudnn"``;
``"auto"``, the default, leaves torch's choice). The pin enters
``torch.nn.attention.sdpa_kernel`` around each forward of the model (the backward uses the
kernel its forward chose); a block that pins a kernel itself (the Transformer's ``torch``
backend on CUDA pins the math path) keeps its own.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils._python_dispatch import TorchDispatchMode

KERNELS = {
    "auto": None,
    "math": SDPBackend.MATH,
    "flash": SDPBackend.FLASH_ATTENTION,
    "efficient": SDPBackend.EFFICIENT_ATTENTION,
    "cudnn": SDPBackend.CUDNN_ATTENTION,
}
CUDA_ONLY = ("efficient", "cudnn")  # torch has no CPU kernel for these
# The aten op each fused kernel dispatches to, and the name a result records.
_FUSED_OPS = {
    "_scaled_dot_product_flash_attention_for_cpu": "flash (cpu)",
    "_scaled_dot_product_flash_attention": "flash",
    "_scaled_dot_product_efficient_attention": "efficient",
    "_scaled_dot_product_cudnn_attention": "cudnn",
}
MATERIALISED = ("math",)  # kernels that hold the (L, L) scores


def pin(model: nn.Module, kernel: str) -> None:
    """Run every forward of ``model`` with SDPA pinned to ``kernel`` (``KERNELS``); "auto"
    changes nothing. The context is left even when a forward raises."""
    backend = KERNELS[kernel]
    if backend is None:
        return
    active: list[Any] = []

    def enter(module: nn.Module, args: Any) -> None:
        context = sdpa_kernel(backend)
        context.__enter__()
        active.append(context)

    def leave(module: nn.Module, args: Any, output: Any) -> None:
        if active:
            active.pop().__exit__(None, None, None)

    model.register_forward_pre_hook(enter)
    model.register_forward_hook(leave, always_call=True)


class _Ops(TorchDispatchMode):
    """The names of the aten ops dispatched while it is active."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.add(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))


def kernel_in(names: set[str]) -> str:
    """The attention kernel a set of dispatched op names shows: a fused kernel's op, else
    the math path's softmax; "" when no attention ran."""
    fused = sorted(label for op, label in _FUSED_OPS.items() if op in names)
    if fused:
        return ", ".join(fused)
    return "math" if {"_safe_softmax", "_softmax"} & names else ""


@torch.no_grad()
def kernel_used(model: nn.Module, vocab_size: int, seq_len: int = 16) -> str:
    """The attention kernel a forward of ``model`` (tokens -> logits) runs on its own device,
    from a short sequence; "" for a model without attention (or whose softmax is not
    attention's: read it for attention blocks)."""
    device = next(model.parameters()).device
    tokens = torch.zeros(1, seq_len, dtype=torch.long, device=device)
    blocks = [b for b in getattr(model, "blocks", []) if hasattr(b, "backend_used")]
    used = [b.backend_used for b in blocks]
    was_training = model.training
    model.eval()
    try:
        with _Ops() as ops:
            model(tokens)
    finally:
        model.train(was_training)
        for block, backend in zip(blocks, used, strict=True):
            block.backend_used = backend
    return kernel_in(ops.names)
