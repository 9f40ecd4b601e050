"""Which attention kernel runs, and pinning one for a run (bench.run.attention)."""

import pytest
import torch
import torch.nn.functional as F
from _tiny import tiny

from architectures import SequenceModel
from bench.run import attention
from bench.run.train import execute
from bench.sweep.config import SweepConfigError
from bench.sweep.load import build_sweep


def _model(arch="transformer"):
    torch.manual_seed(0)
    return SequenceModel(arch, 32, 32, 1)


def test_a_cpu_runs_the_fused_kernel_unless_the_math_path_is_pinned():
    model = _model()
    assert attention.kernel_used(model, 32) == "flash (cpu)"
    attention.pin(model, "math")
    assert attention.kernel_used(model, 32) == "math"


def test_a_model_without_attention_names_no_kernel():
    assert attention.kernel_used(_model("mamba"), 32) == ""


def test_the_pin_is_left_when_a_forward_raises(monkeypatch):
    model = _model()
    attention.pin(model, "math")
    monkeypatch.setattr(model.blocks[0], "forward", lambda x: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        model(torch.zeros(1, 4, dtype=torch.long))
    q = torch.randn(1, 2, 8, 4)
    with attention._Ops() as ops:
        F.scaled_dot_product_attention(q, q, q)
    assert attention.kernel_in(ops.names) == "flash (cpu)"


def test_a_cost_run_records_the_kernel_it_was_pinned_to():
    raw = tiny(kind="cost", grid={"architecture": ["transformer"]},
               measure={"seq_lens": [8, 16], "attention": "math"})  # fmt: skip
    (run,) = build_sweep({**raw, "device": "cpu"}).runs
    assert run.to_dict()["measure"]["attention"] == "math"
    record = execute(run)
    assert record["status"] == "ok" and record["metrics"]["attention_kernel"] == "math"


def test_auto_keeps_the_config_hash_of_a_run_that_never_named_a_kernel():
    raw = tiny(kind="cost", grid={"architecture": ["transformer"]}, measure={"seq_lens": [8]})
    (run,) = build_sweep({**raw, "device": "cpu"}).runs
    assert "attention" not in run.to_dict()["measure"]
    pinned = tiny(kind="cost", grid={"architecture": ["transformer"]},
                  measure={"seq_lens": [8], "attention": "auto"})  # fmt: skip
    assert build_sweep({**pinned, "device": "cpu"}).runs[0].hash == run.hash


def test_a_cuda_kernel_on_a_cpu_is_a_one_line_error():
    raw = tiny(kind="cost", grid={"architecture": ["transformer"]},
               measure={"seq_lens": [8], "attention": "efficient"})  # fmt: skip
    with pytest.raises(SweepConfigError, match="CUDA kernel"):
        build_sweep({**raw, "device": "cpu"})
