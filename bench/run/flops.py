"""FLOPs per token of a model, counted by torch, with analytic counts where it is blind.

    flop_columns(model, seq_len, vocab_size) -> dict     # the columns of one cost row
    count_model(model, seq_len, vocab_size) -> FlopCount
    count(fn) -> Counted                                 # any callable, e.g. a test's model

**Counted.** ``torch.utils.flop_counter.FlopCounterMode`` sees every aten op a forward and
its backward dispatch and counts the matrix products among them (mm, addmm, bmm,
convolutions, attention kernels it knows) at 2 FLOPs per multiply-add, per module.
Elementwise work (norms, activations, softmax) is not counted anywhere: that is the
counter's convention, and these figures keep it.

**Where it is blind.** Some kernels are invisible to it, or visible only in part:

- ``scaled_dot_product_attention`` on a CPU dispatches to
  ``_scaled_dot_product_flash_attention_for_cpu``, for which torch 2.13 has no formula: it
  counts 0 FLOPs, forward and backward, causal or not, so a naive count of a Transformer
  block doubles when L doubles instead of approaching ×4. Here the model is counted on
  the ``meta`` device (no data, no time, no memory), where attention takes the math path
  (two batched matrix products, counted); a count on a real CPU also gets torch's own
  attention formula for the CPU kernel (``_FORMULAS``).
- The recurrent scans run as loops of elementwise ops, with a few matrix products inside
  (the chunked forms of ``wkv6`` and the selective scan's backward): the counter would
  see 0 or an implementation-dependent part of them, and on meta a data-dependent scan
  does not run at all. ``nn.LSTM`` is a fused kernel on CPU (0 FLOPs) and on cuDNN, and
  decomposes step by step on meta (minutes at long L). The FFT of Monarch's long
  convolution has no formula.

Each of those kernels is counted analytically, in this one place (``KERNELS``): while
counting, the kernel is replaced by a stand-in that returns zeros of the kernel's output
shapes, adds the kernel's FLOPs for its arguments to a tally, and adds ``BACKWARD_RATIO``
times that in the backward pass (a matrix product's backward costs two products: the
gradient of its input and of its weight). The counter sees nothing inside the stand-in,
so nothing is counted twice, and the count is the algorithm's, the same whichever
implementation (chunked reference, fused CUDA kernel) runs for real. Each row names the
kernels counted this way (``flops_method``).

Analytic kernels count every multiply, add, exp and max of their recurrence as one FLOP,
as written in the block's one-token ``step`` (the recurrence, not a chunked rewrite of
it), except ``nn.LSTM``, whose count is its matrix products only: what the counter counts
when the LSTM decomposes into them (``tests/bench/run/test_flops.py`` checks both agree).
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils import _pytree as pytree
from torch.utils.flop_counter import (
    FlopCounterMode,
    conv_flop_count,
    sdpa_flop_count,
)

BACKWARD_RATIO = 2  # analytic kernels: backward = 2 × forward, as for a matrix product

# --------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class AnalyticKernel:
    """A kernel the counter cannot see, and what it costs.

    ``targets`` are where the blocks look the kernel up at call time (``"module:name"`` or
    ``"module:Class.method"``); ``cost(*args, **kwargs)`` returns the forward FLOPs of
    one call and zero tensors shaped as its outputs (the same structure: tuples, None).
    """

    name: str
    targets: tuple[str, ...]
    cost: Callable[..., tuple[float, Any]]
    source: str  # where the count comes from


KERNELS: dict[str, AnalyticKernel] = {}


def analytic(name: str, *targets: str, source: str):
    """Register ``cost`` as the analytic count of the kernel found at ``targets``."""

    def register(cost: Callable[..., tuple[float, Any]]) -> Callable[..., tuple[float, Any]]:
        KERNELS[name] = AnalyticKernel(name, targets, cost, source)
        return cost

    return register


def _zeros(like: Tensor, *shape: int, dtype: torch.dtype | None = None) -> Tensor:
    return torch.zeros(shape, dtype=dtype or like.dtype, device=like.device)


@analytic(
    "selective_scan",
    "architectures.mamba:selective_scan",
    "architectures._fused:mamba_selective_scan",
    source="9·B·L·d·N for the recurrence, + B·d·L each for the D skip and the z gate: the "
    "count of state-spaces/mamba issue #110, used by fvcore handles of selective_scan_fn",
)
def _selective_scan(u, delta, A, B, C, D=None, z=None, *_, return_last_state=False, **__):
    batch, d_inner, length = u.shape
    flops = 9 * batch * length * d_inner * A.shape[-1]
    flops += batch * d_inner * length * ((D is not None) + (z is not None))
    y = _zeros(u, batch, d_inner, length)
    return flops, (y, _zeros(u, batch, d_inner, A.shape[-1])) if return_last_state else y


@analytic(
    "wkv6",
    "architectures.rwkv:wkv6",
    "architectures._fused:rwkv6_chunk",
    source="per head and token, as wkv6_step: k v outer product, u ⊙ kv, S + u ⊙ kv, r · (…) "
    "(2 per multiply-add), exp(w), exp(w) ⊙ S, + kv: 7·K·V + 2·K",
)
def _wkv6(r, k, v, w, u, scale=1.0, initial_state=None, output_final_state=False, **_):
    batch, length, heads, d_key = r.shape
    d_value = v.shape[-1]
    flops = batch * length * heads * (7 * d_key * d_value + 2 * d_key)
    o = _zeros(r, batch, length, heads, d_value)
    state = _zeros(r, batch, heads, d_key, d_value, dtype=torch.float32)
    return flops, (o, state if output_final_state else None)


@analytic(
    "wkv4",
    "architectures.rwkv4:wkv4",
    source="per channel and token, RWKV-LM's kernel_forward (wkv_cuda.cu): the output "
    "(u + k, max, 2 subtractions, 2 exp, 3 products, 2 sums, a division: 12) and the state "
    "update (w + pp, max, 2 subtractions, 2 exp, 3 products, 2 sums: 11), 23 in all",
)
def _wkv4(w, u, k, v, state=None, **_):
    batch, length, d = k.shape
    dtype = torch.float64 if k.dtype == torch.float64 else torch.float32
    out_state = tuple(_zeros(k, batch, d, dtype=dtype) for _ in range(3))
    return 23 * batch * length * d, (_zeros(k, batch, length, d), out_state)


def fft_flops(n: int) -> float:
    """A real FFT of size n: 2.5·n·log2 n, half the 5·n·log2 n of a complex one."""
    return 2.5 * n * math.log2(n)


@analytic(
    "fft_conv",
    "architectures.monarch:fft_conv",
    source="rfft of the B·D inputs and of the D filters, a complex product (6 FLOPs) per "
    "frequency, irfft of the B·D outputs; an FFT of size n taken as 2.5·n·log2 n",
)
def _fft_conv(u, h):
    from architectures.monarch import fast_length

    batch, d, length = u.shape
    n = fast_length(2 * length)
    flops = (2 * batch + 1) * d * fft_flops(n) + 6 * batch * d * (n // 2 + 1)
    return flops, _zeros(u, batch, d, length)


@analytic(
    "lstm",
    "torch.nn:LSTM.forward",
    source="the matrix products of each step, 2·4h·(d_in + h) per token and layer: what "
    "the counter counts when nn.LSTM decomposes (on meta); gates' elementwise work uncounted",
)
def _lstm(self: nn.LSTM, input, hx=None):
    if not self.batch_first or self.bidirectional or self.proj_size:
        raise NotImplementedError("analytic nn.LSTM count: batch_first, one direction only")
    batch, length, d_in = input.shape
    h, layers = self.hidden_size, self.num_layers
    flops = 0
    for layer in range(layers):
        flops += 2 * 4 * h * ((d_in if layer == 0 else h) + h) * batch * length
    zeros = _zeros(input, layers, batch, h)
    return flops, (_zeros(input, batch, length, h), (zeros, zeros.clone()))


def _conv_backward(
    grad_out,
    x,
    w,
    _bias,
    _stride,
    _padding,
    _dilation,
    transposed,
    _output_padding,
    _groups,
    output_mask,
    out_shape=None,
    **_,
):
    """A convolution's backward: the gradient of its input and of its weight each cost
    what the forward did. torch 2.13's formula takes the weight gradient as a convolution
    without groups, so a depthwise convolution's backward comes out ``groups`` times too
    large (×256 for Mamba's conv at d_inner = 256)."""
    forward = conv_flop_count(x, w, grad_out, transposed)
    return forward * (int(bool(output_mask[0])) + int(bool(output_mask[1])))


# Corrections to the counter: attention's CPU kernel, for which it has no formula, and the
# backward of grouped convolutions. Attention's backward is taken as the math path's four
# products (dV = Pᵀ dO, dP = dO Vᵀ, dQ = dS K, dK = dSᵀ Q), twice its forward, as counted on
# meta; torch's formula for a fused kernel adds the recomputation of QKᵀ (2.5 times).
_FORMULAS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: (
        lambda query, key, value, *args, out_shape=None, **kwargs: sdpa_flop_count(
            query, key, value
        )
    ),
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: (
        lambda grad_out, query, key, value, *args, out_shape=None, **kwargs: (
            2 * sdpa_flop_count(query, key, value)
        )
    ),
    torch.ops.aten.convolution_backward: _conv_backward,
}

# --------------------------------------------------------------------------- the stand-ins


@dataclass
class _Tally:
    """Analytic FLOPs by kernel, forward and backward."""

    forward: dict[str, float] = field(default_factory=dict)
    backward: dict[str, float] = field(default_factory=dict)

    def add(self, phase: dict[str, float], name: str, flops: float) -> None:
        phase[name] = phase.get(name, 0.0) + flops


class _StandIn(torch.autograd.Function):
    """Zeros of the kernel's output shapes; the backward adds the kernel's backward FLOPs
    and hands zero gradients to the inputs, so the backward of the rest still runs."""

    @staticmethod
    def forward(ctx, tally, name, flops, outputs, *inputs):
        ctx.tally, ctx.name, ctx.flops = tally, name, flops
        ctx.specs = [(t.shape, t.dtype, t.device) for t in inputs]
        return tuple(o.clone() for o in outputs)

    @staticmethod
    def backward(ctx, *grads):
        ctx.tally.add(ctx.tally.backward, ctx.name, BACKWARD_RATIO * ctx.flops)
        zeros = (
            torch.zeros(shape, dtype=dtype, device=device) for shape, dtype, device in ctx.specs
        )
        return None, None, None, None, *zeros


def _stand_in(kernel: AnalyticKernel, tally: _Tally) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        flops, outputs = kernel.cost(*args, **kwargs)
        tally.add(tally.forward, kernel.name, flops)
        leaves, spec = pytree.tree_flatten(outputs)
        tensors = [i for i, leaf in enumerate(leaves) if isinstance(leaf, Tensor)]
        inputs = [
            t
            for t in pytree.tree_leaves((args, kwargs))
            if isinstance(t, Tensor) and t.requires_grad
        ]
        if inputs and torch.is_grad_enabled():
            made = _StandIn.apply(tally, kernel.name, flops, [leaves[i] for i in tensors], *inputs)
            for i, tensor in zip(tensors, made, strict=True):
                leaves[i] = tensor
        return pytree.tree_unflatten(leaves, spec)

    return call


def _resolve(target: str) -> tuple[Any, str] | None:
    """(owner, attribute) of ``"module:name"`` / ``"module:Class.method"``; None if the
    module does not import (an optional kernel package)."""
    module_name, _, path = target.partition(":")
    try:
        owner: Any = importlib.import_module(module_name)
    except ImportError:
        return None
    *parents, attribute = path.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    if not hasattr(owner, attribute):
        raise AttributeError(f"analytic kernel target {target!r} does not exist")
    return owner, attribute


@contextlib.contextmanager
def stand_ins(tally: _Tally) -> Iterator[None]:
    """Every registered kernel replaced by its stand-in, restored on exit."""
    saved = []
    try:
        for kernel in KERNELS.values():
            for target in kernel.targets:
                found = _resolve(target)
                if found is None:
                    continue
                owner, attribute = found
                saved.append((owner, attribute, owner.__dict__[attribute]))
                setattr(owner, attribute, _stand_in(kernel, tally))
        yield
    finally:
        for owner, attribute, original in reversed(saved):
            setattr(owner, attribute, original)


# --------------------------------------------------------------------------- counting


@dataclass(frozen=True)
class Counted:
    """FLOPs of one call (and its backward), in total and by module."""

    forward: float
    backward: float
    forward_by_module: dict[str, float]  # counted (not analytic), FlopCounterMode's names
    analytic_forward: dict[str, float]  # by kernel
    analytic_backward: dict[str, float]


def count(fn: Callable[[], Tensor], backward: bool = True) -> Counted:
    """FLOPs of ``fn()`` and, with ``backward``, of the backward of its (scalar) result,
    the registered kernels counted analytically (see the module docstring)."""
    tally = _Tally()
    with stand_ins(tally):
        with FlopCounterMode(display=False, custom_mapping=_FORMULAS) as forward_mode:
            out = fn()
        by_module = {
            name: float(sum(ops.values())) for name, ops in forward_mode.get_flop_counts().items()
        }
        backward_flops = 0.0
        if backward:
            with FlopCounterMode(display=False, custom_mapping=_FORMULAS) as backward_mode:
                out.backward()
            backward_flops = float(backward_mode.get_total_flops())
    return Counted(
        forward=float(forward_mode.get_total_flops()) + sum(tally.forward.values()),
        backward=backward_flops + sum(tally.backward.values()),
        forward_by_module=by_module,
        analytic_forward=dict(tally.forward),
        analytic_backward=dict(tally.backward),
    )


@dataclass(frozen=True)
class FlopCount:
    """FLOPs per token of a ``SequenceModel`` at one length (batch 1; linear in batch)."""

    seq_len: int
    forward: float  # the whole model: embedding, blocks, norm, head
    train: float  # forward + backward of the training loss
    blocks: float  # the forward of the blocks (analytic kernels included)
    mlp: float | None  # the forward of the blocks' channel mixers (``block.mlp``), if any
    analytic: tuple[str, ...]  # kernels counted analytically
    on: str  # "meta", or the device a block that cannot run on meta was counted on

    def columns(self) -> dict[str, Any]:
        method = "counted" + (f" + analytic: {', '.join(self.analytic)}" if self.analytic else "")
        return {
            "flops_forward_per_token": self.forward,
            "flops_train_per_token": self.train,
            "flops_blocks_forward_per_token": self.blocks,
            "flops_mlp_forward_per_token": self.mlp,
            "flops_method": method if self.on == "meta" else f"{method} (on {self.on})",
        }


_BLOCK = re.compile(r"(?:^|\.)blocks\.(\d+)(?:\.(\w+))?$")


def count_model(model: nn.Module, seq_len: int, vocab_size: int) -> FlopCount:
    """FLOPs per token of ``model`` (tokens -> logits) on one sequence of ``seq_len``.

    Counted on the meta device, on a copy of the model holding meta tensors
    (``meta_copy``): nothing is computed or allocated, and the count does not depend on
    where the model lives. A block that
    cannot run on meta (data-dependent control flow outside the registered kernels) is
    counted on the model's own device instead, at batch 1, and its gradients cleared.
    The training count is a forward, cross-entropy on the logits and its backward.
    """
    blocks = [b for b in getattr(model, "blocks", []) if hasattr(b, "backend_used")]
    used = [b.backend_used for b in blocks]
    try:
        counted, on = _count_on_meta(model, seq_len, vocab_size), "meta"
    except (NotImplementedError, RuntimeError):
        counted, on = _count_on_device(model, seq_len, vocab_size), _device_of(model)
    finally:
        for block, backend in zip(blocks, used, strict=True):
            block.backend_used = backend  # counting is not a run: keep what the run used
    per_block: dict[str, float] = {}
    mlp = 0.0
    has_mlp = False
    for name, flops in counted.forward_by_module.items():
        match = _BLOCK.search(name)
        if match is None:
            continue
        if match.group(2) is None:
            per_block[match.group(1)] = flops
        elif match.group(2) == "mlp":
            mlp += flops
            has_mlp = True
    analytic = sorted(set(counted.analytic_forward) | set(counted.analytic_backward))
    return FlopCount(
        seq_len=seq_len,
        forward=counted.forward / seq_len,
        train=(counted.forward + counted.backward) / seq_len,
        blocks=(sum(per_block.values()) + sum(counted.analytic_forward.values())) / seq_len,
        mlp=mlp / seq_len if has_mlp else None,
        analytic=tuple(analytic),
        on=on,
    )


def flop_columns(model: nn.Module, seq_len: int, vocab_size: int) -> dict[str, Any]:
    """The FLOP columns of a cost row (``docs/results-schema.md``)."""
    return count_model(model, seq_len, vocab_size).columns()


def _loss(logits: Tensor, tokens: Tensor) -> Tensor:
    return F.cross_entropy(logits.flatten(0, 1).float(), tokens.flatten())


def meta_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose parameters and buffers are meta tensors of the same shapes.

    ``copy.deepcopy`` with every parameter and buffer already in its memo: nothing is
    copied but the modules, and shared modules stay shared; the copy's hooks are removed. (``torch.func.functional_call``
    would swap meta tensors into the model itself, and a module registered under several
    names, as Monarch's filter shares one ``Sin``, comes back holding the meta tensors.)
    """
    memo: dict[int, Any] = {}
    for p in model.parameters():
        memo[id(p)] = nn.Parameter(torch.empty_like(p, device="meta"), p.requires_grad)
    for b in model.buffers():
        memo[id(b)] = torch.empty_like(b, device="meta")
    meta = copy.deepcopy(model, memo)
    for module in meta.modules():  # counting is not a call of the model: no hooks fire
        for hooks in _HOOKS:
            getattr(module, hooks, {}).clear()
    return meta


_HOOKS = (
    "_forward_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_forward_pre_hooks",
    "_forward_pre_hooks_with_kwargs",
    "_backward_hooks",
    "_backward_pre_hooks",
)


def _count_on_meta(model: nn.Module, seq_len: int, vocab_size: int) -> Counted:
    meta = meta_copy(model)
    tokens = torch.zeros(1, seq_len, dtype=torch.long, device="meta")
    return count(lambda: _loss(meta(tokens), tokens))


def _device_of(model: nn.Module) -> str:
    return next(model.parameters()).device.type


def _count_on_device(model: nn.Module, seq_len: int, vocab_size: int) -> Counted:
    tokens = torch.zeros(1, seq_len, dtype=torch.long, device=_device_of(model))
    was_training = model.training
    model.train()
    try:
        return count(lambda: _loss(model(tokens), tokens))
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
