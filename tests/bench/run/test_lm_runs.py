"""The harness on the text task: which split each stream reads, the language-model metrics
and the corpus in every run record, and lengths checked against the corpus before a run."""

import json
import sys

import pytest
import torch
from _tiny import tiny, write_toml

import tasks
from bench import store
from bench.cli.app import main
from bench.run import executor, lm, train
from bench.run.train import execute
from bench.sweep.config import SweepConfigError, TrainSection
from bench.sweep.load import build_sweep

TEXT = {
    "grid": {"architecture": ["lstm"], "task": ["text"], "seed": [0]},
    "train": {"seq_len": 70, "early_stop": False},
    "eval": {"seq_lens": [70, 300]},
    "measure": {"cost": False},
}


def _text_run(**changes):
    raw = tiny(**TEXT)
    for key, value in changes.items():
        raw[key] = {**raw.get(key, {}), **value}
    return build_sweep(raw).runs[0]


@pytest.fixture(scope="module")
def record():
    return execute(_text_run())


def test_a_text_run_records_its_corpus_and_language_model_metrics(record):
    assert record["status"] == "ok", record.get("traceback")
    identity = tasks.create("text").corpus_identity()
    assert record["corpus"] == identity  # name, sizes and the SHA-256 of every split
    metrics = record["metrics"]
    assert metrics["stop_reason"] == "steps"  # early_stop = false: the budget is the steps
    assert 0 < metrics["val_bits_per_byte"] < 9
    assert metrics["unigram_bits_per_byte"] == pytest.approx(tasks.create("text").unigram_entropy())
    first, second = record["points"]
    assert first["position_buckets"] == ["0-63", "64-69"]
    assert second["position_buckets"] == ["0-63", "64-255", "256-299"]
    for point in record["points"]:
        assert 0 < point["bits_per_byte"] < 9 and 0 <= point["recall_fraction"] < 1
        f = point["recall_fraction"]
        mixed = f * point["recall_bits_per_byte"] + (1 - f) * point["other_bits_per_byte"]
        assert mixed == pytest.approx(point["bits_per_byte"])
        assert len(point["position_bits_per_byte"]) == len(point["position_buckets"])
    json.dumps(record)  # a run file holds it as it is


def test_synthetic_runs_record_no_corpus():
    record = execute(build_sweep(tiny(measure={"cost": False})).runs[0])
    assert "corpus" not in record and "val_bits_per_byte" not in record["metrics"]
    assert "bits_per_byte" not in record["points"][0]


def test_validation_reads_the_validation_split_and_evaluation_the_test_split():
    run = _text_run()
    text = tasks.create("text")
    asked: list[dict] = []

    class Recording:
        sample_arg_names = text.sample_arg_names
        vocab_size = text.vocab_size
        lm_metrics = text.lm_metrics

        def sample(self, *args, **kwargs):
            asked.append(kwargs)
            return text.sample(*args, **kwargs)

    model = train.build_model(run, text.vocab_size)
    for split in ("val", "eval"):
        out = train.evaluate(model, Recording(), run, torch.device("cpu"), 70, split=split)
        assert "bits_per_byte" in out
    assert {a["split"] for a in asked[:2]} == {"validation"}  # val_n=8 in batches of 4
    assert {a["split"] for a in asked[2:]} == {"test"}
    # a task without splits is asked for none (its sampling would refuse the argument)
    assert lm.split_args(tasks.create("copy"), "eval") == {}


def test_the_run_file_and_table_carry_the_corpus_digest(record, tmp_path):
    executor.save(tmp_path, "text", record, ["train.lr"])
    log = store.log_path(tmp_path, record["config_hash"]).read_text()
    assert "bits per byte" in log and "validation bits per byte" in log
    frame = store.load(tmp_path)
    assert set(frame["corpus_sha256"]) == {record["corpus"]["sha256"]}
    assert set(frame["corpus_name"]) == {"stdlib"}
    assert frame["bits_per_byte"].between(0, 9).all()
    assert list(frame["position_buckets"].iloc[1]) == ["0-63", "64-255", "256-299"]


def test_lengths_past_the_corpus_are_refused_before_anything_runs(tmp_path, monkeypatch, capsys):
    longest = tasks.create("text").max_seq_len
    with pytest.raises(SweepConfigError, match=rf"too long for task text.*at most {longest}"):
        build_sweep(tiny(**{**TEXT, "eval": {"seq_lens": [70, longest + 1]}}))
    config = write_toml(
        tmp_path / "long.toml", tiny(**{**TEXT, "eval": {"seq_lens": [longest + 1]}})
    )
    out = tmp_path / "out"
    monkeypatch.setattr(sys, "argv", ["seqbench", "run", str(config), "--out", str(out)])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "too long for task text" in err
    assert not out.exists()  # nothing half-written


def test_early_stop_false_turns_it_off():
    assert TrainSection(early_stop=False).early_stop is None
    assert TrainSection().early_stop == 0.99  # the default (and every pinned hash) unchanged
