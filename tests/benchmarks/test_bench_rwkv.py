"""RWKV-6: the chunked WKV op against fla's PyTorch references, the block against attention.

`pytest tests/benchmarks/test_bench_rwkv.py --benchmark-only`. Sizes of issue 4: B=8,
L=1024, d_model=256 (4 heads of 64), fp32, SEQBENCH_THREADS CPU threads (default 2).
Groups put each comparison side by side:

* "wkv6 forward+backward": ours vs fla's token-by-token ``naive_recurrent_rwkv6``;
* "wkv6 forward": ours vs fla's ``naive_chunk_rwkv6`` (which has no backward);
* "block forward L=…": the rwkv block vs the transformer block at L=1024 and 8192;
* on CUDA, "mixer forward+backward": our time-mix vs fla's ``RWKV6Attention`` layer.

Backward passes get a dense output gradient: ``out.sum().backward()`` would send a
stride-0 gradient that drives CPU batched matmuls onto a slow path.
"""

import pytest
import torch

import architectures
from architectures.rwkv import wkv6

B, L, D, H = 8, 1024, 256, 4
K = D // H
SLOW = {"rounds": 2, "iterations": 1, "warmup_rounds": 0}  # sequential references take seconds


def _wkv_inputs(device, heads_first=False, requires_grad=False):
    g = torch.Generator().manual_seed(0)
    r, k, v = (torch.randn(B, L, H, K, generator=g) for _ in range(3))
    w = -torch.exp(torch.randn(B, L, H, K, generator=g) - 1)  # log decay, as the block makes
    u = torch.randn(H, K, generator=g)
    tensors = [r, k, v, w]
    if heads_first:  # fla's naive references take (B, H, T, K)
        tensors = [t.transpose(1, 2).contiguous() for t in tensors]
    return [t.to(device).requires_grad_(requires_grad) for t in (*tensors, u)]


def test_wkv6_forward_backward(benchmark, device, sync):
    inputs = _wkv_inputs(device, requires_grad=True)
    grad = torch.randn(B, L, H, K, device=device)
    benchmark.group = "wkv6 forward+backward"
    benchmark(sync(lambda: wkv6(*inputs)[0].backward(grad)))


def test_fla_naive_recurrent_forward_backward(benchmark, device, sync):
    naive = pytest.importorskip("fla.ops.rwkv6.recurrent_naive").naive_recurrent_rwkv6
    inputs = _wkv_inputs(device, heads_first=True, requires_grad=True)
    grad = torch.randn(B, H, L, K, device=device)
    benchmark.group = "wkv6 forward+backward"
    benchmark.pedantic(sync(lambda: naive(*inputs, scale=1.0)[0].backward(grad)), **SLOW)


def test_wkv6_forward(benchmark, device, sync):
    inputs = _wkv_inputs(device)
    benchmark.group = "wkv6 forward"
    benchmark(sync(lambda: wkv6(*inputs)))


def test_fla_naive_chunk_forward(benchmark, device, sync):
    naive_chunk = pytest.importorskip("fla.ops.rwkv6.chunk_naive").naive_chunk_rwkv6
    inputs = _wkv_inputs(device, heads_first=True)
    benchmark.group = "wkv6 forward"
    benchmark(sync(lambda: naive_chunk(*inputs)))


@pytest.mark.parametrize("length", [1024, 8192], ids=lambda n: f"L={n}")
@pytest.mark.parametrize("name", ["rwkv", "transformer"])
def test_block_forward(benchmark, name, length, device, sync):
    torch.manual_seed(0)
    block = architectures.create(name, d_model=D).to(device)
    x = torch.randn(B, length, D, device=device)
    benchmark.group = f"block forward L={length}"

    def run():
        with torch.no_grad():
            return block(x)

    benchmark.pedantic(sync(run), rounds=5 if length <= 1024 else 2, warmup_rounds=1)


@pytest.mark.parametrize("name", ["rwkv", "transformer"])
def test_block_forward_backward(benchmark, name, device, sync):
    torch.manual_seed(0)
    block = architectures.create(name, d_model=D).to(device)
    x = torch.randn(B, L, D, device=device, requires_grad=True)
    grad = torch.randn(B, L, D, device=device)
    benchmark.group = f"block forward+backward L={L}"
    benchmark(sync(lambda: block(x).backward(grad)))


@pytest.mark.gpu
@pytest.mark.parametrize("impl", ["seqbench", "fla"])
def test_mixer_forward_backward_cuda(benchmark, impl, device, sync):
    torch.manual_seed(0)
    if impl == "fla":
        layer = pytest.importorskip("fla.layers").RWKV6Attention(hidden_size=D, num_heads=H)
        mixer = lambda x: layer(x)[0]  # noqa: E731
    else:
        block = architectures.create("rwkv", d_model=D, backend="cuda")
        mixer = lambda x: block.mixer(x, "cuda")  # noqa: E731
        layer = block
    layer.to(device)
    x = torch.randn(B, L, D, device=device, requires_grad=True)
    grad = torch.randn(B, L, D, device=device)
    benchmark.group = f"mixer forward+backward L={L} (CUDA)"
    benchmark(sync(lambda: mixer(x).backward(grad)))
