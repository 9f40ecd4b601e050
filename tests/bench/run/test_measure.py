"""Measurement: the allocator setting, peak-memory regions that still see every page, timed
calls taken in turn, and cost points that keep every call."""

import platform

import pytest
import torch
from _tiny import tiny

from architectures import SequenceModel
from bench.run import cost, train
from bench.run.cost import cost_points, measure_cost
from bench.run.measure import PeakMemory, Timing, keep_freed_memory, time_call, time_interleaved
from bench.sweep.config import DTYPES
from bench.sweep.load import build_sweep
from bench.sweep.resolve import build_task

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


# --- timing ---------------------------------------------------------------------------------


class FakeClock:
    """A clock that only moves when a timed call says how long it took."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_time_interleaved_takes_the_kinds_in_turn_after_untimed_warmup():
    clock, order = FakeClock(), []

    def call(kind: str, seconds: float):
        def fn():
            order.append(kind)
            clock.now += seconds

        return fn

    calls = {"train": call("train", 3.0), "prefill": call("prefill", 1.0), "decode": call("d", 0.5)}
    timings = time_interleaved(calls, {"train": 2, "prefill": 2, "decode": 4}, "cpu", 1, clock)
    assert order[:3] == ["train", "prefill", "d"]  # one warm-up call of each kind
    assert order[3:] == ["train", "prefill", "d", "train", "prefill", "d", "d", "d"]
    assert timings["train"].samples_s == (3.0, 3.0)
    assert timings["decode"].samples_s == (0.5,) * 4  # the warm-up is not among them


def test_timing_summarizes_every_call():
    timing = Timing((0.3, 0.1, 0.2, 0.9))
    assert (timing.min_s, timing.median_s, timing.max_s, timing.repeats) == (0.1, 0.25, 0.9, 4)
    assert timing.spread() == [0.1, 0.25, 0.9]
    clock = FakeClock()
    step = iter([0.1, 0.2, 0.4, 0.8])
    timed = time_call(lambda: setattr(clock, "now", clock.now + next(step)), "cpu", 3, 1, clock)
    assert timed.samples_s == pytest.approx((0.2, 0.4, 0.8))


# --- cost of a model ------------------------------------------------------------------------


def _cost_run(**measure):
    return build_sweep(tiny(kind="cost", measure=measure)).runs[0]


def _model(run):
    torch.manual_seed(0)
    return SequenceModel(run.architecture, run.measure.vocab_size, 16, 1)


def test_measure_cost_keeps_every_timed_call():
    run = _cost_run(seq_lens=[8], repeats=3, decode_steps=5, warmup=1)
    cpu, vocab_size = torch.device("cpu"), run.measure.vocab_size
    cost = measure_cost(_model(run), run.measure, torch.float32, cpu, 8, vocab_size)
    assert [len(cost[f"{k}_times_s"]) for k in ("train", "prefill", "decode")] == [3, 3, 5]
    prefill = sorted(cost["prefill_times_s"])
    assert cost["timing_spread"]["prefill_s"] == [prefill[0], prefill[1], prefill[2]]
    assert cost["prefill_tokens_per_s"] == pytest.approx(2 * 8 / prefill[1])
    assert cost["peak_memory_train_bytes"] >= 0 and cost["memory_kind"] == "cpu_rss"


def test_cost_points_take_the_lengths_in_turn():
    run = _cost_run(seq_lens=[8, 16, 32], repeats=3, warmup=1, decode_steps=3)
    model = _model(run)
    seen = []
    model.register_forward_pre_hook(lambda module, args: seen.append(args[0].shape[1]))
    progress = []
    points = cost_points(
        model,
        run.measure,
        torch.float32,
        torch.device("cpu"),
        run.measure.vocab_size,
        lambda *p: progress.append(p),
    )
    assert [p["status"] for p in points] == ["ok"] * 3
    for point in points:
        assert [len(point[f"{k}_times_s"]) for k in ("train", "prefill", "decode")] == [3, 3, 3]
        times = sorted(point["prefill_times_s"])
        assert point["prefill_tokens_per_s"] == pytest.approx(2 * point["seq_len"] / times[1])
    assert [p["seq_len"] for p in points] == [8, 16, 32]
    assert not any("eval_seq_len" in p for p in points)  # nothing is evaluated at a cost point
    # first pass short to long, then every length again, twice: repeats spread over the run
    first = seen.index(32)
    assert 8 in seen[first:] and 16 in seen[first:]
    # the first visit measures memory (2 calls), warms up (2) and times (2); a revisit only
    # times (2); plus one untimed step at the shortest length for AdamW's moments
    assert [seen.count(length) for length in (8, 16, 32)] == [11, 10, 10]
    assert progress == [(i, 9) for i in range(1, 10)]


def test_a_length_out_of_memory_on_a_revisit_keeps_its_calls(monkeypatch):
    run = _cost_run(seq_lens=[8, 16], repeats=3, warmup=1, decode_steps=3)
    real = cost.time_interleaved

    def out_of_memory_at_16(calls, counts, device, warmup=0, clock=None):
        if calls["train"].__self__.seq_len == 16 and warmup == 0:  # a revisit
            raise torch.cuda.OutOfMemoryError("out of memory (injected)")
        return real(calls, counts, device, warmup)

    monkeypatch.setattr(cost, "time_interleaved", out_of_memory_at_16)
    cpu, vocab_size = torch.device("cpu"), run.measure.vocab_size
    short, long = cost_points(_model(run), run.measure, torch.float32, cpu, vocab_size)
    assert len(short["prefill_times_s"]) == 3
    assert long["status"] == "ok" and len(long["prefill_times_s"]) == 1


@pytest.mark.parametrize(("dtype", "element_bytes"), [("float32", 4), ("bfloat16", 2)])
def test_cost_and_evaluation_count_state_bytes_in_the_runs_dtype(dtype, element_bytes):
    raw = tiny(train={"dtype": dtype}, eval={"seq_lens": [12]}, measure={"seq_lens": [12]})
    cpu = torch.device("cpu")
    for run in build_sweep(raw).runs:  # the transformer's KV cache, the LSTM's fixed state
        task = build_task(run.task, run.task_config)
        model = train.build_model(run, task.vocab_size)
        (evaluated,) = train.eval_points(model, task, run, cpu)
        (measured,) = cost_points(model, run.measure, DTYPES[dtype], cpu, task.vocab_size)
        expected = model.state_size(12) * element_bytes
        assert evaluated["state_bytes"] == measured["state_bytes"] == expected, run.architecture
