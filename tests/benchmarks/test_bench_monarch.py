"""Monarch Mixer against the Transformer block: the performance targets of issue 5.

    pytest tests/benchmarks/test_bench_monarch.py --benchmark-only            # CPU, minutes
    pytest tests/benchmarks/test_bench_monarch.py --benchmark-only -m gpu     # GPU sweep

CPU targets at B=8, d_model=256, fp32, SEQBENCH_THREADS (default 2) threads:
forward+backward within 2x of the Transformer at L=1024 and faster at L=8192; forward
time from L=512 to L=8192 growing no faster than L·log L (8192·log 8192 / (512·log 512)
= 23.1; the issue quotes 21.3), checked relative to an O(L) layer (see the test).

Method: the two sides of a comparison are timed in alternation (one call of each per
round, median over rounds, after a warm-up call), so a load spike from other processes
on a shared machine hits both; the medians and their ratio go into ``extra_info`` (and
``--benchmark-json``), and pytest-benchmark times the Monarch side once more for its
table. Wall-clock times on a shared CPU are noisy: read ratios, not absolute numbers.
"""

import math
import statistics
import time

import pytest
import torch

import architectures

B, D = 8, 256


def _block(name, device, dtype=torch.float32):
    torch.manual_seed(0)
    return architectures.create(name, d_model=D).to(device=device, dtype=dtype)


def _forward_backward(name, length, device, dtype=torch.float32):
    block = _block(name, device, dtype)
    x = torch.randn(B, length, D, device=device, dtype=dtype, requires_grad=True)
    return lambda: block(x).float().sum().backward()


def _forward(name, length, device):
    block, x = _block(name, device), torch.randn(B, length, D, device=device)

    def run():
        with torch.no_grad():
            return block(x)

    return run


def _alternating_medians(fns, sync, rounds):
    """Median seconds per function, timed one call of each per round after a warm-up."""
    fns = {key: sync(fn) for key, fn in fns.items()}
    for fn in fns.values():
        fn()
    times = {key: [] for key in fns}
    for _ in range(rounds):
        for key, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - start)
    return {key: statistics.median(ts) for key, ts in times.items()}


@pytest.mark.slow
@pytest.mark.parametrize(("length", "bound"), [(1024, 2.0), (8192, 1.0)], ids=["L=1024", "L=8192"])
def test_forward_backward_against_transformer(benchmark, length, bound, device, sync):
    fns = {name: _forward_backward(name, length, device) for name in ("monarch", "transformer")}
    medians = _alternating_medians(fns, sync, rounds=5 if length <= 1024 else 3)
    ratio = medians["monarch"] / medians["transformer"]
    benchmark.group = f"forward+backward B={B} D={D} L={length}"
    benchmark.extra_info.update({f"{k}_median_s": v for k, v in medians.items()})
    benchmark.extra_info["monarch_over_transformer"] = ratio
    print(f"\nL={length}: {medians} monarch/transformer={ratio:.2f} (target < {bound})")
    benchmark.pedantic(sync(fns["monarch"]), rounds=1, iterations=1)
    assert ratio < bound, f"monarch takes {ratio:.2f}x the transformer at L={length}"


@pytest.mark.slow
def test_forward_grows_like_l_log_l(benchmark, device, sync):
    # Raw wall-clock growth from L=512 to L=8192 must stay within the L log L ratio (23.1;
    # the 21.3 is 16 x 4/3). The O(L) reference measured alongside (the
    # Transformer's SwiGLU MLP) shows what the memory hierarchy adds on its own: ~16x with
    # the allocator setting of conftest.py, 21-24x with glibc's default, which maps and
    # page-faults every tensor above 32 MB (the reason `seqbench` changes it).
    short, long = 512, 8192
    mlp = _block("transformer", device).mlp
    fns = {}
    for length in (short, long):
        x = torch.randn(B, length, D, device=device)
        fns[("monarch", length)] = _forward("monarch", length, device)
        fns[("linear", length)] = torch.no_grad()(lambda x=x: mlp(x))
    medians = _alternating_medians(fns, sync, rounds=5)
    ratio = medians[("monarch", long)] / medians[("monarch", short)]
    linear_ratio = medians[("linear", long)] / medians[("linear", short)]
    l_log_l = long * math.log(long) / (short * math.log(short))  # 23.1 (the issue says 21.3)
    benchmark.group = f"monarch forward B={B} D={D}"
    benchmark.extra_info.update(
        time_ratio=ratio, l_log_l_ratio=l_log_l, linear_reference_ratio=linear_ratio
    )
    print(
        f"\nforward L={short}->{long}: monarch x{ratio:.1f} (L log L: x{l_log_l:.1f}), "
        f"O(L) reference x{linear_ratio:.1f}, monarch/reference {ratio / linear_ratio:.2f}"
    )
    benchmark.pedantic(sync(fns[("monarch", long)]), rounds=1, iterations=1)
    assert ratio <= l_log_l, (
        f"forward time grew {ratio:.1f}x from L={short} to L={long} (L log L: {l_log_l:.1f}x; "
        f"an O(L) layer: {linear_ratio:.1f}x)"
    )


@pytest.mark.parametrize("length", [512, 1024, 2048, 4096, 8192], ids=lambda n: f"L={n}")
def test_monarch_forward(benchmark, length, device, sync):
    benchmark.group = f"monarch forward B={B} D={D}"
    benchmark(sync(_forward("monarch", length, device)))


# --- GPU: bf16, long sequences, against flash attention ---------------------------------


@pytest.mark.gpu
@pytest.mark.parametrize("length", [2048, 8192, 16384, 32768, 65536], ids=lambda n: f"L={n}")
@pytest.mark.parametrize("name", ["monarch", "transformer"])
def test_gpu_forward_backward_bf16(benchmark, name, length, device, sync):
    # The transformer's "auto" backend lets SDPA pick flash attention for bf16 on CUDA.
    benchmark.group = f"GPU bf16 forward+backward B={B} D={D} L={length}"
    benchmark(sync(_forward_backward(name, length, device, torch.bfloat16)))
