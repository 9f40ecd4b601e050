import json

import pytest

from bench import store
from bench.store.records import StoreError, load, load_curves, read_runs, write_run


def _record(config_hash="abc123", status="ok", points=None, **metrics):
    config = {
        "kind": "train",
        "architecture": "lstm",
        "task": "copy",
        "seed": 0,
        "device": "cpu",
        "model": {"d_model": 16, "n_layers": 1, "params": None, "arch": {"d_hidden": 8}},
        "task_config": {"alphabet": 5},
        "train": {"seq_len": 12, "steps": 3},
        "eval": {"seq_lens": [12, 20]},
        "measure": {"cost": True},
    }
    return {
        "config_hash": config_hash,
        "config": config,
        "status": status,
        "error": "",
        "metrics": {"params": 100, "train_tokens_per_s": 5.0, **metrics},
        "points": points
        if points is not None
        else [
            {"row_kind": "eval", "eval_seq_len": 12, "accuracy": 0.5, "status": "ok"},
            {"row_kind": "eval", "eval_seq_len": 20, "status": "oom", "error": "OOM"},
        ],
        "curve": [{"step": 1, "examples": 4, "loss": 2.0, "accuracy": 0.1}],
        "env": {"device": "cpu", "torch_version": "2.x"},
    }


def test_round_trip_gives_one_row_per_point_with_documented_columns(tmp_path):
    write_run(tmp_path, _record())
    frame = load(tmp_path)
    assert len(frame) == 2
    for column in store.COLUMNS:
        assert column in frame.columns
    first, second = frame.sort_values("eval_seq_len").to_dict("records")
    assert first["accuracy"] == 0.5 and first["status"] == "ok"
    assert second["status"] == "oom" and second["error"] == "OOM"  # a point's own status wins
    assert first["model.d_hidden"] == 8 and first["task.alphabet"] == 5
    assert first["train.seq_len"] == 12 and json.loads(first["eval.seq_lens"]) == [12, 20]
    assert json.loads(first["config_json"])["architecture"] == "lstm"
    curves = load_curves(tmp_path)
    assert curves.to_dict("records")[0]["loss"] == 2.0


def test_write_is_atomic_and_named_by_hash(tmp_path):
    path = write_run(tmp_path, _record("feedbeef"))
    assert path.name == "feedbeef.json"
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["feedbeef.json"]
    bad = _record("cafe")
    bad["metrics"]["unstorable"] = object()
    with pytest.raises(TypeError):
        write_run(tmp_path, bad)
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["feedbeef.json"]


def test_corrupt_and_foreign_files_are_skipped_with_a_warning(tmp_path):
    write_run(tmp_path, _record("good"))
    (tmp_path / "runs" / "broken.json").write_text("{not json")
    (tmp_path / "runs" / "foreign.json").write_text(json.dumps({"hello": 1}))
    with pytest.warns(UserWarning, match="skipping"):
        records = read_runs(tmp_path)
    assert [r["config_hash"] for r in records] == ["good"]
    assert store.finished(tmp_path) == {"good"}


def test_missing_or_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        load(tmp_path / "nope")
    with pytest.raises(StoreError, match="no runs/ folder"):
        load(tmp_path)


def test_the_code_fingerprint_becomes_columns(tmp_path):
    record = _record("withcode")
    record["code"] = {
        "block": "b" * 16,
        "task": "t" * 16,
        "modules": {"architectures.lstm": "1" * 16},
        "packages": {"seqbench-gru": "0.1.0"},
        "seqbench": "1a2b3c4",
        "dirty": True,
    }
    write_run(tmp_path, record)
    write_run(tmp_path, _record("older"))  # written before fingerprints: empty columns
    frame = load(tmp_path).drop_duplicates("config_hash").set_index("config_hash")
    assert frame.loc["withcode", "code_block"] == "b" * 16
    assert frame.loc["withcode", "code_task"] == "t" * 16
    assert bool(frame.loc["withcode", "code_dirty"]) is True
    assert json.loads(frame.loc["withcode", "code_packages"]) == {"seqbench-gru": "0.1.0"}
    assert frame.loc["older", ["code_block", "code_task", "code_dirty"]].isna().all()
    assert store.COLUMNS[-4:] == ["code_block", "code_task", "code_dirty", "code_packages"]


def test_a_run_log_is_written_whole_beside_its_run_file(tmp_path):
    path = store.write_log(tmp_path, "feedbeef", "step 1\n")
    assert path == store.log_path(tmp_path, "feedbeef") == tmp_path / "runs" / "feedbeef.log"
    assert path.read_text() == "step 1\n"
    assert store.finished(tmp_path) == set()  # a log alone is not a finished run

    class Unwritable:
        def __len__(self):
            return 1

    with pytest.raises(TypeError):
        store.write_atomic(tmp_path / "runs" / "other.log", Unwritable())
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["feedbeef.log"]


def _cost_record(config_hash: str, length_key: str) -> dict:
    """A cost-only run measured at 64 and 128; its points keep the length under
    ``length_key`` (``seq_len`` today, ``eval_seq_len`` before December 2026)."""
    record = _record(
        config_hash,
        points=[
            {"row_kind": "cost", length_key: length, "status": "ok", "prefill_tokens_per_s": 9.0}
            for length in (64, 128)
        ],
    )
    record["config"].update(kind="cost", task="none", task_config={}, train={}, eval={})
    return record


@pytest.mark.parametrize("length_key", ["seq_len", "eval_seq_len"], ids=["new", "old"])
def test_a_cost_row_keeps_its_length_as_seq_len_in_new_and_old_records(tmp_path, length_key):
    write_run(tmp_path, _cost_record("cost", length_key))
    write_run(tmp_path, _record("trained"))
    frame = load(tmp_path)
    cost = frame[frame["row_kind"] == "cost"]
    assert cost["seq_len"].tolist() == [64, 128]
    assert cost["eval_seq_len"].isna().all()  # nothing was evaluated
    evals = frame[frame["row_kind"] == "eval"]
    assert sorted(evals["eval_seq_len"]) == [12, 20] and evals["seq_len"].isna().all()
    on_disk = json.loads(store.run_path(tmp_path, "cost").read_text())["points"]
    assert [p[length_key] for p in on_disk] == [64, 128]  # load renames; the file stays


def test_lengths_no_row_has_are_missing_numbers(tmp_path):
    write_run(tmp_path, _cost_record("cost", "seq_len"))
    frame = load(tmp_path)
    assert frame["eval_seq_len"].dtype == float and frame["eval_seq_len"].isna().all()
    assert frame["seq_len"].tolist() == [64, 128]
