"""CPU measurement: the allocator setting and peak-memory regions that still see every page."""

import platform

import pytest
import torch

from bench.measure import PeakMemory, keep_freed_memory

glibc = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="needs glibc"
)

MB = 2**20


@glibc
def test_keep_freed_memory_is_set_once_and_recorded():
    setting = keep_freed_memory()
    assert setting.startswith("glibc heap")
    assert keep_freed_memory() == setting


@glibc
def test_peak_memory_counts_a_region_even_when_freed_pages_were_kept():
    keep_freed_memory()
    scratch = torch.ones(256 * MB // 4)  # 256 MB from the heap, then freed: glibc keeps it
    del scratch
    with PeakMemory("cpu") as peak:
        tensor = torch.ones(64 * MB // 4)  # 64 MB: fits in the kept pages unless trimmed
    del tensor
    assert peak.kind == "cpu_rss"
    assert 0.9 * 64 * MB <= peak.bytes <= 1.5 * 64 * MB, peak.bytes / MB


@glibc
def test_peak_memory_ignores_memory_held_before_the_region():
    held = torch.ones(64 * MB // 4)
    with PeakMemory("cpu") as peak:
        small = torch.ones(MB // 4)  # 1 MB
    assert peak.bytes < 32 * MB, peak.bytes / MB
    del held, small
