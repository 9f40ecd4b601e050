"""Generation throughput: prefill, then G steps, at growing batch sizes (bench.run.generate)."""

import pytest
import torch
from _tiny import tiny

from architectures import SequenceModel
from bench import store
from bench.run import generate
from bench.run.train import execute
from bench.sweep.config import GenerateSection, MeasureSection, SweepConfigError
from bench.sweep.load import build_sweep


def _measure(**generate_settings):
    setting = {"prompt_len": 12, "new_tokens": 3, "batch_sizes": [1, 2, 4], **generate_settings}
    return MeasureSection(repeats=3, warmup=0, generate=GenerateSection(**setting))


def _model(arch="transformer"):
    torch.manual_seed(0)
    return SequenceModel(arch, 32, 16, 1)


@pytest.mark.parametrize("arch", ["transformer", "mamba"])
def test_each_batch_size_gets_a_row_with_every_generation_timed(arch):
    points = generate.generation_points(_model(arch), _measure(), torch.device("cpu"), 32)
    assert [p["batch_size"] for p in points] == [1, 2, 4]
    for p in points:
        assert p["row_kind"] == "generate" and p["status"] == "ok"
        assert (p["prompt_len"], p["new_tokens"]) == (12, 3)
        assert len(p["generate_times_s"]) == 3  # one per round
        totals = [
            a + b
            for a, b in zip(
                p["generate_prefill_times_s"], p["generate_decode_times_s"], strict=True
            )
        ]
        assert p["generate_times_s"] == totals
        median = sorted(totals)[1]
        assert p["generate_tokens_per_s"] == pytest.approx(p["batch_size"] * 3 / median)
        assert p["state_bytes"] == _model(arch).state_size(15) * 4
        assert p["memory_kind"] == "cpu_rss" and p["cuda_graphs"] is False


def test_generation_steps_from_the_state_a_prefill_leaves(monkeypatch):
    sizes = []
    real_step = SequenceModel.step

    def step(self, token, states):
        sizes.append(states[0]["k"].shape[2])  # the KV cache's length
        return real_step(self, token, states)

    monkeypatch.setattr(SequenceModel, "step", step)
    generate._Generation(_model(), _measure().generate, torch.device("cpu"), 2, 32).run()
    assert sizes[-3:] == [12, 13, 14]  # prompt, then one more token per step


class _OneGiB:
    """PeakMemory as if every generation peaked at 1 GiB (a tiny model's RSS may not move)."""

    def __init__(self, device):
        self.kind, self.bytes = "cpu_rss", float(2**30)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


def test_larger_batches_are_not_tried_past_the_memory_cap(monkeypatch):
    monkeypatch.setattr(generate, "PeakMemory", _OneGiB)
    points = generate.generation_points(
        _model(), _measure(max_memory_gb=0.5), torch.device("cpu"), 32
    )
    assert [p["status"] for p in points] == ["ok", "skipped", "skipped"]
    assert "max_memory_gb" in points[1]["error"]


def test_running_out_of_memory_stops_the_larger_batches(monkeypatch):
    real_run = generate._Generation.run

    def run(self):
        if self.batch_size >= 2:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_run(self)

    monkeypatch.setattr(generate._Generation, "run", run)
    points = generate.generation_points(_model(), _measure(), torch.device("cpu"), 32)
    assert [p["status"] for p in points] == ["ok", "oom", "oom"]
    assert "not attempted" in points[2]["error"]
    assert len(points[0]["generate_times_s"]) == 3


def test_generation_runs_in_the_dtype_it_names_and_the_model_comes_back():
    model = _model()
    points = generate.generation_points(
        model, _measure(dtype="bfloat16", batch_sizes=[1]), torch.device("cpu"), 32
    )
    assert points[0]["status"] == "ok" and points[0]["state_bytes"] == model.state_size(15) * 2
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_a_cost_sweep_with_a_generate_table_measures_generation():
    raw = tiny(
        kind="cost",
        grid={"architecture": ["lstm"]},
        measure={
            "repeats": 2,
            "generate": {"prompt_len": 8, "new_tokens": 2, "batch_sizes": [1, 2]},
        },
    )
    (run,) = build_sweep({**raw, "device": "cpu"}).runs
    assert run.to_dict()["measure"]["generate"]["prompt_len"] == 8
    record = execute(run)
    assert record["status"] == "ok"
    rows = store.records.record_rows({**record, "schema": 1})
    assert [r["row_kind"] for r in rows] == ["generate", "generate"]
    assert rows[1]["generate_tokens_per_s"] > 0


def test_a_cost_run_without_a_generate_table_keeps_its_hash():
    (run,) = build_sweep({**tiny(kind="cost", grid={"architecture": ["lstm"]},
                                 measure={"seq_lens": [8]}), "device": "cpu"}).runs  # fmt: skip
    assert "generate" not in run.to_dict()["measure"]


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"batch_sizes": [4, 2]}, "increasing"),
        ({"batch_sizes": []}, "not empty"),
        ({"prompt_len": 0}, "greater than 0"),
        ({"dtype": "float8"}, "dtype"),
    ],
)
def test_bad_generate_settings_are_one_line_errors(settings, words):
    raw = tiny(kind="cost", grid={"architecture": ["lstm"]}, measure={"generate": settings})
    with pytest.raises(SweepConfigError, match=words):
        build_sweep({**raw, "device": "cpu"})
