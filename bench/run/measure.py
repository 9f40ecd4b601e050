"""How seqbench measures cost: timed calls, peak memory, the CPU allocator setting.

The method is stated once, in docs/measurement.md (time, memory, why not
``torch.utils.benchmark``); this module is its code.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from architectures import SequenceModel
from architectures.base import State


@dataclass(frozen=True)
class Timing:
    """Seconds of every timed call of one kind, in the order they ran."""

    samples_s: tuple[float, ...]

    @property
    def median_s(self) -> float:
        return statistics.median(self.samples_s)

    @property
    def min_s(self) -> float:
        return min(self.samples_s)

    @property
    def max_s(self) -> float:
        return max(self.samples_s)

    @property
    def repeats(self) -> int:
        return len(self.samples_s)

    def spread(self) -> list[float]:
        """``[min, median, max]`` seconds, the run file's ``timing_spread`` entry."""
        return [self.min_s, self.median_s, self.max_s]


Clock = Callable[[], float]


def synchronize(device: torch.device | str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def time_interleaved(
    calls: Mapping[str, Callable[[], object]],
    counts: Mapping[str, int],
    device: torch.device | str,
    warmup: int = 0,
    clock: Clock = time.perf_counter,
) -> dict[str, Timing]:
    """Time ``counts[kind]`` calls of each kind, the kinds taken in turn.

    ``warmup`` untimed calls of each kind first. Then one call of each kind that still
    needs samples, and again, until each has its count: a slowdown of the machine while
    this runs lands on every kind instead of on whichever was being timed. Each timed call
    starts and ends synchronized with the device.
    """
    for fn in calls.values():
        for _ in range(warmup):
            fn()
    synchronize(device)
    samples: dict[str, list[float]] = {kind: [] for kind in calls}
    while any(len(samples[kind]) < counts[kind] for kind in calls):
        for kind, fn in calls.items():
            if len(samples[kind]) >= counts[kind]:
                continue
            start = clock()
            fn()
            synchronize(device)
            samples[kind].append(clock() - start)
    return {kind: Timing(tuple(times)) for kind, times in samples.items()}


def time_call(
    fn: Callable[[], object],
    device: torch.device | str,
    repeats: int = 5,
    warmup: int = 2,
    clock: Clock = time.perf_counter,
) -> Timing:
    """``repeats`` timed calls of ``fn`` after ``warmup`` untimed ones, synchronized on CUDA."""
    return time_interleaved({"call": fn}, {"call": repeats}, device, warmup, clock)["call"]


# --- memory --------------------------------------------------------------------------------


def _read_status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _trim_heap() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # mallopt parameters, glibc's <malloc.h>
_KEEP_AT_TOP = 2**31 - 1  # bytes of free heap glibc may keep before returning them
_allocator = "default"


def keep_freed_memory() -> str:
    """Serve large CPU tensors from glibc's heap and keep freed pages; returns the setting.

    Process-wide and idempotent; a no-op (``"default"``) where libc is not glibc.
    ``PeakMemory`` still sees every new page: it trims the heap before each region.
    """
    global _allocator
    if _allocator == "default":
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL("libc.so.6")
            if libc.mallopt(_M_MMAP_MAX, 0) and libc.mallopt(_M_TRIM_THRESHOLD, _KEEP_AT_TOP):
                _allocator = "glibc heap, freed pages kept (mallopt)"
    return _allocator


def flush_denormals(device: torch.device) -> bool:
    """Treat subnormal floats (below ~1.2e-38 in float32) as zero on the CPU, process-wide.

    x86 CPUs compute with subnormals through a slow microcode path. A model whose softmax
    or decays underflow into that range (a Transformer trained at lr 1e-2 on MQAR) then
    trains several times slower: 21.3 s against 8.0 s for the same 150 steps here, with
    the same accuracy. That is a cost of the processor, not of the architecture, and it
    would rank blocks by how often they underflow. A subnormal is below float32's
    resolution of any sum it joins, so flushing it changes no result we report.
    """
    if device.type != "cpu":
        return False
    return torch.set_flush_denormal(True)


class PeakMemory:
    """Context manager: ``with PeakMemory(device) as peak: ...; peak.bytes``."""

    def __init__(self, device: torch.device | str) -> None:
        self.device = torch.device(device)
        self.kind = "cuda_allocator" if self.device.type == "cuda" else "cpu_rss"
        self.bytes: float = float("nan")

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            _trim_heap()
            self._can_reset = True
            try:
                Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to VmRSS
            except OSError:
                self._can_reset = False
            self._start_kb = _read_status_kb("VmRSS")
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.bytes = float(torch.cuda.max_memory_allocated(self.device))
        elif self._can_reset and self._start_kb is not None:
            peak_kb = _read_status_kb("VmHWM")
            if peak_kb is not None:
                self.bytes = float(max(peak_kb - self._start_kb, 0) * 1024)


def free_cached_memory(device: torch.device | str) -> None:
    """Hand cached CUDA blocks back after an out-of-memory error (a no-op on CPU)."""
    if torch.device(device).type == "cuda":
        torch.cuda.empty_cache()


def one_line(error: BaseException) -> str:
    """``"TypeName: first line of the message"``, at most 500 characters."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:500]


def is_oom(error: BaseException) -> bool:
    if isinstance(error, torch.cuda.OutOfMemoryError | MemoryError):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


# --- decode from a long context ------------------------------------------------------------


def state_at(
    model: SequenceModel, batch_size: int, seq_len: int, vocab_size: int, device: torch.device | str
) -> list[State]:
    """Block states of the size they have after ``seq_len`` tokens, built cheaply.

    Decode cost depends on the state's size, not its values, so instead of stepping
    ``seq_len`` tokens (quadratic for attention in Python calls) we step two tokens,
    find which dimension of each state tensor grows by one per token, and tile it to
    ``seq_len``. ``model.state_size`` is checked against the result.
    """
    tokens = torch.randint(0, vocab_size, (batch_size, 2), device=device)
    with torch.no_grad():
        one = model.step(tokens[:, 0], model.init_state(batch_size))[1]
        two = model.step(tokens[:, 1], one)[1]
    states = []
    for s1, s2 in zip(one, two, strict=True):
        grown = {}
        for key, t2 in s2.items():
            t1 = s1[key]
            growing = [d for d in range(t2.dim()) if t2.shape[d] != t1.shape[d]]
            if not growing:
                grown[key] = t2
                continue
            (dim,) = growing
            per_token = t2.shape[dim] - t1.shape[dim]
            base = t2.shape[dim] - 2 * per_token
            target = base + seq_len * per_token
            repeats = -(-target // t2.shape[dim])
            grown[key] = torch.cat([t2] * repeats, dim=dim).narrow(dim, 0, target).contiguous()
        states.append(grown)
    held = sum(t.numel() for s in states for t in s.values()) // batch_size
    if held != model.state_size(seq_len):
        raise RuntimeError(
            f"rebuilt state holds {held} numbers per sequence, the model "
            f"reports {model.state_size(seq_len)}"
        )
    return states


# --- environment ---------------------------------------------------------------------------


def git(*args: str, timeout: float = 10) -> str | None:
    """Output of ``git ARGS`` run in seqbench's source tree; None outside git or on error."""
    try:
        out = subprocess.run(
            ["git", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_commit() -> str:
    """The commit seqbench runs from (short hash); empty outside git."""
    return git("rev-parse", "--short", "HEAD") or ""


def environment(device: torch.device | str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    device = torch.device(device)
    try:
        seqbench_version = version("seqbench")
    except PackageNotFoundError:
        seqbench_version = ""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name()
    return {
        "device": device.type,
        "device_name": name,
        "python_version": platform.python_version(),
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda or "",
        "git_commit": git_commit(),
        "seqbench_version": seqbench_version,
        "torch_threads": str(torch.get_num_threads()),
        "cpu_allocator": _allocator,
        "hostname": platform.node(),
    }


def _cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} cores)"
    return platform.processor() or sys.platform


@contextlib.contextmanager
def autocast(device: torch.device | str, dtype: torch.dtype) -> Iterator[None]:
    device = torch.device(device)
    if dtype == torch.float32:
        yield
    else:
        with torch.autocast(device.type, dtype=dtype):
            yield
