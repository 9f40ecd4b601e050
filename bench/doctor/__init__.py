"""``seqbench doctor``: what this machine can run, and proof that it runs it.

One command, under five minutes on a GPU and seconds on a CPU. Every check is written to
``DIR/doctor.json`` as it starts and again as it ends (atomically), so a crash or a kill
keeps everything measured before it, and names the check that was running (``journal``).

1. **environment** (``capabilities``): Python, torch, CUDA and driver versions, the GPU's
   name, memory and compute capability, the versions of the kernel packages;
2. **kernels** (``capabilities``): for each fused kernel, whether it imports here and why
   not; with the backends usable per block, the capability table printed first;
3. **torch path** (``blocks``): every block at fp32 and bf16, forward and backward through
   the torch reference, finite;
4. **cuda vs torch** (``blocks``): every block at fp32 and bf16, ``backend="cuda"`` against
   ``backend="torch"`` on the same (randomised) weights and inputs, the output and every
   gradient; where a block's kernels do not import, its fallback instead (``auto`` runs
   the torch code on CUDA, and ``backend_used`` says so);
5. **references** (``references``): each block beside its reference package's own code, in
   one process (mambapy, mamba_ssm, fla), with forward+backward time and peak memory;
6. **scaling** (``scaling``): on CUDA, the ``scaling`` preset from 2^10 to 2^16 tokens (as
   memory and the time budget allow) as a normal results folder, ``DIR/scaling``, with
   plots and report.

This module runs them in that order (``run_doctor``, and ``main`` for ``python -m
bench.doctor``). Each check ends ok, failed (with the error) or skipped (with why: no CUDA
device, a package that does not import, the time budget spent). The exit status is 1 when
a check failed.
"""

from __future__ import annotations

import argparse
import platform
import signal
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from rich.console import Console
from rich.markup import escape

import architectures
from architectures import _fused

from .blocks import (
    AGREEMENT_SIZES,
    DTYPES,
    TOLERANCE,
    compare,
    cuda_vs_torch_check,
    fallback_check,
    rel_err,
    torch_path_check,
)
from .capabilities import (
    PACKAGES,
    TORCH_KERNELS,
    capability_table,
    environment,
    kernel_check,
    required_import,
)
from .journal import Failed, Journal, Skip, now
from .references import fla_chunk_check, fla_naive_check, mamba_ssm_check, mambapy_check
from .scaling import SCALING_LENGTHS, scaling_checks, scaling_report, scaling_run

__all__ = [
    "AGREEMENT_SIZES",
    "BUDGET_S",
    "DTYPES",
    "PACKAGES",
    "SCALING_LENGTHS",
    "TOLERANCE",
    "TORCH_KERNELS",
    "Failed",
    "Journal",
    "Skip",
    "capability_table",
    "compare",
    "cuda_vs_torch_check",
    "environment",
    "fallback_check",
    "fla_chunk_check",
    "fla_naive_check",
    "kernel_check",
    "main",
    "mamba_ssm_check",
    "mambapy_check",
    "rel_err",
    "run_doctor",
    "scaling_report",
    "scaling_run",
    "torch_path_check",
]

BUDGET_S = 300.0


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
                "started_at": now(),
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
    # The checks are looked up here, in ``bench.doctor``, when they run: a test replaces one
    # with ``monkeypatch.setattr(doctor, "torch_path_check", ...)``.
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
        if dev.type == "cuda" and not required_import(name):
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
    scaling_checks(journal, out / "scaling", scaling_lengths)


def _raising(error: Exception) -> Callable[[], dict]:
    def check() -> dict:
        raise error

    return check


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
