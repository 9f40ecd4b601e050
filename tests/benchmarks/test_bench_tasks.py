"""Batch generation for every registered task: `pytest tests/benchmarks -k tasks --benchmark-only`.

Samples N examples of length L on CPU (N = L = 4096 by default: 16.8M tokens, the
longest setting the issues report; SEQBENCH_BENCH_TASK_L and SEQBENCH_BENCH_TASK_N
shrink it). Generation must never dominate a training step: a step over the same
tokens costs far more than the batch.
"""

import os

import pytest
import torch

import tasks

L = int(os.environ.get("SEQBENCH_BENCH_TASK_L", "4096"))
N = int(os.environ.get("SEQBENCH_BENCH_TASK_N", "4096"))


@pytest.mark.parametrize("name", tasks.available())
def test_sample(benchmark, name):
    task = tasks.create(name)
    generator = torch.Generator().manual_seed(0)
    benchmark.group = f"sample n={N} L={L}"
    benchmark.extra_info["tokens"] = N * L
    batch = benchmark(lambda: task.sample(N, L, generator))
    assert batch.inputs.shape == (N, L)
