"""Shared set-up for micro-benchmarks: `pytest tests/benchmarks --benchmark-only`.

Method: pytest-benchmark calls the function repeatedly after a warm-up round and reports
min / median / spread; on CUDA every timed call ends with `torch.cuda.synchronize()` so
the time covers the kernels, not just their launch. CPU runs use the thread count in
SEQBENCH_THREADS (default 2, the size of the machines seqbench is calibrated on).
"""

import os
import platform

import pytest
import torch

from bench.run.measure import keep_freed_memory

torch.set_num_threads(int(os.environ.get("SEQBENCH_THREADS", "2")))
CPU_ALLOCATOR = keep_freed_memory()  # as `seqbench run` measures: no page fault per large tensor
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["torch"] = torch.__version__
    machine_info["torch_threads"] = torch.get_num_threads()
    machine_info["device"] = (
        torch.cuda.get_device_name() if DEVICE.type == "cuda" else platform.processor() or "cpu"
    )
    machine_info["cuda"] = torch.version.cuda
    machine_info["cpu_allocator"] = CPU_ALLOCATOR


def synchronized(fn):
    """Wrap ``fn`` so a timed call waits for the GPU."""

    def call():
        out = fn()
        if DEVICE.type == "cuda":
            torch.cuda.synchronize()
        return out

    return call


@pytest.fixture
def device() -> torch.device:
    return DEVICE


@pytest.fixture
def sync():
    return synchronized
