"""seqbench's Mamba block beside mambapy's, forward+backward and peak memory (issue 3).

Sizes of the issue: B=8, L=1024, d_model=256 (d_inner 512, N 16), fp32. Run with
`pytest tests/benchmarks/test_bench_mamba.py --benchmark-only`; SEQBENCH_BENCH_L
changes L. Both blocks share one state_dict, so they compute the same function.

Peak memory: each block runs one forward+backward in a fresh Python process; the figure
is the growth of the process's peak resident memory (VmHWM) once the model and input
are built — tracemalloc cannot see torch's allocations. It lands in the
benchmark's extra_info (``peak_mb_seqbench``, ``peak_mb_mambapy``). On CUDA the allocator's peak is used instead.
"""

import json
import os
import subprocess
import sys

import pytest
import torch

import architectures

B, D = 8, 256
L = int(os.environ.get("SEQBENCH_BENCH_L", "1024"))

mambapy = pytest.importorskip("mambapy.mamba", reason="the side-by-side needs mambapy")


def _blocks(device, backend="auto"):
    torch.manual_seed(0)
    ours = architectures.create("mamba", d_model=D, backend=backend).to(device)
    theirs = mambapy.ResidualBlock(mambapy.MambaConfig(d_model=D, n_layers=1)).to(device)
    theirs.load_state_dict(ours.state_dict())
    return {"seqbench": ours, "mambapy": theirs}


@pytest.mark.parametrize("impl", ["seqbench", "mambapy"])
def test_forward_backward(benchmark, impl, device, sync):
    block = _blocks(device)[impl]
    x = torch.randn(B, L, D, device=device, requires_grad=True)
    benchmark.group = f"mamba forward+backward B={B} L={L} D={D} {device.type}"
    benchmark(sync(lambda: block(x).sum().backward()))


_PEAK_SCRIPT = """
import json, resource, sys, torch

def peak_rss_mb():
    # VmHWM: this process's own peak. ru_maxrss would also count the parent's peak, which
    # Linux carries across fork + exec.
    try:
        with open("/proc/self/status") as status:
            line = next(l for l in status if l.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

sys.path.insert(0, {root!r})
from tests.benchmarks.test_bench_mamba import _blocks
torch.set_num_threads({threads})
device = torch.device({device!r})
block = _blocks(device)[{impl!r}]
x = torch.randn({B}, {L}, {D}, device=device, requires_grad=True)
before = peak_rss_mb()
if device.type == "cuda":
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
block(x).sum().backward()
after = peak_rss_mb()
peak = (torch.cuda.max_memory_allocated() - base) / 2**20 if device.type == "cuda" else after - before
print(json.dumps({{"peak_mb": peak}}))
"""


def _peak_mb(impl: str, device: torch.device) -> float:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    script = _PEAK_SCRIPT.format(
        root=root, threads=torch.get_num_threads(), device=str(device), impl=impl, B=B, L=L, D=D
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=root
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_mb"]


def test_peak_memory_side_by_side(benchmark, device):
    peaks = {}

    def measure():
        peaks.update({impl: _peak_mb(impl, device) for impl in ("seqbench", "mambapy")})

    benchmark.group = f"mamba peak memory B={B} L={L} D={D} {device.type}"
    benchmark.pedantic(measure, rounds=1, iterations=1)
    benchmark.extra_info.update({f"peak_mb_{impl}": round(mb, 1) for impl, mb in peaks.items()})
    print(f"\npeak memory growth, forward+backward: {peaks}")
    assert peaks["seqbench"] <= peaks["mambapy"]


@pytest.mark.gpu
@pytest.mark.parametrize("backend", ["cuda", "torch"])
def test_forward_backward_gpu_backends(benchmark, backend, device, sync):
    pytest.importorskip("mamba_ssm")
    block = _blocks(device, backend=backend)["seqbench"]
    x = torch.randn(B, L, D, device=device, requires_grad=True)
    benchmark.group = f"mamba forward+backward B={B} L={L} D={D} cuda backends"
    benchmark(sync(lambda: block(x).sum().backward()))
    assert block.backend_used == backend
