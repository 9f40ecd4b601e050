"""seqbench doctor: the CPU run end to end, a failing and a crashing check, the budget, the
GPU script's control flow with a stand-in pip; on a GPU, the whole ``--device cuda`` run."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from rich.console import Console

import architectures
from bench import doctor

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def one_thread():
    """One torch thread. On a machine busy with other work, OpenMP threads spin-wait on each
    other (a 64-token Mamba forward+backward took 2 s with two threads, 4 ms with one); the
    time asserted here is the doctor's own."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


def run(out: Path, device: str = "cpu", **kwargs) -> tuple[int, str, dict]:
    console = Console(file=io.StringIO(), width=220)
    code = doctor.run_doctor(device, out, console, **kwargs)
    return code, console.file.getvalue(), json.loads((out / "doctor.json").read_text())


def by_name(report: dict) -> dict[tuple[str, str], dict]:
    return {(c["section"], c["name"]): c for c in report["checks"]}


needs_cpu_only = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU run")


@needs_cpu_only
def test_on_a_cpu_it_prints_what_runs_and_runs_the_cpu_checks_in_under_a_minute(
    tmp_path, one_thread
):
    started = time.perf_counter()
    code, text, report = run(tmp_path)
    assert time.perf_counter() - started < 60
    assert code == 0, text
    assert "what runs here (cpu)" in text
    for kernel in ("selective_scan_fn", "causal_conv1d_fn", "chunk_rwkv6"):
        assert kernel in text
    assert report["device"] == "cpu" and report["finished_at"]
    assert report["environment"]["torch_version"] == torch.__version__
    checks = by_name(report)
    for name in architectures.names():
        for dtype in ("fp32", "bf16"):
            assert checks[("torch path", f"{name} · {dtype}")]["status"] == "ok"
            skipped = checks[("cuda vs torch", f"{name} · {dtype}")]
            assert (skipped["status"], skipped["reason"]) == ("skipped", "no CUDA device")
    for name in ("mamba · mambapy", "wkv6 · fla naive"):  # mambapy and fla are dev extras
        reference = checks[("references", name)]
        assert reference["status"] == "ok", reference
        assert reference["figures"]["worst_rel_err"] < 1e-4
    assert checks[("references", "mamba · mambapy")]["figures"]["ours"]["ms"] > 0
    for name in ("mamba · mamba_ssm · bf16", "wkv6 · fla chunk · fp32"):
        assert checks[("references", name)]["reason"] == "no CUDA device"
    assert checks[("scaling", "scaling preset")]["status"] == "skipped"
    assert not (tmp_path / "scaling").exists()
    assert report["summary"]["failed"] == 0


def test_a_failing_check_is_recorded_with_its_error_and_the_others_still_run(
    tmp_path, monkeypatch, one_thread
):
    honest = doctor.torch_path_check

    def planted(name, dtype, device):
        if name == "mamba":
            raise RuntimeError("planted failure")
        return honest(name, dtype, device)

    monkeypatch.setattr(doctor, "torch_path_check", planted)
    monkeypatch.setattr(doctor, "mambapy_check", lambda device: {"summary": "not under test"})
    code, text, report = run(tmp_path, "cpu")
    assert code == 1
    checks = by_name(report)
    failed = checks[("torch path", "mamba · fp32")]
    assert (failed["status"], failed["reason"]) == ("failed", "RuntimeError: planted failure")
    assert "planted" in failed["traceback"]
    assert checks[("torch path", "rwkv · fp32")]["status"] == "ok"
    assert checks[("references", "wkv6 · fla naive")]["status"] == "ok"
    assert "RuntimeError: planted failure" in text


def test_a_crash_keeps_what_was_measured_and_names_the_check_that_was_running(
    tmp_path, monkeypatch, one_thread
):
    honest = doctor.torch_path_check

    def crash(name, dtype, device):
        if (name, dtype) == ("mamba", "bf16"):
            raise KeyboardInterrupt  # not an Exception: nothing inside the doctor catches it
        return honest(name, dtype, device)

    monkeypatch.setattr(doctor, "torch_path_check", crash)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, "cpu")
    report = json.loads((tmp_path / "doctor.json").read_text())
    checks = by_name(report)
    assert checks[("torch path", "mamba · fp32")]["status"] == "ok"
    assert checks[("torch path", "mamba · bf16")]["status"] == "running"
    assert ("references", "wkv6 · fla naive") not in checks
    assert report["summary"]["running"] == 1


@needs_cpu_only
def test_cuda_asked_for_without_a_device_fails_that_check_and_a_spent_budget_skips_the_rest(
    tmp_path,
):
    code, _, report = run(tmp_path, "cuda", budget_s=0)
    assert code == 1 and report["device"] == "cpu"
    device, *rest = report["checks"]
    assert (device["name"], device["status"]) == ("cuda", "failed")
    assert "sees no CUDA device" in device["reason"]
    assert rest and all(c["reason"] == "time budget of 0 s spent" for c in rest)


def test_python_m_bench_doctor_is_the_command_the_gpu_script_runs(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "bench.doctor", "--device", "cpu", "--out", str(tmp_path),
         "--budget", "0"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "what runs here (cpu)" in out.stdout
    assert json.loads((tmp_path / "doctor.json").read_text())["finished_at"]


FAKE_PIP = """#!/usr/bin/env bash
# pip as the GPU script sees it where neither kernel package builds (and, with OFFLINE=1,
# where no package index answers).
echo "pip $* | arch=${TORCH_CUDA_ARCH_LIST:-} force=${MAMBA_FORCE_BUILD:-}" >>"$PIP_LOG"
case "$*" in
  download*) [ "${OFFLINE:-0}" = 1 ] && exit 1 ;;
  *mamba-ssm* | *causal-conv1d*) echo "error: building the CUDA extension failed" >&2; exit 1 ;;
esac
exit 0
"""


def run_gpu_script(tmp_path: Path, **env: str):
    """scripts/gpu_check.sh with a stand-in pip, on this CPU posing as an H200 with nvcc:
    (the finished process, install.tsv as {step: status}, the pip calls)."""
    pip = tmp_path / "pip"
    pip.write_text(FAKE_PIP)
    pip.chmod(0o755)
    env = {
        **os.environ,
        "PIP": str(pip),
        "PIP_LOG": str(tmp_path / "pip.log"),
        "PYTHON": sys.executable,
        "TORCH_CUDA_ARCH_LIST": "9.0",  # as on an H100 / H200
        "NVCC": "/bin/true",  # "a compiler is there"
        "BUDGET_S": "200",
        "DOCTOR_S": "0",
        "OUT": str(tmp_path / "out"),
        **env,
    }
    script = ROOT / "scripts" / "gpu_check.sh"
    done = subprocess.run(
        ["bash", str(script), str(tmp_path / "doctor")],
        env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    lines = (tmp_path / "doctor" / "install.tsv").read_text().splitlines()[1:]
    steps = dict(line.split("\t")[:2] for line in lines)
    return done, steps, (tmp_path / "pip.log").read_text().splitlines()


@needs_cpu_only
def test_gpu_script_goes_on_to_the_doctor_when_the_kernel_packages_fail_to_build(tmp_path):
    done, steps, calls = run_gpu_script(tmp_path)
    # The doctor ran to the end; its status is the script's: 1, CUDA asked for and not here.
    assert done.returncode == 1, done.stdout + done.stderr
    assert steps["seqbench"] == "ok"
    assert steps["fla-core (wheel)"] == "ok"
    for name in ("mamba-ssm", "causal-conv1d"):
        assert steps[f"{name} (wheel)"] == "failed (exit 1)"
        assert steps[f"{name} (build)"] == "failed (exit 1)"
    builds = [c for c in calls if c.startswith("pip wheel")]
    assert len(builds) == 2
    assert all("--no-build-isolation" in c and "arch=9.0 force=TRUE" in c for c in builds)
    report = json.loads((tmp_path / "out" / "doctor.json").read_text())
    assert report["checks"][0]["name"] == "cuda" and report["finished_at"]
    assert (tmp_path / "out" / "doctor.tar.gz").exists()
    assert "== doctor exit status 1" in (tmp_path / "out" / "gpu_check.log").read_text()


@needs_cpu_only
def test_gpu_script_without_an_index_installs_from_local_wheels_only(tmp_path):
    done, _, calls = run_gpu_script(tmp_path, OFFLINE="1")
    assert done.returncode == 1 and "no package index reachable" in done.stdout
    installs = [c for c in calls if c.startswith(("pip install", "pip wheel"))]
    assert installs and all("--no-index" in c for c in installs)


def test_gpu_script_parses():
    assert subprocess.run(["bash", "-n", str(ROOT / "scripts" / "gpu_check.sh")]).returncode == 0


# --- on a GPU ---------------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.slow
def test_on_cuda_every_block_agrees_or_falls_back_and_scaling_writes_a_results_folder(tmp_path):
    code, text, report = run(tmp_path, "cuda", scaling_lengths=(256, 1024))
    assert code == 0, text
    assert report["environment"]["compute_capability"] and report["environment"]["driver_version"]
    checks = by_name(report)
    for name in architectures.names():
        for dtype in ("fp32", "bf16"):
            agreement = checks[("cuda vs torch", f"{name} · {dtype}")]
            if agreement["status"] == "skipped":  # its kernels do not import: the fallback ran
                assert checks[("fallback", name)]["status"] == "ok", agreement
            else:
                assert agreement["status"] == "ok", agreement
    for name, check in checks.items():
        if name[0] == "references" and check["status"] == "ok":
            costs = [v for v in check["figures"].values() if isinstance(v, dict)]
            assert all(c["ms"] > 0 and c["peak_mib"] > 0 for c in costs), check
    scaling = tmp_path / "scaling"
    runs = [
        c
        for c in report["checks"]
        if c["section"] == "scaling" and c["name"] not in ("plan", "plots and report")
    ]
    assert runs and all(c["status"] == "ok" for c in runs), runs
    assert len(list((scaling / "runs").glob("*.json"))) == len(runs)
    assert (scaling / "report.html").exists() and list((scaling / "plots").glob("*.png"))
