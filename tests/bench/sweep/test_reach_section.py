"""The optional [reach] section: which runs measure reach, and hashes left as they were."""

import pytest
from _tiny import tiny

from bench.sweep.config import ReachSection, RunConfig, SweepConfigError
from bench.sweep.load import build_sweep

TWO_TASKS = tiny(grid={"task": ["copy", "induction"]})


def reach_of(raw, overrides=()):
    """{(architecture, task): the run's ReachSection or None}."""
    runs = build_sweep(raw, overrides=list(overrides)).runs
    return {(r.architecture, r.task): r.reach for r in runs}


def test_without_reach_no_run_measures_it_and_hashes_stay():
    plain = build_sweep(TWO_TASKS).runs
    assert all(run.reach is None for run in plain)
    assert all("reach" not in run.to_dict() for run in plain)
    # The pinned tiny hash (tests/bench/sweep/test_config_hash.py) is the one it always was.
    assert build_sweep(tiny()).runs[0].hash == "abd3fbc6b45d4ee1"


@pytest.mark.parametrize("table", [{}, {"n_sequences": 4}], ids=["empty", "with-a-key"])
def test_a_reach_table_of_its_own_reaches_every_run(table):
    measured = reach_of({**TWO_TASKS, "reach": table})
    assert all(isinstance(section, ReachSection) for section in measured.values())
    expected = table.get("n_sequences", ReachSection().n_sequences)
    assert {section.n_sequences for section in measured.values()} == {expected}


def test_a_per_task_reach_table_reaches_that_task_only():
    measured = reach_of({**TWO_TASKS, "reach": {"induction": {"probes": 4}}})
    assert {key for key, section in measured.items() if section is not None} == {
        ("transformer", "induction"),
        ("lstm", "induction"),
    }
    assert measured[("lstm", "induction")].probes == 4


def test_a_shared_key_beside_a_per_task_table_reaches_every_run():
    measured = reach_of({**TWO_TASKS, "reach": {"targets": 2, "copy": {"probes": 0}}})
    assert all(section is not None for section in measured.values())
    assert measured[("lstm", "copy")].probes == 0 and measured[("lstm", "induction")].probes == 16
    assert {section.targets for section in measured.values()} == {2}


def test_a_grid_axis_or_a_set_turns_it_on_for_its_runs():
    raw = tiny(
        grid=[
            {**TWO_TASKS["grid"], "task": ["copy"]},
            {**TWO_TASKS["grid"], "task": ["induction"], "reach.probes": [4]},
        ]
    )
    measured = reach_of(raw)
    assert measured[("lstm", "induction")].probes == 4 and measured[("lstm", "copy")] is None
    assert all(section is not None for section in reach_of(TWO_TASKS, ["reach.targets=2"]).values())
    only_copy = reach_of(TWO_TASKS, ["reach.copy.targets=2"])
    assert only_copy[("lstm", "copy")].targets == 2 and only_copy[("lstm", "induction")] is None


def test_measuring_reach_changes_the_hash_and_survives_a_record():
    plain, measured = build_sweep(tiny()).runs[0], build_sweep(tiny(reach={})).runs[0]
    assert plain.hash != measured.hash
    assert measured.to_dict()["reach"] == ReachSection().model_dump()
    again = RunConfig.from_dict(measured.to_dict())
    assert again == measured and again.hash == measured.hash
    assert RunConfig.from_dict(plain.to_dict()).reach is None


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"probes": -1}, "reach.probes=-1"),
        ({"targets": 0}, "reach.targets=0"),
        ({"seq_len": 8, "targets": 9}, "targets=9 must be at most seq_len=8"),
        ({"colour": 1}, "unknown key 'reach.colour'"),
    ],
    ids=["probes", "targets", "targets-past-length", "unknown-key"],
)
def test_bad_reach_settings_name_the_key(table, message):
    with pytest.raises(SweepConfigError, match=message):
        build_sweep(tiny(reach=table))


def test_a_cost_only_sweep_cannot_measure_reach():
    raw = tiny(kind="cost", measure={"seq_lens": [8, 16]}, reach={})
    with pytest.raises(SweepConfigError, match="cost-only sweep"):
        build_sweep(raw)
