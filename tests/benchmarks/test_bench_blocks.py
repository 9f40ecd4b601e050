"""Forward, forward+backward and step for every registered block.

Small CPU sizes by default (B=8, L=256, d_model=256); SEQBENCH_BENCH_L=1024 gives the
sizes the issues report.
"""

import os

import pytest
import torch

import architectures

B = 8
L = int(os.environ.get("SEQBENCH_BENCH_L", "256"))
D = 256


def _block(name, device):
    torch.manual_seed(0)
    return architectures.create(name, d_model=D).to(device)


@pytest.mark.parametrize("name", architectures.names())
def test_forward(benchmark, name, device, sync):
    block, x = _block(name, device), torch.randn(B, L, D, device=device)
    benchmark.group = f"forward L={L}"

    def run():
        with torch.no_grad():
            return block(x)

    benchmark(sync(run))


@pytest.mark.parametrize("name", architectures.names())
def test_forward_backward(benchmark, name, device, sync):
    block = _block(name, device)
    x = torch.randn(B, L, D, device=device, requires_grad=True)
    benchmark.group = f"forward+backward L={L}"
    grad = torch.randn(B, L, D, device=device)  # dense: a stride-0 sum() gradient skews CPU matmuls
    benchmark(sync(lambda: block(x).backward(grad)))


@pytest.mark.parametrize("name", architectures.names())
def test_step(benchmark, name, device, sync):
    block = _block(name, device)
    x = torch.randn(B, D, device=device)
    with torch.no_grad():
        state = block.init_state(B)
        for _ in range(L):  # decode cost at context length L
            _, state = block.step(x, state)
    benchmark.group = f"step after {L} tokens"

    def run():
        with torch.no_grad():
            return block.step(x, state)

    benchmark(sync(run))
