"""Sweeps on Ray: same rows as locally, crashes become error records, Ctrl-C and resume."""

import os
import sys
import time

import pytest
from _tiny import tiny, write_toml

from bench import store
from bench.cli import app as cli
from bench.launch import cluster as ray_launch
from bench.launch import local as launch
from bench.run import train
from bench.sweep.load import build_sweep

ray = pytest.importorskip("ray")

COMPARED = ["accuracy", "exact_match", "final_loss", "params", "state_bytes"]


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


def _rows(folder):
    frame = store.load(folder).sort_values(["config_hash", "eval_seq_len"])
    return frame[["config_hash", "eval_seq_len", "status", "sweep", *COMPARED]].reset_index(
        drop=True
    )


def test_a_sweep_on_ray_gives_the_same_rows_as_locally(cluster, tmp_path):
    sweep = build_sweep(tiny())
    launch.run_local(sweep.runs, sweep.name, tmp_path / "local", lambda run, record: None)
    seen = []
    ray_launch.run_ray(
        sweep.runs, sweep.name, tmp_path / "ray", lambda run, record: seen.append(run.hash)
    )
    assert sorted(seen) == sorted(run.hash for run in sweep.runs)
    local, remote = _rows(tmp_path / "local"), _rows(tmp_path / "ray")
    assert (remote["status"] == "ok").all() and len(remote) == 4  # 2 runs × 2 eval lengths
    assert remote.equals(local)
    assert not list((tmp_path / "ray" / "runs").glob(".tmp-*"))


def test_a_worker_that_dies_is_retried_once_then_recorded_as_error(cluster, tmp_path):
    sweep = build_sweep(tiny())
    doomed = sweep.runs[0].hash
    attempts = tmp_path / "attempts"
    attempts.mkdir()

    def crashing_worker(config):  # nested, so Ray ships it by value
        from bench.sweep.config import RunConfig

        if RunConfig.from_dict(config).hash == doomed:
            (attempts / str(time.time_ns())).touch()
            os._exit(1)  # the process vanishes, as on a segfault or a lost node
        return ray_launch.execute_on_worker(config)

    statuses = {}
    ray_launch.run_ray(
        sweep.runs,
        sweep.name,
        tmp_path / "out",
        lambda run, record: statuses.update({run.hash: record["status"]}),
        worker=crashing_worker,
    )
    assert len(list(attempts.iterdir())) == 1 + ray_launch.MAX_RETRIES
    assert statuses == {doomed: "error", sweep.runs[1].hash: "ok"}  # the sweep went on
    (record,) = [r for r in store.read_runs(tmp_path / "out") if r["config_hash"] == doomed]
    assert "WorkerCrashedError" in record["error"] and record["sweep"] == "tiny"
    assert record["config"] == sweep.runs[0].to_dict()
    frame = store.load(tmp_path / "out")
    assert set(frame.loc[frame["config_hash"] == doomed, "status"]) == {"error"}


def test_error_records_have_the_shape_of_a_local_failure(monkeypatch):
    run = build_sweep(tiny()).runs[0]
    monkeypatch.setattr(train, "train", lambda *a, **k: (_ for _ in ()).throw(ValueError("x")))
    local = train.execute(run)
    remote = ray_launch.error_record(run, ray.exceptions.WorkerCrashedError())
    assert set(remote) == set(local) and set(remote["env"]) == set(local["env"])
    assert (remote["status"], remote["metrics"], remote["points"]) == ("error", {}, [])


def test_interrupt_keeps_finished_runs_and_resume_runs_only_the_rest(cluster, tmp_path):
    sweep = build_sweep(tiny(grid={"task": ["copy", "induction"]}))
    first = []

    def ctrl_c_after_first(run, record):
        first.append(run.hash)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ray_launch.run_ray(sweep.runs, sweep.name, tmp_path, ctrl_c_after_first)
    done = store.finished(tmp_path)
    assert first[0] in done and len(done) < 4
    deadline = time.monotonic() + 20  # cancelled tasks give their CPUs back
    while ray.available_resources().get("CPU", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ray.available_resources().get("CPU", 0) == 2
    kept = {h: store.run_path(tmp_path, h).read_text() for h in done}

    pending, finished = launch.split_done(sweep, tmp_path)
    assert {run.hash for run in finished} == done
    executed = []
    ray_launch.run_ray(pending, sweep.name, tmp_path, lambda run, record: executed.append(run.hash))
    assert sorted(executed) == sorted(run.hash for run in pending) and not done & set(executed)
    assert {h: store.run_path(tmp_path, h).read_text() for h in done} == kept
    assert store.finished(tmp_path) == {run.hash for run in sweep.runs}


def test_a_run_no_node_can_hold_is_an_error_not_a_hang(cluster, tmp_path):
    sweep = build_sweep(tiny())
    with pytest.raises(ray_launch.RayError, match="needs 1 CPU and 1 GPU"):
        ray_launch.run_ray(sweep.runs, sweep.name, tmp_path, lambda r, x: None, gpus_per_run=1)
    assert store.finished(tmp_path) == set()


def test_without_ray_the_cli_says_what_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    config = write_toml(tmp_path / "tiny.toml", tiny())
    monkeypatch.setattr(sys, "argv", ["seqbench", "run", str(config), "--ray", "--out", "x"])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: --ray needs Ray: pip install 'seqbench[ray]'"
