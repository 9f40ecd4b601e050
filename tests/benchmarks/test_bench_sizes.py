"""Every block beside the Transformer, in one interleaved run, at the sizes that matter.

`pytest tests/benchmarks/test_bench_sizes.py --benchmark-only -s` prints, per size, each
block's median time and its ratio to the Transformer's:

- forward+backward at B=32, L=64, d_model=64 (the size the CPU presets train) and at
  B=8, L=1024, d_model=256 (where the kernels' long-sequence speed shows);
- one ``step`` (a decoded token) at d_model=256, batch 1 and 32, after 64 tokens.

The blocks' calls are taken in turn (``bench.run.measure.time_interleaved``), so a slowdown
of the machine lands on every block rather than on one: compare the ratios, not the
times, and quote times with the machine they ran on. The figures land in each
benchmark's ``extra_info`` (``<block>_ms``, ``<block>_vs_transformer``). RWKV-6 runs with
heads of 16 at d_model 64, as the presets set it (one head of 64 otherwise).
"""

import pytest
import torch

import architectures
from bench.run.measure import time_interleaved

REPEATS = 15
TRAIN_SIZES = {"B=32 L=64 d=64": (32, 64, 64), "B=8 L=1024 d=256": (8, 1024, 256)}
STEP_BATCHES = {"B=1": 1, "B=32": 32}
STEP_D, STEP_CONTEXT = 256, 64


def _block(name: str, d_model: int, device: torch.device):
    torch.manual_seed(0)
    settings = {"d_head": 16} if name == "rwkv" and d_model == 64 else {}
    return architectures.create(name, d_model=d_model, **settings).to(device)


def _report(benchmark, title: str, timings) -> dict[str, float]:
    reference = timings["transformer"].median_s
    ratios = {name: timing.median_s / reference for name, timing in timings.items()}
    print(f"\n{title} (median of {REPEATS}, interleaved)")
    for name, timing in timings.items():
        print(f"  {name:12s} {timing.median_s * 1e3:9.2f} ms  {ratios[name]:5.2f}x transformer")
        benchmark.extra_info[f"{name}_ms"] = round(timing.median_s * 1e3, 3)
        benchmark.extra_info[f"{name}_vs_transformer"] = round(ratios[name], 3)
    return ratios


def _names() -> list[str]:
    return ["transformer", *(name for name in architectures.names() if name != "transformer")]


@pytest.mark.parametrize("size", TRAIN_SIZES)
def test_forward_backward_beside_the_transformer(benchmark, size, device):
    batch, length, d_model = TRAIN_SIZES[size]
    x = torch.randn(batch, length, d_model, device=device, requires_grad=True)
    grad = torch.randn_like(x)  # dense: a stride-0 sum() gradient skews CPU matmuls
    blocks = {name: _block(name, d_model, device) for name in _names()}
    calls = {name: (lambda block=block: block(x).backward(grad)) for name, block in blocks.items()}
    benchmark.group = f"forward+backward {size}"
    timings = benchmark.pedantic(
        lambda: time_interleaved(calls, dict.fromkeys(calls, REPEATS), device, warmup=2),
        rounds=1,
        iterations=1,
    )
    ratios = _report(benchmark, f"forward+backward, {size}", timings)
    assert ratios["transformer"] == 1.0 and set(ratios) == set(_names())
    assert all(len(timing.samples_s) == REPEATS for timing in timings.values())


@pytest.mark.parametrize("batch", STEP_BATCHES)
def test_step_beside_the_transformer(benchmark, batch, device):
    size = STEP_BATCHES[batch]
    x = torch.randn(size, STEP_D, device=device)
    calls = {}
    for name in _names():
        block = _block(name, STEP_D, device).eval()
        with torch.no_grad():
            state = block.init_state(size)
            for _ in range(STEP_CONTEXT):
                _, state = block.step(x, state)

        def call(block=block, state=state):
            with torch.no_grad():
                return block.step(x, state)

        calls[name] = call
    benchmark.group = f"step d={STEP_D} {batch}"
    timings = benchmark.pedantic(
        lambda: time_interleaved(calls, dict.fromkeys(calls, REPEATS * 4), device, warmup=5),
        rounds=1,
        iterations=1,
    )
    ratios = _report(benchmark, f"step after {STEP_CONTEXT} tokens, d={STEP_D}, {batch}", timings)
    assert set(ratios) == set(_names())
