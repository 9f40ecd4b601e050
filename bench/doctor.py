"""``seqbench doctor``: what this machine can run, and proof that it runs it.

One command, under five minutes on a GPU and seconds on a CPU. Every check is written to
``DIR/doctor.json`` as it starts and again as it ends (atomically), so a crash or a kill
keeps everything measured before it, and names the check that was running.

1. **environment**: Python, torch, CUDA and driver versions, the GPU's name, memory and
   compute capability, the versions of the kernel packages;
2. **kernels**: for each fused kernel, whether it imports here and why not; with the
   backends usable per block, the capability table printed first;
3. **torch path**: every block at fp32 and bf16, forward and backward through the torch
   reference, finite;
4. **cuda vs torch**: every block at fp32 and bf16, ``backend="cuda"`` against
   ``backend="torch"`` on the same (randomised) weights and inputs, the output and every
   gradient; where a block's kernels do not import, its fallback instead (``auto`` runs
   the torch code on CUDA, and ``backend_used`` says so);
5. **references**: each block beside its reference package's own code, in one process:
   Mamba beside mambapy (CPU and GPU) and beside mamba_ssm's ``Mamba`` (GPU); the WKV-6
   operator beside fla's naive recurrence (CPU and GPU) and fla's ``chunk_rwkv6`` (GPU);
   forward+backward time and peak memory by ``bench.measure`` (warm-up, synchronised
   timing, median of repeats, the CUDA allocator's peak or the CPU's resident set);
6. **scaling**: on CUDA, the ``scaling`` preset from 2^10 to 2^16 tokens (as memory and
   the time budget allow) as a normal results folder, ``DIR/scaling``, with plots and report.

Agreement is judged per tensor by the relative error ‖a − b‖ / ‖b‖, the worst tensor
against ``TOLERANCE``: fp32 5e-3 (fused kernels sum in another order, and Triton runs fp32
dots in TF32 on Ampere and later, ~1e-3; torch's own matmuls and convolutions are held to
true fp32 here); bf16 5e-2 (an 8-bit mantissa, rounded at different points in each path).
"bf16" is ``torch.autocast(bfloat16)`` over fp32 weights, what ``train.dtype="bfloat16"`` runs.

Each check ends ok, failed (with the error) or skipped (with why: no CUDA device, a package
that does not import, the time budget spent). The exit status is 1 when a check failed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import platform
import signal
import subprocess
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.markup import escape
from rich.table import Table

import architectures
from architectures import _fused
from architectures.contract import randomize

from . import measure, store

BUDGET_S = 300.0
SCALING_LENGTHS = (1024, 4096, 16384, 65536)
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
TOLERANCE = {"fp32": 5e-3, "bf16": 5e-2}
PACKAGES = ("mamba-ssm", "causal-conv1d", "fla-core", "triton", "mambapy")
# What backend="cuda" means for blocks that use torch's own CUDA kernels.
TORCH_KERNELS = {
    "transformer": "SDPA's flash / memory-efficient kernels (torch)",
    "lstm": "cuDNN's LSTM (torch)",
    "monarch": "cuFFT through torch.fft (torch)",
}
# (batch, length, d_model): small on a CPU, long enough on a GPU to cross every chunk size.
AGREEMENT_SIZES = {"cpu": (2, 64, 64), "cuda": (2, 1000, 256)}


class Skip(Exception):
    """The check cannot run here; the message says why."""


class Failed(Exception):
    """The check ran and failed; ``figures`` holds what it measured."""

    def __init__(self, reason: str, figures: dict[str, Any]) -> None:
        super().__init__(reason)
        self.figures = figures


# --- the journal: doctor.json and the console ------------------------------------------------


class Journal:
    """Runs checks, records each in ``doctor.json`` (rewritten after every change) and
    prints one line per check."""

    def __init__(self, out: Path, console: Console, deadline: float, header: dict) -> None:
        self.path = out / "doctor.json"
        self.console, self.deadline = console, deadline
        self.record: dict[str, Any] = {**header, "checks": [], "finished_at": None}
        self.budget_s = header["budget_s"]
        self.write()

    def write(self) -> None:
        text = json.dumps(_jsonable(self.record), indent=2)
        store.write_atomic(self.path, text.encode())

    def check(
        self, section: str, name: str, run: Callable[[], dict | None], always: bool = False
    ) -> dict:
        """Run one check; ``always``: even when the time budget is spent."""
        entry = {
            "section": section,
            "name": name,
            "status": "running",
            "reason": "",
            "figures": {},
            "seconds": 0.0,
        }
        self.record["checks"].append(entry)
        self.write()  # a hard crash leaves this check "running": the culprit
        started = time.perf_counter()
        if time.monotonic() > self.deadline and not always:
            entry.update(status="skipped", reason=f"time budget of {self.budget_s:g} s spent")
        else:
            try:
                entry.update(status="ok", figures=run() or {})
            except Skip as why:
                entry.update(status="skipped", reason=str(why))
            except Failed as failure:
                entry.update(status="failed", reason=str(failure), figures=failure.figures)
            except Exception as error:
                entry.update(status="failed", reason=measure.one_line(error))
                entry["traceback"] = traceback.format_exc(limit=-8)
            finally:
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
        entry["seconds"] = round(time.perf_counter() - started, 3)
        self.write()
        self._print(entry)
        return entry

    def _print(self, entry: dict) -> None:
        colour = {"ok": "green", "failed": "red", "skipped": "yellow"}[entry["status"]]
        detail = entry["reason"] or entry["figures"].get("summary", "")
        self.console.print(
            f"  [{colour}]{entry['status']:<8}[/{colour}] {entry['section']:<14}"
            f"{escape(entry['name']):<32} {escape(str(detail))} [dim]({entry['seconds']:.1f} s)[/dim]",
            highlight=False,
            soft_wrap=True,
        )

    def finish(self) -> int:
        counts = {"ok": 0, "failed": 0, "skipped": 0}
        for entry in self.record["checks"]:  # "running": interrupted
            counts[entry["status"]] = counts.get(entry["status"], 0) + 1
        self.record.update(finished_at=_now(), summary=counts)
        self.write()
        return 1 if counts["failed"] else 0


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


# --- environment and capabilities ------------------------------------------------------------


def environment(device: torch.device) -> dict[str, Any]:
    """Versions and the device: what a result from this machine depends on."""
    env: dict[str, Any] = measure.environment(device)
    env["cudnn_version"] = str(torch.backends.cudnn.version() or "")
    env["packages"] = {name: _version(name) for name in PACKAGES}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.update(
            gpu_memory_gib=round(props.total_memory / 2**30, 1),
            compute_capability=f"{props.major}.{props.minor}",
            multiprocessors=props.multi_processor_count,
            driver_version=_driver_version(),
        )
    return env


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return ""


def _driver_version() -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        query = ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]
        out = subprocess.run(query, capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip().splitlines()[0]
    with contextlib.suppress(Exception):
        import pynvml

        pynvml.nvmlInit()
        return str(pynvml.nvmlSystemGetDriverVersion())
    return ""


def kernel_check(name: str, device: torch.device) -> dict:
    """Whether fused kernel ``name`` imports; on a GPU a broken build is a failure."""
    kernel = _fused.KERNELS[name]
    version = _version(kernel.package)
    why = _fused.import_error(name)
    if why is None:
        note = "imports" if device.type == "cuda" else "imports; it runs on CUDA only"
        return {"package": kernel.package, "version": version, "summary": f"{note} ({version})"}
    top = kernel.module.split(".")[0]
    if why.startswith(f"ModuleNotFoundError: No module named '{top}'"):
        raise Skip(f"{kernel.package} is not installed (docs/gpu.md)")
    if device.type != "cuda":
        raise Skip(f"{kernel.package} {version} does not import without CUDA: {why}")
    raise Failed(
        f"{kernel.package} {version} is installed but does not import: {why}",
        {"package": kernel.package, "version": version},
    )


def capability_table(names: list[str], device: torch.device) -> Table:
    table = Table(title=f"what runs here ({device.type})", title_justify="left")
    for column in ("block", "torch", "backend='cuda'", "fused kernels"):
        table.add_column(column)
    for name in names:
        cls = architectures.get(name)
        kernels = [k for k, spec in _fused.KERNELS.items() if spec.block == name]
        lines = []
        for k in kernels:
            why = _fused.import_error(k)
            mark = "[green]✓[/green]" if why is None else "[red]✗[/red]"
            optional = " (optional)" if _fused.KERNELS[k].optional else ""
            lines.append(f"{mark} {k}{optional}" + ("" if why is None else f": {escape(why)}"))
        if not kernels:
            lines.append(TORCH_KERNELS.get(name, "torch's own CUDA kernels"))
        if device.type != "cuda":
            cuda = "[yellow]no CUDA device[/yellow]"
        elif "cuda" in cls.backends() and _required_import(name):
            cuda = "[green]yes[/green]"
        else:
            cuda = "[yellow]no: auto runs the torch code on CUDA[/yellow]"
        table.add_row(name, "[green]yes[/green]", cuda, "\n".join(lines))
    for source, error in architectures.plugin_errors().items():
        table.add_row(
            f"[red]{escape(source)}[/red]", "[red]failed to load[/red]", "", escape(error)
        )
    return table


def _required_import(name: str) -> bool:
    return all(
        _fused.importable(k)
        for k, spec in _fused.KERNELS.items()
        if spec.block == name and not spec.optional
    )


# --- blocks: the torch path and cuda against torch -------------------------------------------


@contextlib.contextmanager
def _true_fp32() -> Iterator[None]:
    """torch's matmuls and cuDNN in full fp32 (no TF32) while comparing; restored after."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _make(name: str, d_model: int, backend: str) -> architectures.Block:
    try:
        return architectures.create(name, d_model=d_model, backend=backend)
    except architectures.ConfigError as error:
        raise Skip(f"needs other settings than d_model={d_model}: {error}") from None


def _inputs(batch: int, length: int, d_model: int, device: torch.device):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(batch, length, d_model, generator=g)
    dy = torch.randn(batch, length, d_model, generator=g)
    return x.to(device), dy.to(device)


def _forward_backward(module, x, dy, dtype: str, call=None) -> tuple[torch.Tensor, dict]:
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
    block = randomize(_make(name, d_model, "torch")).to(device)
    x, dy = _inputs(batch, length, d_model, device)
    started = time.perf_counter()
    y, grads = _forward_backward(block, x, dy, dtype)
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
    if not ("cuda" in cls.backends() and _required_import(name)):
        missing = [k for k, s in _fused.KERNELS.items() if s.block == name and not s.optional]
        why = "; ".join(f"{k}: {_fused.import_error(k)}" for k in missing) or cls.cuda_package
        raise Skip(f"backend='cuda' cannot run: {why} (see the fallback check)")
    batch, length, d_model = AGREEMENT_SIZES["cuda"]
    torch.manual_seed(0)
    fused = randomize(_make(name, d_model, "cuda")).to(device)
    reference = _make(name, d_model, "torch").to(device)
    reference.load_state_dict(fused.state_dict())
    x, dy = _inputs(batch, length, d_model, device)
    with _true_fp32():
        ours = _forward_backward(fused, x, dy, dtype)
        theirs = _forward_backward(reference, x, dy, dtype)
    if fused.backend_used != "cuda":
        raise Failed(f"backend='cuda' ran {fused.backend_used!r}", {})
    return compare(ours, theirs, dtype)


def fallback_check(name: str, device: torch.device) -> dict:
    """Without its kernels a block still runs on CUDA, and says which code ran."""
    batch, length, d_model = AGREEMENT_SIZES["cuda"]
    block = _make(name, d_model, "auto").to(device)
    x, _ = _inputs(batch, length, d_model, device)
    with torch.no_grad():
        y = block(x)
    if block.backend_used != "torch" or not y.isfinite().all():
        raise Failed(f"backend='auto' ran {block.backend_used!r}", {})
    return {"backend_used": "torch", "summary": "backend='auto' ran the torch code on CUDA"}


# --- references: each block beside its reference package's own code ---------------------------


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
        _forward_backward(module, x, dy, dtype, call)

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
    ours = _make("mamba", d_model, "torch").to(device)
    ours.load_state_dict(theirs.state_dict())  # the same parameter names
    x, dy = _inputs(batch, length, d_model, device)
    with _true_fp32():
        figures = compare(
            _forward_backward(ours, x, dy, "fp32"), _forward_backward(theirs, x, dy, "fp32"), "fp32"
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
    ours = _make("mamba", d_model, "cuda").to(device)
    ours.mixer.load_state_dict(theirs.state_dict())  # mamba_ssm's parameter names
    x, dy = _inputs(batch, length, d_model, device)
    fused = lambda h: ours.mixer(h, "cuda")  # noqa: E731
    scan = lambda h: ours.mixer(h, "torch")  # noqa: E731
    with _true_fp32():
        figures = compare(
            _forward_backward(ours.mixer, x, dy, dtype, fused),
            _forward_backward(theirs, x, dy, dtype),
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
    with _true_fp32():
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


# --- scaling -----------------------------------------------------------------------------------


def scaling_run(run, out: Path) -> dict:
    from .launch import run_local

    records = []
    run_local([run], "scaling", out, lambda _run, record: records.append(record))
    record = records[0]
    keep = (
        "eval_seq_len",
        "status",
        "train_tokens_per_s",
        "prefill_tokens_per_s",
        "decode_tokens_per_s",
        "peak_memory_train_bytes",
    )
    points = [{k: p.get(k) for k in keep} for p in record.get("points") or []]
    ok = [p["eval_seq_len"] for p in points if p["status"] == "ok"]
    figures = {
        "status": record["status"],
        "points": points,
        "summary": f"ok to L={max(ok)}" if ok else "no length measured",
    }
    if record["status"] not in ("ok", "oom"):
        raise Failed(f"{record['status']}: {record.get('error', '')}", figures)
    return figures


def scaling_report(out: Path) -> dict:
    from .plots import make_plots
    from .report import write_report

    results, curves = store.load(out), store.load_curves(out)
    if results.empty:
        raise Skip("no scaling run finished")
    written = make_plots(results, curves, out / "plots").written
    write_report(results, curves, out / "report.html")
    ok = results[results["status"] == "ok"]
    longest = ok.groupby("architecture")["eval_seq_len"].max().to_dict()
    return {
        "longest_ok": longest,
        "plots": sorted(written),
        "report": str(out / "report.html"),
        "summary": ", ".join(f"{a} to L={n}" for a, n in sorted(longest.items())),
    }


# --- the whole run -------------------------------------------------------------------------------


def _resolve(device: str) -> tuple[torch.device, str | None]:
    """The device the checks run on, and why it is not the one asked for (or None)."""
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device={device!r} must be auto, cpu or cuda")
    if device == "cuda" and not torch.cuda.is_available():
        return torch.device("cpu"), (
            f"device='cuda' asked for, but torch {torch.__version__} sees no CUDA device "
            f"(built with CUDA {torch.version.cuda or 'none'})"
        )
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device), None


def run_doctor(
    device: str,
    out: Path,
    console: Console,
    budget_s: float = BUDGET_S,
    scaling_lengths: tuple[int, ...] = SCALING_LENGTHS,
) -> int:
    """Check what this machine can run, write ``out/doctor.json``; exit status 0 or 1."""
    started = time.monotonic()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dev, mismatch = _resolve(device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        names = architectures.names()
        env = environment(dev)
        journal = Journal(
            out,
            console,
            started + budget_s,
            {
                "seqbench_doctor": 1,
                "device": dev.type,
                "asked_for": device,
                "budget_s": budget_s,
                "started_at": _now(),
                "environment": env,
                "tolerance": TOLERANCE,
            },
        )
        console.print(
            f"[bold]seqbench doctor[/bold] on {escape(env['device_name'])}: torch "
            f"{env['torch_version']}, CUDA {env['cuda_version'] or '-'}, driver "
            f"{env.get('driver_version') or '-'}, Python {platform.python_version()} "
            f"→ {escape(str(journal.path))}",
            highlight=False,
            soft_wrap=True,
        )
        console.print(capability_table(names, dev))
        try:
            _run_checks(journal, names, dev, mismatch, out, scaling_lengths)
        finally:
            journal.record["warnings"] = sorted(
                {f"{w.category.__name__}: {w.message}" for w in caught}
            )[:50]
            code = journal.finish()
    summary = journal.record["summary"]
    console.print(
        f"{summary['ok']} ok, {summary['failed']} failed, {summary['skipped']} skipped in "
        f"{time.monotonic() - started:.0f} s → {escape(str(journal.path))}",
        highlight=False,
    )
    return code


def _run_checks(journal, names, dev, mismatch, out, scaling_lengths) -> None:
    if mismatch:
        journal.check("device", "cuda", _raising(Failed(mismatch, {})), always=True)
    for kernel in _fused.KERNELS:
        journal.check("kernels", kernel, lambda k=kernel: kernel_check(k, dev))
    for name in names:
        for dtype in DTYPES:
            journal.check(
                "torch path",
                f"{name} · {dtype}",
                lambda n=name, d=dtype: torch_path_check(n, d, dev),
            )
            journal.check(
                "cuda vs torch",
                f"{name} · {dtype}",
                lambda n=name, d=dtype: cuda_vs_torch_check(n, d, dev),
            )
        if dev.type == "cuda" and not _required_import(name):
            journal.check("fallback", name, lambda n=name: fallback_check(n, dev))
    journal.check("references", "mamba · mambapy", lambda: mambapy_check(dev))
    journal.check("references", "wkv6 · fla naive", lambda: fla_naive_check(dev))
    for dtype in DTYPES:
        journal.check(
            "references", f"mamba · mamba_ssm · {dtype}", lambda d=dtype: mamba_ssm_check(d, dev)
        )
        journal.check(
            "references", f"wkv6 · fla chunk · {dtype}", lambda d=dtype: fla_chunk_check(d, dev)
        )
    if dev.type != "cuda":
        why = Skip("runs on CUDA only; on a CPU: seqbench run scaling")
        journal.check("scaling", "scaling preset", _raising(why))
        return
    _scaling(journal, out / "scaling", scaling_lengths)


def _raising(error: Exception) -> Callable[[], dict]:
    def check() -> dict:
        raise error

    return check


def _scaling(journal: Journal, out: Path, lengths: tuple[int, ...]) -> None:
    sweep = None

    def plan() -> dict:
        nonlocal sweep
        from .config import load_sweep

        # A length projected to take longer than this is not attempted, nor are longer ones.
        per_length = max(5.0, min(30.0, (journal.deadline - time.monotonic()) / 12))
        overrides = [
            f"measure.seq_lens={list(lengths)}",
            "measure.repeats=3",
            "measure.warmup=1",
            "measure.decode_steps=4",
            f"measure.max_time_s={per_length:.0f}",
        ]
        sweep = load_sweep("scaling", overrides, device="cuda")
        return {"overrides": overrides, "summary": f"{len(sweep.runs)} runs, L = {list(lengths)}"}

    journal.check("scaling", "plan", plan)
    if sweep is None:
        return
    journal.deadline -= 30  # kept for the plots and the report of what was measured
    for run in sweep.runs:
        journal.check("scaling", run.architecture, lambda r=run: scaling_run(r, out))
    journal.deadline += 30
    journal.check("scaling", "plots and report", lambda: scaling_report(out), always=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.doctor", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--out", type=Path, default=Path("results/doctor"))
    parser.add_argument("--budget", type=float, default=BUDGET_S, help="seconds for the whole run")
    args = parser.parse_args(argv)
    # A SIGTERM (``timeout``) ends the run through Python, so doctor.json is finished first.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    console = Console(width=None if sys.stdout.isatty() else 160)
    return run_doctor(args.device, args.out, console, budget_s=args.budget)


if __name__ == "__main__":
    sys.exit(main())
