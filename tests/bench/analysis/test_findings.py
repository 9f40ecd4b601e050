"""Papers' findings as data, decided against measurements; sweeps of several grids."""

from __future__ import annotations

import _synthetic_results as synthetic
import pandas as pd
import pytest
from _tiny import tiny

from bench import store
from bench.analysis.findings import (
    AGREES,
    DISAGREES,
    NOT_COMPARABLE,
    check_finding,
    check_findings,
)
from bench.analysis.verdicts import INCONCLUSIVE, UNKNOWN
from bench.report import html as report
from bench.report.markdown import markdown_summary
from bench.sweep import papers
from bench.sweep.config import SweepConfigError
from bench.sweep.load import build_sweep, load_sweep, presets
from bench.sweep.papers import Finding

PAPER = {
    "paper": "Gu & Dao 2023 (Mamba)",
    "source": "Table 1",
    "setting": "selective copying, L=4096",
    "says": "Mamba 99.8%",
    "value": 0.998,
    "claim": "Mamba solves selective copying",
    "architecture": "mamba",
    "task": "selective_copy",
    "expect": "solves",
}


def finding(**changes) -> Finding:
    return Finding.model_validate({**PAPER, **changes})


def accuracy(values: dict[str, list[float]], **columns) -> pd.DataFrame:
    """Per-run accuracy rows at the training length (64) and at 4x (256, half as good)."""
    rows = []
    for architecture, accuracies in values.items():
        for seed, value in enumerate(accuracies):
            for length, scale in ((64, 1.0), (256, 0.5)):
                rows.append(
                    {
                        "architecture": architecture,
                        "task": "selective_copy",
                        "seed": seed,
                        "train_seq_len": 64,
                        "eval_seq_len": length,
                        "accuracy": value * scale,
                        **columns,
                    }
                )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- verdicts


@pytest.mark.parametrize(
    ("values", "expect", "verdict"),
    [
        ([0.99, 0.98, 0.995], "solves", AGREES),
        ([0.5, 0.55, 0.45], "solves", DISAGREES),
        ([0.99, 0.6, 0.95], "solves", INCONCLUSIVE),  # the interval straddles 0.9
        ([0.5, 0.55, 0.45], "fails", AGREES),
        ([0.99, 0.98, 0.995], "fails", DISAGREES),
    ],
)
def test_a_finding_is_decided_by_its_interval(values, expect, verdict):
    claim = check_finding(accuracy({"mamba": values}), finding(expect=expect), "P1")
    assert claim.verdict == verdict
    assert claim.paper == "Gu & Dao 2023 (Mamba), Table 1" and claim.says == "Mamba 99.8%"
    assert "3 seeds" in claim.evidence and "L=64" in claim.evidence


def test_one_seed_is_never_enough_to_agree():
    claim = check_finding(accuracy({"mamba": [0.999]}), finding(), "P1")
    assert claim.verdict == INCONCLUSIVE and "1 seed" in claim.label


def test_the_evaluation_length_is_the_findings():
    rows = accuracy({"mamba": [0.99, 0.98, 0.995]})
    assert check_finding(rows, finding(at=256), "P1").verdict == DISAGREES  # half as good
    assert check_finding(rows, finding(at="longest"), "P1").verdict == DISAGREES
    assert check_finding(rows, finding(at=64), "P1").verdict == AGREES


def test_a_comparison_pairs_seeds_and_decides_on_the_difference():
    rows = accuracy({"mamba": [0.80, 0.60, 0.70], "lstm": [0.70, 0.50, 0.60]})
    # Mamba is 0.1 better in every seed: the paired interval is a point above 0, although
    # the two means' own intervals overlap widely.
    above = check_finding(rows, finding(expect="above", than={"architecture": "lstm"}), "P1")
    assert above.verdict == AGREES and "+0.10" in above.evidence
    below = check_finding(rows, finding(expect="below", than={"architecture": "lstm"}), "P1")
    assert below.verdict == DISAGREES


def test_cells_select_runs_by_any_column():
    rows = pd.concat(
        [
            accuracy({"mamba": [0.99, 0.98, 0.99]}, d_model=64),
            accuracy({"mamba": [0.2, 0.3, 0.25]}, d_model=32),
        ]
    )
    assert check_finding(rows, finding(cell={"d_model": 64}), "P1").verdict == AGREES
    assert check_finding(rows, finding(cell={"d_model": 32}), "P1").verdict == DISAGREES
    narrow = finding(expect="below", cell={"d_model": 32}, than={"cell": {"d_model": 64}})
    assert check_finding(rows, narrow, "P1").verdict == AGREES


def test_not_comparable_keeps_the_measurement_and_says_why():
    why = "our Transformer uses rotary positions; the paper's generalising one uses Hard-ALiBi"
    claim = check_finding(accuracy({"mamba": [0.99] * 3}), finding(not_comparable=why), "P1")
    assert claim.verdict == NOT_COMPARABLE and claim.detail == why
    assert "0.99" in claim.evidence


def test_a_finding_without_runs_is_unknown():
    claim = check_finding(accuracy({"lstm": [0.9, 0.9]}), finding(), "P1")
    assert claim.verdict == UNKNOWN


def test_findings_are_validated_with_a_one_line_error():
    with pytest.raises(ValueError, match=r"paper #1 \(expect\)"):
        papers.parse([{**PAPER, "expect": "wins"}])
    with pytest.raises(ValueError, match="needs than"):
        papers.parse([{**PAPER, "expect": "above"}])
    with pytest.raises(ValueError, match=r"paper #2 \(colour\)"):
        papers.parse([PAPER, {**PAPER, "colour": 1}])


# --------------------------------------------------------------------------- with results


def test_findings_travel_with_the_results_into_the_report(tmp_path):
    declared = papers.parse(
        [
            {**PAPER, "architecture": "transformer", "task": "mqar", "claim": "attention recalls"},
            {**PAPER, "architecture": "lstm", "task": "mqar", "expect": "fails"},
        ]
    )
    store.save_findings(tmp_path, declared)
    assert store.load_findings(tmp_path) == declared
    assert store.load_findings(tmp_path / "elsewhere") == []

    results = synthetic.results()
    claims = check_findings(results, declared)
    assert [c.key for c in claims] == ["P1", "P2"]
    assert claims[0].verdict == AGREES and claims[1].verdict == AGREES
    page = report.render_html(results, synthetic.curves(results), paper=declared)
    assert "Paper beside measurement" in page and "<th>agrees?</th>" in page
    assert page.count("<td class='holds'>agrees</td>") == 2
    assert "scaled one (mean over seeds" in page and " 2 agree." in page  # the tally
    assert "Gu &amp; Dao 2023 (Mamba), Table 1: Mamba 99.8%" in page
    assert "Paper beside measurement" not in report.render_html(results, None)
    assert "## Paper beside measurement" in markdown_summary(results, declared)


# --------------------------------------------------------------------------- several grids


def two_grids(**changes):
    return tiny(
        grid=[
            {"architecture": ["transformer", "lstm"], "task": ["copy"], "seed": [0, 1]},
            {
                "architecture": ["lstm"],
                "task": ["induction"],
                "seed": [0],
                "train.lr": [1e-3, 3e-3],
            },
        ],
        **changes,
    )


def test_a_sweep_of_several_grids_runs_the_union_of_their_products():
    sweep = build_sweep(two_grids(select=["train.lr"]))
    points = sorted((r.architecture, r.task, r.seed, r.train.lr) for r in sweep.runs)
    assert points == [
        ("lstm", "copy", 0, 3e-3),
        ("lstm", "copy", 1, 3e-3),
        ("lstm", "induction", 0, 1e-3),
        ("lstm", "induction", 0, 3e-3),
        ("transformer", "copy", 0, 3e-3),
        ("transformer", "copy", 1, 3e-3),
    ]
    assert sweep.varying_axes() == ["architecture", "task", "seed", "train.lr"]


def test_set_reaches_every_grid():
    sweep = build_sweep(two_grids(), overrides=["grid.seed=[3]", "train.lr=1e-2"])
    grids = sweep.config.grids
    assert [g["seed"] for g in grids] == [[3], [3]]
    assert grids[1]["train.lr"] == [1e-2]
    assert {r.seed for r in sweep.runs} == {3} and {r.train.lr for r in sweep.runs} == {1e-2}


def test_a_finding_must_name_runs_the_grids_make():
    bad = {**PAPER, "architecture": "mamba", "task": "copy"}
    with pytest.raises(SweepConfigError, match="paper #1 names architecture 'mamba'"):
        build_sweep(two_grids(paper=[bad]))
    with pytest.raises(SweepConfigError, match=r"paper #1 \(expect\)"):
        build_sweep(two_grids(paper=[{**bad, "expect": "wins"}]))


@pytest.mark.parametrize("name", ["papers-cpu", "mqar", "selective-copy", "induction", "copy"])
def test_paper_presets_carry_their_papers_numbers(name):
    assert name in presets()
    sweep = load_sweep(name)
    declared = papers.parse(sweep.config.paper)
    assert declared, f"{name} declares no [[paper]] findings"
    assert all(f.says and f.source and f.setting for f in declared)


def test_a_run_is_labelled_by_the_axes_it_sets(tmp_path):
    from rich.console import Console

    from bench.launch.progress import Watch

    raw = two_grids()
    raw["grid"][0]["model.params"] = [20_000]
    raw["grid"][0]["model.params_tolerance"] = [0.2]
    sweep = build_sweep(raw)
    watch = Watch(sweep, sweep.runs, tmp_path, Console(file=None, force_terminal=False))
    labels = {(r.task, r.train.lr): watch.label(r) for r in sweep.runs if r.architecture == "lstm"}
    assert "params=20000" in labels[("copy", 3e-3)]
    # the induction grid sets neither params nor its tolerance: its label does not say None
    assert "lr=0.001" in labels[("induction", 1e-3)] and "params" not in labels[("induction", 1e-3)]


def test_a_cell_is_labelled_by_what_differs_within_its_own_task():
    from bench.store import cells

    def row(config_hash, task, seq_len, seed=0):
        return {
            "config_hash": config_hash,
            "architecture": "monarch",
            "task": task,
            "seed": seed,
            "row_kind": "eval",
            "status": "ok",
            "train.seq_len": seq_len,
            "eval.seq_lens": f"[{seq_len}]",  # follows from the training length
            "model.l_max": seq_len,  # ... and so does the filter's layout
            "model.d_model": 64,
        }

    frame = pd.DataFrame(
        [row("a", "mqar", 32), row("b", "mqar", 64), row("c", "copy", 34), row("d", "copy", 34, 1)]
    )
    variants = cells.prepare(frame).set_index("config_hash")["variant"]
    # the lengths split MQAR's cells; copy trains at one length, so its cell needs no label
    assert variants.to_dict() == {"a": "seq_len=32", "b": "seq_len=64", "c": "", "d": ""}


def test_findings_are_kept_with_the_first_run_and_not_by_a_sweep_that_never_starts(
    tmp_path, monkeypatch
):
    from rich.console import Console

    from bench.launch import runner

    quiet = Console(file=open(tmp_path / "log.txt", "w"))  # noqa: SIM115
    sweep = build_sweep(tiny(paper=[{**PAPER, "architecture": "lstm", "task": "copy"}]))
    assert [f.claim for f in sweep.findings] == [PAPER["claim"]]

    def no_cluster(*args, **kwargs):
        raise RuntimeError("cannot reach the cluster")

    monkeypatch.setattr(runner, "run_local", no_cluster)
    with pytest.raises(RuntimeError):
        runner.execute_sweep(sweep, tmp_path / "failed", console=quiet)
    assert not (tmp_path / "failed").exists()  # nothing half-written
    monkeypatch.undo()

    runner.execute_sweep(sweep, tmp_path / "ok", console=quiet)
    assert store.load_findings(tmp_path / "ok") == sweep.findings
