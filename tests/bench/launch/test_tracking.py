"""--log tensorboard / --log wandb: each run's config, curve and metrics, read back offline."""

import time
from pathlib import Path

import pytest
from _cli import seqbench
from _tiny import tiny, write_toml

from bench import store
from bench.launch import tracking
from bench.launch.local import execute_run, save
from bench.sweep.load import build_sweep


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One real tiny run and its record, as the driver holds it after saving."""
    sweep = build_sweep(tiny(grid={"architecture": ["lstm"], "task": ["copy"]}))
    (run,) = sweep.runs
    record = execute_run(run)
    save(tmp_path_factory.mktemp("run"), sweep.name, record)
    return run, record


def test_tensorboard_event_files_hold_config_curve_and_metrics(finished, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run, record = finished
    (tracker,) = tracking.open_trackers(["tensorboard"], tmp_path, "tiny")
    tracker.log(run, record)
    (folder,) = (tmp_path / "tensorboard").iterdir()
    assert folder.name == f"lstm-copy-seed0-{record['config_hash'][:8]}"
    events = EventAccumulator(str(folder), size_guidance={"tensors": 0, "scalars": 0})
    events.Reload()
    losses = [(e.step, e.value) for e in events.Scalars("train/loss")]
    assert losses == [(p["step"], pytest.approx(p["loss"], rel=1e-6)) for p in record["curve"]]
    (accuracy,) = events.Scalars("eval/accuracy@12")
    assert accuracy.step == record["metrics"]["train_steps"]
    assert accuracy.value == pytest.approx(record["points"][0]["accuracy"], rel=1e-6)
    (params,) = events.Scalars("metrics/params")
    assert params.value == record["metrics"]["params"]
    (config,) = events.Tensors("config/text_summary")
    assert record["config_hash"] in config.tensor_proto.string_val[0].decode()


def _wandb_records(path):
    """The records of an offline W&B run file: W&B's LevelDB-style log (a 7-byte header,
    then 32 KiB blocks of chunks with a 7-byte header each) of protobuf ``Record``s."""
    from wandb.proto.wandb_internal_pb2 import Record

    data = Path(path).read_bytes()
    assert data[:4] == b":W&B"
    position, block, records, pending = 7, 32768, [], b""
    while position + 7 <= len(data):
        left = block - position % block
        length, kind = (
            int.from_bytes(data[position + 4 : position + 6], "little"),
            data[position + 6],
        )
        if left < 7 or (length == 0 and kind == 0):  # block trailer or padding
            position += left
            continue
        if position + 7 + length > len(data):  # still being written
            break
        pending += data[position + 7 : position + 7 + length]
        position += 7 + length
        if kind in (1, 4):  # a whole record, or the last chunk of one
            record = Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def _key(item):
    return "/".join(item.nested_key) or item.key


def test_wandb_offline_run_holds_config_curve_and_metrics(finished, tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    import json

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_PROJECT", "seqbench-test")
    run, record = finished
    (tracker,) = tracking.open_trackers(["wandb"], tmp_path, "tiny")
    tracker.log(run, record)
    # W&B's service process writes the run file; under load it may still be writing.
    deadline, records = time.monotonic() + 60, []
    while time.monotonic() < deadline:
        files = list((tmp_path / "wandb").glob("offline-run-*/run-*.wandb"))
        records = _wandb_records(files[0]) if len(files) == 1 else []
        if any(r.WhichOneof("record_type") == "exit" for r in records):
            break
        time.sleep(0.2)
    (header,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    assert header.display_name == f"lstm-copy-seed0-{record['config_hash'][:8]}"
    assert (header.run_group, header.project) == ("tiny", "seqbench-test")
    config = {_key(i): json.loads(i.value_json) for i in header.config.update}
    assert config["config_hash"] == record["config_hash"] and config["train.lr"] == 3e-3
    history = [
        {_key(i): json.loads(i.value_json) for i in r.history.item}
        for r in records
        if r.WhichOneof("record_type") == "history"
    ]
    assert [(h["_step"], h["train/loss"]) for h in history] == [
        (p["step"], pytest.approx(p["loss"])) for p in record["curve"]
    ]
    summary = {}
    for r in records:
        if r.WhichOneof("record_type") == "summary":
            summary.update({_key(i): json.loads(i.value_json) for i in r.summary.update})
    assert summary["eval/accuracy@12"] == pytest.approx(record["points"][0]["accuracy"])
    assert summary["status"] == "ok"


def test_sweep_with_log_tensorboard_writes_one_event_folder_per_run(tmp_path, monkeypatch, capsys):
    pytest.importorskip("tensorboard")
    config = write_toml(tmp_path / "tiny.toml", tiny(measure={"cost": False}))
    out = tmp_path / "r"
    code, _, err = seqbench(
        monkeypatch, capsys, "run", str(config), "--out", str(out), "--log", "tensorboard"
    )
    assert code == 0, err
    hashes = {r["config_hash"][:8] for r in store.read_runs(out)}
    folders = {p.name.rsplit("-", 1)[1] for p in (out / "tensorboard").iterdir()}
    assert folders == hashes and len(hashes) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--log", "mlflow"], "'mlflow' is not one of 'wandb', 'tensorboard'"),
        (["--log", "wandb"], "--log wandb needs the wandb package: pip install 'seqbench[track]'"),
    ],
)
def test_an_unusable_tracker_is_one_line_exit_2_before_anything_runs(
    tmp_path, monkeypatch, capsys, args, message
):
    real = tracking.importlib.util.find_spec
    monkeypatch.setattr(
        tracking.importlib.util, "find_spec", lambda name: None if name == "wandb" else real(name)
    )
    config = write_toml(tmp_path / "tiny.toml", tiny())
    out = tmp_path / "r"
    code, _, err = seqbench(monkeypatch, capsys, "run", str(config), "--out", str(out), *args)
    assert code == 2
    assert message in err and err.strip().count("\n") == 0
    assert not out.exists()


def test_a_tracker_that_fails_warns_and_the_sweep_goes_on(tmp_path, monkeypatch, capsys):
    class Broken:
        name = "broken"

        def log(self, run, record):
            raise ConnectionError("tracker unreachable")

        def close(self):
            pass

    monkeypatch.setattr(tracking, "open_trackers", lambda names, out, sweep: [Broken()])
    config = write_toml(tmp_path / "tiny.toml", tiny(measure={"cost": False}))
    code, out, err = seqbench(
        monkeypatch, capsys, "run", str(config), "--out", str(tmp_path / "r"), "--log", "wandb"
    )
    assert code == 0, err
    assert out.count("warning: broken could not log") == 2 and "tracker unreachable" in out
    assert len(store.read_runs(tmp_path / "r")) == 2
