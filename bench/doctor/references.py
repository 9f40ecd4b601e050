"""Each block beside its reference package's own code, in one process: Mamba beside mambapy
(CPU and GPU) and beside mamba_ssm's ``Mamba`` (GPU); the WKV-6 operator beside fla's naive
recurrence (CPU and GPU) and fla's ``chunk_rwkv6`` (GPU). Forward+backward time and peak
memory by ``bench.run.measure``: warm-up, synchronised timing, median of repeats, the CUDA
allocator's peak or the CPU's resident set."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from architectures import _fused
from bench.run import measure

from .blocks import DTYPES, block_inputs, compare, forward_backward, make_block, true_fp32
from .journal import Skip


def _cost(step: Callable[[], object], device: torch.device) -> dict:
    """Milliseconds (median of 5, after a warm-up) and peak memory of one call of ``step``."""
    started = time.perf_counter()
    step()  # first call: kernel compilation and autotuning, allocator warm-up
    measure.synchronize(device)
    first_s = time.perf_counter() - started
    with measure.PeakMemory(device) as peak:
        step()
    timing = measure.time_call(step, device, repeats=5, warmup=1)
    return {
        "ms": timing.median_s * 1e3,
        "ms_min_max": [timing.min_s * 1e3, timing.max_s * 1e3],
        "peak_mib": peak.bytes / 2**20,
        "first_call_s": first_s,
    }


def _fwd_bwd(module, x, dy, dtype: str, call=None) -> Callable[[], None]:
    def step() -> None:
        forward_backward(module, x, dy, dtype, call)

    return step


def mambapy_check(device: torch.device) -> dict:
    """Our Mamba block (torch backend) beside mambapy's ResidualBlock on the same weights."""
    try:
        from mambapy.mamba import MambaConfig, ResidualBlock
    except ImportError as error:
        raise Skip(f"mambapy is not installed ({error})") from None
    batch, length, d_model = (2, 64, 64) if device.type == "cpu" else (4, 2048, 256)
    torch.manual_seed(0)
    theirs = ResidualBlock(MambaConfig(d_model=d_model, n_layers=1)).to(device)
    ours = make_block("mamba", d_model, "torch").to(device)
    ours.load_state_dict(theirs.state_dict())  # the same parameter names
    x, dy = block_inputs(batch, length, d_model, device)
    with true_fp32():
        figures = compare(
            forward_backward(ours, x, dy, "fp32"), forward_backward(theirs, x, dy, "fp32"), "fp32"
        )
    figures["ours"] = _cost(_fwd_bwd(ours, x, dy, "fp32"), device)
    figures["mambapy"] = _cost(_fwd_bwd(theirs, x, dy, "fp32"), device)
    figures["summary"] += (
        f"; fwd+bwd {figures['ours']['ms']:.1f} ms vs mambapy {figures['mambapy']['ms']:.1f} ms"
    )
    return figures


def _wkv_inputs(batch, length, heads, d_head, device, dtype=torch.float32):
    g = torch.Generator().manual_seed(0)
    r, k, v = (torch.randn(batch, length, heads, d_head, generator=g) for _ in range(3))
    w = -torch.randn(batch, length, heads, d_head, generator=g).exp()  # a log decay
    u = torch.randn(heads, d_head, generator=g)
    s0 = torch.randn(batch, heads, d_head, d_head, generator=g)
    tensors = [t.to(device=device, dtype=dtype) for t in (r, k, v, w, u)] + [s0.to(device)]
    return [t.requires_grad_() for t in tensors]


def _wkv_outputs(op, inputs, heads_first: bool = False) -> tuple[torch.Tensor, dict]:
    """(o, gradients) of op(r, k, v, w, u, 1.0, s0) under ⟨o, 1⟩ + ⟨S, 1⟩, time-major o."""
    for t in inputs:
        t.grad = None
    r, k, v, w, u, s0 = inputs
    if heads_first:
        o, S = op(*(t.transpose(1, 2) for t in (r, k, v, w)), u, 1.0, s0, True)
        o = o.transpose(1, 2)
    else:
        o, S = op(r, k, v, w, u, 1.0, s0, True)
    (o.float().sum() + S.float().sum()).backward()
    grads = dict(
        zip(("r", "k", "v", "w", "u", "initial_state"), (t.grad for t in inputs), strict=True)
    )
    return torch.cat([o.detach().float().flatten(), S.detach().float().flatten()]), grads


def fla_naive_check(device: torch.device) -> dict:
    """Our chunked WKV-6 beside fla's naive recurrence (its reference for the kernel)."""
    try:
        from fla.ops.rwkv6.recurrent_naive import naive_recurrent_rwkv6
    except Exception as error:
        raise Skip(f"fla is not installed ({measure.one_line(error)})") from None
    from architectures.wkv import wkv6

    inputs = _wkv_inputs(2, 64, 2, 16, device)
    return compare(
        _wkv_outputs(wkv6, inputs),
        _wkv_outputs(naive_recurrent_rwkv6, inputs, heads_first=True),
        "fp32",
    )


def mamba_ssm_check(dtype: str, device: torch.device) -> dict:
    """Our Mamba mixer (fused and torch) beside mamba_ssm's own ``Mamba`` on the same weights."""
    if device.type != "cuda":
        raise Skip("no CUDA device")
    if not _fused.importable("selective_scan_fn"):
        raise Skip(f"mamba_ssm does not import: {_fused.import_error('selective_scan_fn')}")
    from mamba_ssm.modules.mamba_simple import Mamba

    batch, length, d_model = 4, 4096, 1024
    torch.manual_seed(0)
    theirs = Mamba(d_model=d_model, d_state=16, d_conv=4, expand=2).to(device)
    ours = make_block("mamba", d_model, "cuda").to(device)
    ours.mixer.load_state_dict(theirs.state_dict())  # mamba_ssm's parameter names
    x, dy = block_inputs(batch, length, d_model, device)
    fused = lambda h: ours.mixer(h, "cuda")  # noqa: E731
    scan = lambda h: ours.mixer(h, "torch")  # noqa: E731
    with true_fp32():
        figures = compare(
            forward_backward(ours.mixer, x, dy, dtype, fused),
            forward_backward(theirs, x, dy, dtype),
            dtype,
        )
    figures["ours_fused"] = _cost(_fwd_bwd(ours.mixer, x, dy, dtype, fused), device)
    figures["ours_torch_scan"] = _cost(_fwd_bwd(ours.mixer, x, dy, dtype, scan), device)
    figures["mamba_ssm"] = _cost(_fwd_bwd(theirs, x, dy, dtype), device)
    figures["shape"] = [batch, length, d_model]
    figures["summary"] += "; fwd+bwd ms " + ", ".join(
        f"{k} {figures[k]['ms']:.1f}" for k in ("ours_fused", "ours_torch_scan", "mamba_ssm")
    )
    return figures


def fla_chunk_check(dtype: str, device: torch.device) -> dict:
    """Our WKV-6 (torch) beside fla's ``chunk_rwkv6``, the kernel the "cuda" backend calls."""
    if device.type != "cuda":
        raise Skip("no CUDA device")
    if not _fused.importable("chunk_rwkv6"):
        raise Skip(f"fla does not import: {_fused.import_error('chunk_rwkv6')}")
    from fla.ops.rwkv6 import chunk_rwkv6

    from architectures.wkv import wkv6

    batch, length, heads, d_head = 4, 4096, 16, 64
    inputs = _wkv_inputs(batch, length, heads, d_head, device, DTYPES[dtype])

    def fla(r, k, v, w, u, scale, s0, final):
        return chunk_rwkv6(r, k, v, w, u, scale=scale, initial_state=s0, output_final_state=final)

    started = time.perf_counter()
    theirs = _wkv_outputs(fla, inputs)  # the first call compiles and autotunes
    measure.synchronize(device)
    compile_s = time.perf_counter() - started
    with true_fp32():
        figures = compare(_wkv_outputs(wkv6, inputs), theirs, dtype)
    figures["fla_first_call_s"] = compile_s
    figures["ours_torch"] = _cost(lambda: _wkv_outputs(wkv6, inputs), device)
    figures["fla_chunk"] = _cost(lambda: _wkv_outputs(fla, inputs), device)
    figures["shape"] = [batch, length, heads, d_head]
    figures["summary"] += (
        f"; fwd+bwd ms ours {figures['ours_torch']['ms']:.1f}, fla "
        f"{figures['fla_chunk']['ms']:.1f}; fla's first call {compile_s:.0f} s"
    )
    return figures
