"""What this machine has: versions, the device, which fused kernels import and why not, and
the capability table (the backends usable per block) that the doctor prints first."""

from __future__ import annotations

import contextlib
import subprocess
from importlib import metadata
from typing import Any

import torch
from rich.markup import escape
from rich.table import Table

import architectures
from architectures import _fused
from bench.run import attention, measure

from .journal import Failed, Skip

PACKAGES = ("mamba-ssm", "causal-conv1d", "fla-core", "triton", "mambapy")
# What backend="cuda" means for blocks that use torch's own CUDA kernels.
TORCH_KERNELS = {
    "transformer": "SDPA's flash / memory-efficient kernels (torch)",
    "lstm": "cuDNN's LSTM (torch)",
    "monarch": "cuFFT through torch.fft (torch)",
    "rwkv4": "no fused kernel: its chunked torch WKV on the GPU",
}


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
        if kernel := attention_kernel_here(name, device):
            lines.append(f"attention kernel here: {kernel}")
        if device.type != "cuda":
            cuda = "[yellow]no CUDA device[/yellow]"
        elif "cuda" in cls.backends() and required_import(name):
            cuda = "[green]yes[/green]"
        else:
            cuda = "[yellow]no: auto runs the torch code on CUDA[/yellow]"
        table.add_row(name, "[green]yes[/green]", cuda, "\n".join(lines))
    for source, error in architectures.plugin_errors().items():
        table.add_row(
            f"[red]{escape(source)}[/red]", "[red]failed to load[/red]", "", escape(error)
        )
    return table


def attention_kernel_here(name: str, device: torch.device) -> str:
    """The SDPA kernel a small model of block ``name`` runs on ``device`` (torch's choice,
    ``bench.run.attention``); "" when it has no attention or cannot be built here."""
    try:
        torch.manual_seed(0)
        model = architectures.SequenceModel(name, 32, 64, 1).to(device)
        return attention.kernel_used(model, 32)
    except Exception:  # a block that cannot run here is reported by its own checks
        return ""


def required_import(name: str) -> bool:
    return all(
        _fused.importable(k)
        for k, spec in _fused.KERNELS.items()
        if spec.block == name and not spec.optional
    )
