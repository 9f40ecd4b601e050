"""The harness end to end on tiny runs: results, failures as results, resume."""

import json
import math

import pytest
import torch
from _tiny import tiny

from bench import store
from bench.launch import cluster as ray_launch
from bench.launch import local as launch
from bench.run import cost, executor, train
from bench.run.measure import keep_freed_memory
from bench.run.train import execute
from bench.sweep.load import build_sweep
from bench.sweep.resolve import match_width


def _run(**changes):
    return build_sweep(tiny(**changes)).runs[0]


def test_tiny_run_records_metrics_points_and_environment():
    record = execute(_run())
    assert record["status"] == "ok", record.get("traceback")
    m = record["metrics"]
    assert m["train_steps"] == 6 and m["params"] > 0 and m["d_model"] == 16
    for key in ("train_tokens_per_s", "prefill_tokens_per_s", "decode_tokens_per_s"):
        assert m[key] > 0, key
    assert m["memory_kind"] == "cpu_rss" and m["backend"] == "torch"
    assert [p["eval_seq_len"] for p in record["points"]] == [12, 20]
    assert all(0 <= p["accuracy"] <= 1 for p in record["points"])
    # transformer: the KV cache grows, 2·L·D numbers × layers × 4 bytes
    assert [p["state_bytes"] for p in record["points"]] == [2 * 12 * 16 * 4, 2 * 20 * 16 * 4]
    assert [c["step"] for c in record["curve"]] == [2, 4, 6]
    assert record["env"]["torch_version"] == torch.__version__
    assert record["env"]["cpu_allocator"] == keep_freed_memory()  # what the timings ran under


def test_runs_are_deterministic_under_a_seed():
    a, b = execute(_run()), execute(_run())
    assert a["metrics"]["final_loss"] == b["metrics"]["final_loss"]
    assert [p["accuracy"] for p in a["points"]] == [p["accuracy"] for p in b["points"]]
    c = execute(_run(grid={"seed": [1]}))
    assert c["metrics"]["final_loss"] != a["metrics"]["final_loss"]


def test_needle_rows_cover_every_depth():
    record = execute(
        _run(
            grid={"task": ["needle"]},
            train={"seq_len": 16},
            eval={"seq_lens": [16], "depths": [0.0, 1.0]},
        )
    )
    assert record["status"] == "ok"
    assert [p["needle_depth"] for p in record["points"]] == [0.0, 1.0]


def test_early_stop_records_steps_to_threshold(monkeypatch):
    # A threshold of a tiny accuracy is reached at once: training stops there.
    record = execute(_run(train={"early_stop": 0.001, "steps": 50}))
    m = record["metrics"]
    assert m["steps_to_threshold"] is not None and m["stop_reason"] == "early_stop"
    # checked every log_every=2 steps: training stops at the first check after the hit
    assert m["steps_to_threshold"] <= m["train_steps"] < m["steps_to_threshold"] + 2 < 50
    assert m["train_examples"] == m["train_steps"] * 4  # batch_size 4


def test_a_run_that_uses_its_budget_says_so_and_is_unconverged():
    record = execute(_run(train={"steps": 6, "early_stop": 1.0}))  # never reached on a tiny run
    m = record["metrics"]
    assert m["stop_reason"] == "steps" and m["train_steps"] == 6 and m["train_examples"] == 24
    row = store.record_rows(record)[0]
    assert row["converged"] is False and row["stop_reason"] == "steps"
    without_threshold = execute(_run(train={"early_stop": None}))
    assert store.record_rows(without_threshold)[0]["converged"] is True


def test_time_cap_stops_training_and_is_recorded():
    record = execute(_run(train={"steps": 10_000, "max_time_s": 0.5, "early_stop": None}))
    m = record["metrics"]
    assert record["status"] == "ok" and m["train_steps"] < 10_000
    assert m["stop_reason"] == "time_cap"
    assert record["curve"][-1]["step"] == m["train_steps"]  # the curve shows where it ended
    assert store.record_rows(record)[0]["converged"] is False


def test_the_time_cap_is_off_by_default():
    assert _run().train.max_time_s is None


def test_validation_accuracy_is_measured_on_its_own_examples():
    import tasks

    run = _run()
    record = execute(run)
    assert 0 <= record["metrics"]["val_accuracy"] <= 1

    seen: dict[str, list[torch.Tensor]] = {"val": [], "eval": []}
    copy_task = tasks.create("copy", **run.task_config)

    class Recording:
        vocab_size = copy_task.vocab_size

        def __init__(self, split):
            self.split = split

        def sample(self, *args, **kwargs):
            batch = copy_task.sample(*args, **kwargs)
            seen[self.split].append(batch.inputs)
            return batch

    model = train.build_model(run, copy_task.vocab_size)
    for split in ("val", "eval"):
        train.evaluate(model, Recording(split), run, torch.device("cpu"), 12, split=split)
    val, evaluation = torch.cat(seen["val"]), torch.cat(seen["eval"])
    assert len(val) == run.eval.val_n and len(evaluation) == run.eval.n
    # the validation examples are not the reported evaluation examples
    assert not torch.equal(val[: len(evaluation)], evaluation)


def test_nan_loss_is_recorded_as_diverged(monkeypatch):
    monkeypatch.setattr(train, "_loss", lambda logits, targets: logits.sum() * float("nan"))
    record = execute(_run())
    assert record["status"] == "diverged" and "loss became nan" in record["error"]
    assert record["metrics"]["stop_reason"] == "diverged" and record["metrics"]["train_steps"] == 2


def test_oom_during_training_is_a_result(monkeypatch):
    def boom(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")

    monkeypatch.setattr(train, "train", boom)
    record = execute(_run())
    assert record["status"] == "oom" and "out of memory" in record["error"]


def test_oom_at_one_eval_length_is_a_point(monkeypatch):
    real = train.evaluate

    def evaluate(model, task, run, device, seq_len, **kwargs):
        if seq_len == 20:
            raise RuntimeError("CUDA out of memory (injected)")
        return real(model, task, run, device, seq_len, **kwargs)

    monkeypatch.setattr(train, "evaluate", evaluate)
    record = execute(_run())
    assert record["status"] == "ok"
    assert [p["status"] for p in record["points"]] == ["ok", "oom"]


def test_an_exception_is_recorded_as_error(monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("something inside a block broke")

    monkeypatch.setattr(train, "train", broken)
    record = execute(_run())
    assert record["status"] == "error" and "something inside a block broke" in record["error"]
    assert "Traceback" in record["traceback"]


def test_cost_run_measures_every_length_and_oom_stops_longer_ones(monkeypatch):
    raw = tiny(kind="cost", measure={"seq_lens": [8, 16, 32, 64]})
    run = build_sweep(raw).runs[0]
    progress = []
    record = execute(run, lambda done, total: progress.append((done, total)))
    assert record["status"] == "ok"
    assert progress == [(1, 4), (2, 4), (3, 4), (4, 4)]  # the progress bar moves per length
    points = record["points"]
    assert [p["seq_len"] for p in points] == [8, 16, 32, 64]
    assert all(p["row_kind"] == "cost" and p["train_tokens_per_s"] > 0 for p in points)
    assert points[-1]["state_bytes"] == 8 * points[0]["state_bytes"]  # attention: grows with L

    real = cost.measure_cost

    def measure_cost(model, measure, dtype, device, seq_len, vocab_size, counts=None):
        if seq_len >= 32:
            raise torch.cuda.OutOfMemoryError("out of memory (injected)")
        return real(model, measure, dtype, device, seq_len, vocab_size, counts)

    monkeypatch.setattr(cost, "measure_cost", measure_cost)
    points = execute(run)["points"]
    assert [p["status"] for p in points] == ["ok", "ok", "oom", "oom"]
    assert "not attempted" in points[-1]["error"]


def test_parameter_matching_picks_widths_within_five_percent():
    target = 80_000
    for arch in ("transformer", "lstm"):
        d = match_width(arch, vocab_size=32, n_layers=2, settings={}, target=target)
        from architectures import SequenceModel

        n = SequenceModel(arch, 32, d, 2).num_params()
        assert abs(n - target) <= 0.05 * target, (arch, d, n)
    record = execute(_run(model={"params": 80_000}))
    assert abs(record["metrics"]["params"] - 80_000) <= 3_000


def test_sweep_resumes_after_a_kill(tmp_path, monkeypatch):
    sweep = build_sweep(tiny(grid={"task": ["copy", "induction"]}))
    seen = []

    def killed_after_first(run, record):
        seen.append(run.hash)
        raise KeyboardInterrupt  # the user presses Ctrl-C after the first run

    with pytest.raises(KeyboardInterrupt):
        launch.run_local(sweep.runs, sweep.name, tmp_path, killed_after_first)
    assert store.finished(tmp_path) == set(seen)
    pending, done = launch.split_done(sweep, tmp_path)
    assert len(done) == 1 and len(pending) == 3

    executed = []
    real = executor.execute
    monkeypatch.setattr(
        executor,
        "execute",
        lambda run, cb=None, code=None: executed.append(run.hash) or real(run, cb, code),
    )
    launch.run_local(pending, sweep.name, tmp_path, lambda run, record: None)
    assert seen[0] not in executed and len(executed) == 3
    frame = store.load(tmp_path)
    assert frame["config_hash"].nunique() == 4 and set(frame["sweep"]) == {"tiny"}
    assert not list((tmp_path / "runs").glob(".tmp-*"))


def test_dry_run_estimate_is_finite_and_positive():
    for run in build_sweep(tiny()).runs:
        seconds = launch.estimate_seconds(run)
        assert 0 < seconds < 600 and math.isfinite(seconds)


def test_a_finished_run_file_keeps_its_layout(tmp_path):
    run = _run()
    path = executor.save(tmp_path, "tiny", executor.execute_run(run), ["train.lr"])
    saved = json.loads(path.read_text())
    assert list(saved) == [
        "schema",
        "config_hash",
        "config",
        "status",
        "error",
        "metrics",
        "points",
        "curve",
        "nondeterministic",
        "timing_spread",
        "env",
        "code",
        "sweep",
        "select",
        "finished_at",
    ]


def test_a_run_ray_lost_has_the_record_keys_of_a_local_failure(monkeypatch):
    run = _run()
    monkeypatch.setattr(train, "train", lambda *a, **k: (_ for _ in ()).throw(ValueError("x")))
    local = executor.execute_run(run)

    class LostWorker:  # what ray.get does for a task whose worker died
        def get(self, ref):
            raise RuntimeError("the worker died")

    remote, from_worker = ray_launch._collect(LostWorker(), None, run)
    assert not from_worker and (local["status"], remote["status"]) == ("error", "error")
    assert list(remote) == list(local)
    assert set(remote["env"]) == set(local["env"]) and set(remote["code"]) == set(local["code"])


def test_a_record_has_a_known_status():
    with pytest.raises(ValueError, match="status='lost' must be one of ok, error, oom"):
        store.run_record(_run(), {}, status="lost")


def test_a_run_builds_its_task_once(monkeypatch):
    """Resolving (the vocabulary parameter matching needs, the length checks) and executing
    share one task instance."""
    import tasks
    from bench.sweep import resolve

    copy_task = tasks.get("copy")
    built = []
    real_init = copy_task.__init__

    def counting_init(self, *args, **kwargs):
        built.append(type(self).__name__)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(copy_task, "__init__", counting_init)
    resolve._build_task.cache_clear()  # no instance left by an earlier test
    run = _run(grid={"architecture": ["lstm"]}, model={"params": 20_000, "params_tolerance": 0.5})
    assert len(built) == 1  # for the width, the length checks and sampling one example
    assert execute(run)["status"] == "ok"
    assert len(built) == 1
