"""The comparison protocol: step budgets, same seed same numbers, cells, selection on
validation data, overrides that always apply, parameter matching with a tolerance."""

import json
import sys

import pandas as pd
import pytest
from _tiny import tiny, write_toml

from bench import store
from bench.analysis import tables
from bench.cli.app import main
from bench.launch import local as launch
from bench.launch import runner
from bench.report.markdown import markdown_summary
from bench.store import cells
from bench.sweep.config import SweepConfigError
from bench.sweep.load import build_sweep, load_sweep


def _sweep_to(out, raw):
    sweep = build_sweep(raw)
    launch.run_local(sweep.runs, sweep.name, out, lambda run, record: None, select=sweep.select)
    return store.load(out)


def _accuracy_columns(frame: pd.DataFrame) -> pd.DataFrame:
    columns = ["config_hash", "eval_seq_len", "accuracy", "exact_match", "final_loss"]
    columns += ["val_accuracy", "train_steps", "stop_reason"]
    return frame[columns].sort_values(["config_hash", "eval_seq_len"]).reset_index(drop=True)


def test_the_same_sweep_twice_gives_identical_numbers(tmp_path):
    raw = tiny(grid={"architecture": ["transformer", "lstm", "mamba"], "seed": [0, 1]})
    first = _sweep_to(tmp_path / "a", raw)
    second = _sweep_to(tmp_path / "b", raw)
    pd.testing.assert_frame_equal(_accuracy_columns(first), _accuracy_columns(second))
    assert (first["nondeterministic"] == "").all()  # no op without a deterministic kernel on CPU
    curves = [store.load_curves(tmp_path / d).sort_values(["config_hash", "step"]) for d in "ab"]
    pd.testing.assert_frame_equal(
        curves[0].reset_index(drop=True), curves[1].reset_index(drop=True)
    )


def _frame(rows):
    """A results table from (architecture, seed, lr, d_state, val, accuracy) rows."""
    records = []
    for i, (arch, seed, lr, d_state, val, acc) in enumerate(rows):
        records.append(
            {
                "config_hash": f"h{i}",
                "sweep": "s",
                "select": json.dumps(["train.lr"]),
                "row_kind": "eval",
                "architecture": arch,
                "task": "mqar",
                "seed": seed,
                "status": "ok",
                "train_seq_len": 64,
                "eval_seq_len": 64,
                "accuracy": acc,
                "exact_match": acc,
                "val_accuracy": val,
                "converged": True,
                "stop_reason": "early_stop",
                "train_steps": 100,
                "params": 1000,
                "train.lr": lr,
                "model.d_state": d_state,
                "git_commit": "c" * 40,
                "device_name": "cpu",
            }
        )
    return pd.DataFrame(records)


def test_selection_picks_the_best_validation_value_per_cell_not_the_best_reported():
    rows = [
        # mamba: lr 1e-3 wins on validation, though 3e-3 reads better on the eval set
        ("mamba", 0, 1e-3, 16, 0.90, 0.80),
        ("mamba", 1, 1e-3, 16, 0.92, 0.82),
        ("mamba", 0, 3e-3, 16, 0.50, 0.99),
        ("mamba", 1, 3e-3, 16, 0.52, 0.99),
        # the same architecture at another d_state is another cell: 3e-3 wins there
        ("mamba", 0, 1e-3, 8, 0.40, 0.40),
        ("mamba", 1, 1e-3, 8, 0.42, 0.40),
        ("mamba", 0, 3e-3, 8, 0.70, 0.70),
        ("mamba", 1, 3e-3, 8, 0.72, 0.70),
    ]
    prepared = cells.prepare(_frame(rows))
    assert set(prepared["variant"]) == {"d_state=16", "d_state=8"}
    chosen = prepared.groupby("variant")["selected"].first().to_dict()
    assert chosen == {"d_state=16": "lr=0.001", "d_state=8": "lr=0.003"}
    board = tables.leaderboard(_frame(rows))["mqar"]
    assert sorted(board["seeds"]) == ["2/2", "2/2"]
    by_variant = board.set_index("variant")
    assert by_variant.loc["d_state=16", "acc_train"] == pytest.approx(0.81)  # not 0.99
    table = cells.selections(_frame(rows))
    assert len(table) == 4 and table["chosen"].sum() == 2
    assert table["at_edge"].sum() == 2  # two lrs: whichever wins, the grid cannot bracket it


def test_a_choice_inside_the_grid_is_not_at_its_edge():
    rows = [
        ("mamba", seed, lr, 16, val, val)
        for seed in (0, 1)
        for lr, val in ((1e-3, 0.5), (3e-3, 0.9), (1e-2, 0.6))
    ]
    table = cells.selections(_frame(rows)).set_index("candidate")
    assert table["chosen"].idxmax() == "lr=0.003" and not table["at_edge"].any()
    rows = [(a, s, lr, d, 1.0 - val, e) for a, s, lr, d, val, e in rows]  # now 1e-3 wins
    table = cells.selections(_frame(rows)).set_index("candidate")
    assert table["at_edge"].idxmax() == "lr=0.001" and table["at_edge"].sum() == 1
    assert "(at the grid's edge" in markdown_summary(_frame(rows))


def test_without_selection_every_extra_axis_is_its_own_row():
    rows = [
        ("rwkv", 0, 1e-3, 16, 0.9, 0.9),
        ("rwkv", 1, 1e-3, 16, 0.9, 0.8),
        ("rwkv", 0, 3e-3, 16, 0.5, 0.5),
        ("rwkv", 1, 3e-3, 16, 0.5, 0.4),
    ]
    frame = _frame(rows).assign(select="[]")
    board = tables.leaderboard(frame)["mqar"]
    assert list(board["variant"]) == ["lr=0.001", "lr=0.003"]
    assert list(board["seeds"]) == ["2/2", "2/2"]
    assert list(board["acc_train"]) == pytest.approx([0.85, 0.45])


def test_runs_from_another_sweep_or_commit_are_never_averaged_together():
    rows = [("lstm", 0, 1e-3, 16, 0.5, 0.2), ("lstm", 1, 1e-3, 16, 0.5, 0.4)]
    frame = _frame(rows).assign(select="[]")
    frame.loc[1, "git_commit"] = "d" * 40
    board = tables.leaderboard(frame)["mqar"]
    assert len(board) == 2 and set(board["seeds"]) == {"1/1"}
    assert set(board["variant"]) == {"commit=ccccccc", "commit=ddddddd"}
    frame.loc[1, "git_commit"] = "c" * 40
    frame.loc[1, "sweep"] = "other"
    assert set(tables.leaderboard(frame)["mqar"]["variant"]) == {"sweep=s", "sweep=other"}


def test_selection_without_validation_accuracy_is_refused_in_one_line():
    frame = _frame([("lstm", 0, 1e-3, 16, 0.5, 0.2), ("lstm", 0, 3e-3, 16, 0.5, 0.4)])
    frame["val_accuracy"] = float("nan")
    with pytest.raises(cells.CellError, match=r"no val_accuracy.*--rerun"):
        cells.prepare(frame)


def test_an_lr_axis_with_two_seeds_end_to_end(tmp_path, monkeypatch, capsys):
    raw = tiny(grid={"architecture": ["lstm"], "seed": [0, 1], "train.lr": [1e-3, 3e-3]})
    config = write_toml(tmp_path / "lr.toml", raw)
    out = tmp_path / "lr"
    monkeypatch.setattr(sys, "argv", ["seqbench", "run", str(config), "--out", str(out)])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code in (0, None)
    printed = capsys.readouterr().out
    assert "lr=0.001" in printed and "lr=0.003" in printed and "2/2" in printed
    board = tables.leaderboard(store.load(out))["copy"]
    assert sorted(board["variant"]) == ["lr=0.001", "lr=0.003"]
    assert list(board["seeds"]) == ["2/2", "2/2"]

    raw["select"] = ["train.lr"]
    selected = tmp_path / "selected"
    frame = _sweep_to(selected, raw)
    board = tables.leaderboard(frame)["copy"]
    assert len(board) == 1 and board["seeds"].iloc[0] == "2/2"
    chosen = board["selected"].iloc[0]
    scores = frame.drop_duplicates("config_hash").groupby("train.lr")["val_accuracy"].mean()
    assert chosen == f"lr={scores.idxmax():g}"
    assert "Selection" in markdown_summary(frame)


def test_select_must_name_a_grid_axis_with_several_values():
    with pytest.raises(SweepConfigError, match="not a grid axis"):
        build_sweep(tiny(select=["train.lr"]))
    with pytest.raises(SweepConfigError, match="select over a setting axis"):
        build_sweep(tiny(select=["seed"]))


def test_set_applies_to_per_task_tables_and_grid_axes():
    sweep = load_sweep("quick", ["train.max_time_s=5", "train.steps=7"])
    assert {run.train.max_time_s for run in sweep.runs} == {5}
    assert {run.train.steps for run in sweep.runs} == {7}
    raw = tiny(grid={"architecture": ["lstm"], "train.lr": [1e-3, 3e-3]})
    overridden = build_sweep(raw, overrides=["train.lr=0.01"])
    assert [run.train.lr for run in overridden.runs] == [0.01]


def test_dry_run_shows_every_axis_that_varies(tmp_path, monkeypatch, capsys):
    raw = tiny(grid={"architecture": ["lstm"], "train.lr": [1e-3, 3e-3], "seed": [0, 1]})
    raw["select"] = ["train.lr"]
    config = write_toml(tmp_path / "lr.toml", raw)
    monkeypatch.setattr(sys, "argv", ["seqbench", "run", str(config), "--dry-run"])
    with pytest.raises(SystemExit):
        main()
    out = capsys.readouterr().out
    assert "train.lr (select)" in out and "0.003" in out
    assert "selects over train.lr" in out


def test_parameter_matching_tolerance_is_configurable():
    raw = tiny(grid={"architecture": ["lstm"]}, model={"params": 5000, "n_layers": 1})
    loose = build_sweep({**raw, "model": {**raw["model"], "params_tolerance": 0.5}})
    assert loose.runs[0].model.params_tolerance == 0.5
    with pytest.raises(SweepConfigError, match="params_tolerance"):
        build_sweep({**raw, "model": {**raw["model"], "params": 10, "params_tolerance": 0.01}})


def test_readme_parameter_matching_example_expands():
    # The transformer's widths come in steps of its head count, so 5% cannot reach 100k.
    with pytest.raises(SweepConfigError, match=r"raise model\.params_tolerance"):
        load_sweep("quick", ["model.params=100000"])
    sweep = load_sweep("quick", ["model.params=100000", "model.params_tolerance=0.1"])
    assert all(run.model.params == 100000 for run in sweep.runs)


def test_summary_table_marks_unconverged_cells():
    rows = [("lstm", 0, 1e-3, 16, 0.5, 0.2), ("lstm", 1, 1e-3, 16, 0.5, 0.4)]
    frame = _frame(rows).assign(select="[]", converged=[True, False])
    frame["stop_reason"] = ["early_stop", "steps"]
    for column in ("train_tokens_per_s", "peak_memory_train_bytes", "state_bytes"):
        frame[column] = 1.0
    table = runner.summary_table(frame)
    from rich.console import Console

    console = Console(width=250, record=True)
    console.print(table)
    text = console.export_text()
    assert "unconverged (1 of 1)" in text and "0.30 @64*" in text
    assert "100 early/budget" in text  # steps, and why the two seeds stopped


def test_a_per_task_table_shadowed_by_a_grid_axis_is_refused():
    raw = tiny(grid={"architecture": ["lstm"], "train.steps": [4, 6]})
    raw["train"]["copy"] = {"steps": 100}
    with pytest.raises(SweepConfigError, match=r"train\.copy\.steps is shadowed by the grid axis"):
        build_sweep(raw)


def test_a_long_convolution_is_laid_out_over_the_training_length():
    sweep = build_sweep(tiny(grid={"architecture": ["monarch", "lstm"]}))
    by_arch = {run.architecture: run.model.arch for run in sweep.runs}
    assert by_arch["monarch"]["l_max"] == 12 and "l_max" not in by_arch["lstm"]
    pinned = tiny(grid={"architecture": ["monarch"]}, model={"monarch": {"l_max": 64}})
    assert build_sweep(pinned).runs[0].model.arch["l_max"] == 64


def test_block_placement_is_the_models_to_set():
    raw = tiny(grid={"architecture": ["mamba"]}, model={"mamba": {"n_layers": 3}})
    with pytest.raises(SweepConfigError, match=r"model\.mamba\.n_layers is set by the model"):
        build_sweep(raw)
