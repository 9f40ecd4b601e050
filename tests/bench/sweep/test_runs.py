"""Which setting wins (bench.sweep.runs): the file's shared table, its per-task tables, the
grid, then --set, shared and per-task; and the frozen keys the sweep's caches use."""

import copy

import pytest
from _tiny import tiny

from bench.sweep.config import SweepConfigError
from bench.sweep.frozen import freeze, thaw
from bench.sweep.load import build_sweep

TWO_TASKS = tiny(
    grid={"task": ["copy", "induction"]},
    train={"copy": {"steps": 4}, "induction": {"batch_size": 8}},
)


def _by_task(runs, read):
    """{task: the one value ``read`` gives for its runs}; a task with two values fails."""
    values = {}
    for run in runs:
        values.setdefault(run.task, set()).add(read(run))
    assert all(len(seen) == 1 for seen in values.values()), values
    return {task: seen.pop() for task, seen in values.items()}


def test_without_set_a_per_task_table_beats_the_shared_one():
    runs = build_sweep(TWO_TASKS).runs
    assert _by_task(runs, lambda r: r.train.steps) == {"copy": 4, "induction": 6}
    assert _by_task(runs, lambda r: r.train.batch_size) == {"copy": 4, "induction": 8}


def test_a_set_beats_the_shared_table_and_every_per_task_table():
    runs = build_sweep(TWO_TASKS, overrides=["train.steps=3", "train.batch_size=2"]).runs
    assert _by_task(runs, lambda r: r.train.steps) == {"copy": 3, "induction": 3}
    assert _by_task(runs, lambda r: r.train.batch_size) == {"copy": 2, "induction": 2}


def test_a_grid_axis_named_by_a_set_becomes_that_one_value():
    raw = {**TWO_TASKS, "grid": {**TWO_TASKS["grid"], "train.lr": [1e-3, 3e-3]}}
    assert len(build_sweep(raw).runs) == 2 * 2 * 2
    sweep = build_sweep(raw, overrides=["train.lr=0.01"])
    assert len(sweep.runs) == 2 * 2 and {r.train.lr for r in sweep.runs} == {0.01}
    assert sweep.config.grids[0]["train.lr"] == [0.01]
    assert "train.lr" not in sweep.varying_axes()


def test_a_per_task_set_beats_a_shared_set_in_either_order():
    for order in (["train.steps=3", "train.copy.steps=5"], ["train.copy.steps=5", "train.steps=3"]):
        runs = build_sweep(TWO_TASKS, overrides=order).runs
        assert _by_task(runs, lambda r: r.train.steps) == {"copy": 5, "induction": 3}, order
    table = build_sweep(TWO_TASKS, overrides=["train.copy={steps=5, warmup=1}"]).runs
    assert _by_task(table, lambda r: (r.train.steps, r.train.warmup)) == {
        "copy": (5, 1),
        "induction": (6, 2),
    }


def test_of_two_sets_of_one_key_the_last_wins():
    runs = build_sweep(TWO_TASKS, overrides=["train.steps=3", "train.steps=2"]).runs
    assert {r.train.steps for r in runs} == {2}


def test_a_per_task_set_beats_the_grid_for_its_task_only():
    raw = tiny(grid={"task": ["copy", "induction"], "train.seq_len": [12, 16]})
    sweep = build_sweep(raw, overrides=["train.copy.seq_len=14"])
    lengths = {(r.task, r.train.seq_len) for r in sweep.runs}
    assert lengths == {("copy", 14), ("induction", 12), ("induction", 16)}
    assert len(sweep.runs) == 2 * 3  # copy's two grid values became one run per block


def test_a_set_settles_a_grid_axis_that_would_shadow_a_per_task_table():
    raw = tiny(grid={"task": ["copy"], "train.steps": [2, 3]}, train={"copy": {"steps": 4}})
    with pytest.raises(SweepConfigError, match="shadowed by the grid axis"):
        build_sweep(raw)
    for override in ("train.steps=5", "train.copy.steps=5"):
        assert {r.train.steps for r in build_sweep(raw, overrides=[override]).runs} == {5}


def test_eval_and_measure_take_per_task_tables_and_sets_too():
    raw = {**TWO_TASKS, "measure": {**TWO_TASKS.get("measure", {}), "copy": {"batch_size": 1}}}
    sweep = build_sweep(raw, overrides=["eval.copy.seq_lens=[12, 16]"])
    assert _by_task(sweep.runs, lambda r: tuple(r.eval.seq_lens)) == {
        "copy": (12, 16),
        "induction": (12, 20),
    }
    assert _by_task(sweep.runs, lambda r: r.measure.batch_size) == {"copy": 1, "induction": 2}


def test_sets_reach_nested_tables_and_the_sweeps_own_keys():
    sweep = build_sweep(
        tiny(), overrides=["model.lstm.d_hidden=8", "task.copy.alphabet=5", "name=renamed"]
    )
    assert sweep.name == "renamed"
    assert {r.architecture: r.model.arch for r in sweep.runs} == {
        "transformer": {},
        "lstm": {"d_hidden": 8},
    }
    assert {r.task_config["alphabet"] for r in sweep.runs} == {5}


def test_a_mistyped_set_names_the_key():
    with pytest.raises(SweepConfigError, match=r"unknown key 'train\.stpes'"):
        build_sweep(tiny(), overrides=["train.stpes=5"])
    with pytest.raises(SweepConfigError, match=r"\[train\] is a table"):
        build_sweep(tiny(), overrides=["train=5"])
    with pytest.raises(SweepConfigError, match="'steps' is a value, not a table"):
        build_sweep(tiny(), overrides=["train.steps.x=5"])


def test_building_a_sweep_leaves_the_file_table_as_it_was():
    raw = copy.deepcopy(TWO_TASKS)
    raw["grid"]["train.lr"] = [1e-3, 3e-3]
    before = copy.deepcopy(raw)
    build_sweep(raw, overrides=["train.lr=0.01", "train.copy.steps=5", "grid.seed=[1]"])
    assert raw == before


def test_frozen_settings_are_hashable_keys_that_thaw_back():
    settings = {"b": [1, {"c": True}], "a": 1.0}
    key = freeze(settings)
    assert hash(key) == hash(freeze({"a": 1.0, "b": [1, {"c": True}]}))  # key order is not
    assert thaw(key) == settings
    # 1, 1.0 and True are equal in Python but different settings: different keys
    assert len({freeze({"x": 1}), freeze({"x": 1.0}), freeze({"x": True})}) == 3
    assert freeze({"x": [1, 2]}) != freeze({"x": {"1": 2}})
