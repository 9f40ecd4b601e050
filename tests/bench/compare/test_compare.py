"""seqbench compare: pairing by seed across folders and along one axis, paired t intervals,
--fail-below as a CI guard, and the comparison in the HTML report."""

import math

import numpy as np
import pytest
from _cli import seqbench
from _tiny import tiny
from scipy import stats

from bench import store
from bench.compare import folders as compare
from bench.launch.local import run_local
from bench.sweep.load import build_sweep


def _record(arch="lstm", seed=0, accuracy=0.5, lr=1e-3, steps=100, tokens=1000.0, **extra):
    """A finished training run as ``bench.run.train.execute`` records it (numbers chosen here)."""
    config = {
        "kind": "train",
        "architecture": arch,
        "task": "copy",
        "seed": seed,
        "device": "cpu",
        "model": {"d_model": 16, "n_layers": 1, "params": None, "arch": extra.pop("arch_cfg", {})},
        "task_config": {},
        "train": {"seq_len": 12, "steps": steps, "lr": lr, "early_stop": None},
        "eval": {"seq_lens": [12, 24]},
        "measure": {"cost": True},
    }
    status = extra.pop("status", "ok")
    points = [
        {"row_kind": "eval", "eval_seq_len": 12, "accuracy": accuracy, "status": "ok"},
        {"row_kind": "eval", "eval_seq_len": 24, "accuracy": accuracy / 2, "status": "ok"},
    ]
    return {
        "config_hash": f"{arch}-{seed}-{lr}-{steps}".replace(".", "_"),
        "config": config,
        "status": status,
        "error": "" if status == "ok" else "loss became nan at step 3",
        "metrics": {
            "params": 1000,
            "train_steps": steps,
            "stop_reason": "steps" if status == "ok" else "diverged",
            "train_tokens_per_s": tokens,
            "peak_memory_train_bytes": 1e6,
            "val_accuracy": accuracy,
        },
        "points": points if status == "ok" else [],
        "curve": [],
        "env": {"device": "cpu", "device_name": "test cpu", "git_commit": extra.pop("commit", "")},
        "sweep": extra.pop("sweep", "s"),
        **extra,
    }


def _folder(path, runs):
    for kwargs in runs:
        store.write_run(path, _record(**kwargs))
    return path


BASE_ACC = [0.50, 0.60, 0.70]
GAIN = [0.10, 0.12, 0.08]


def _t_interval(differences):
    d = np.asarray(differences)
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    return d.mean() - half, d.mean() + half


def test_two_folders_pair_by_seed_with_a_paired_t_interval(tmp_path):
    base = _folder(
        tmp_path / "base",
        [{"seed": s, "accuracy": a, "commit": "aaaaaaa"} for s, a in enumerate(BASE_ACC)],
    )
    new = _folder(
        tmp_path / "new",
        [
            {"seed": s, "accuracy": a + g, "tokens": 2000.0, "commit": "bbbbbbb", "sweep": "t"}
            for s, (a, g) in enumerate(zip(BASE_ACC, GAIN, strict=True))
        ],
    )
    result = compare.compare_folders(base, new)
    (row,) = result.cells.to_dict("records")
    assert row["pairs"] == 3 and row["architecture"] == "lstm" and row["setting"] == ""
    assert row["acc_train_delta"] == pytest.approx(np.mean(GAIN))
    low, high = _t_interval(GAIN)
    assert (row["acc_train_low"], row["acc_train_high"]) == pytest.approx((low, high))
    assert row["train_tokens_per_s_delta"] == pytest.approx(1.0)  # twice as fast: +100 %
    assert row["acc_longest_delta"] == pytest.approx(np.mean(GAIN) / 2)
    shown = compare.display_frame(result).iloc[0]
    assert shown["verdict"] == "better" and shown["Δ train tok/s"].startswith("+100.0%")
    assert "Δ steps" not in shown  # the budget did not move


def test_one_axis_of_one_folder_pairs_each_architecture_by_seed(tmp_path, monkeypatch, capsys):
    runs = []
    for arch, gain in (("lstm", 0.2), ("transformer", -0.3)):
        for seed, accuracy in enumerate(BASE_ACC):
            runs.append({"arch": arch, "seed": seed, "accuracy": accuracy, "lr": 1e-3})
            runs.append({"arch": arch, "seed": seed, "accuracy": accuracy + gain, "lr": 3e-3})
    folder = _folder(tmp_path / "lr", runs)
    result = compare.compare_axis(folder, "train.lr=0.001,0.003")
    deltas = dict(zip(result.cells["architecture"], result.cells["acc_train_delta"], strict=True))
    assert deltas == pytest.approx({"lstm": 0.2, "transformer": -0.3})
    assert result.base_label == "lr=0.001" and result.new_label == "lr=0.003"

    code, out, _ = seqbench(
        monkeypatch, capsys, "compare", str(folder), "--axis", "train.lr=0.001,0.003"
    )
    assert code == 0
    assert "BASE lr=0.001 → NEW lr=0.003" in out and "paired t interval" in out
    assert "+0.200" in out and "-0.300" in out


def test_fail_below_fails_a_worse_new_and_passes_a_better_one(tmp_path, monkeypatch, capsys):
    base = _folder(tmp_path / "base", [{"seed": s, "accuracy": a} for s, a in enumerate(BASE_ACC)])
    worse = _folder(
        tmp_path / "worse",
        [
            {"seed": s, "accuracy": a - 0.2 + g / 10}
            for s, (a, g) in enumerate(zip(BASE_ACC, GAIN, strict=True))
        ],
    )
    code, out, _ = seqbench(
        monkeypatch, capsys, "compare", str(base), str(worse), "--fail-below", "-0.02"
    )
    assert code == 1
    assert "FAIL lstm · copy: Δ acc @ train len -0.190" in out and "below -0.02" in out

    # Within the tolerance, or better: the guard passes.
    code, out, _ = seqbench(
        monkeypatch, capsys, "compare", str(base), str(worse), "--fail-below", "-0.5"
    )
    assert code == 0 and "no cell is worse than -0.5" in out
    code, _, _ = seqbench(
        monkeypatch, capsys, "compare", str(worse), str(base), "--fail-below", "0"
    )
    assert code == 0


def test_fail_below_keeps_an_interval_that_reaches_the_threshold(tmp_path):
    base = _folder(tmp_path / "base", [{"seed": s, "accuracy": 0.5} for s in range(3)])
    noisy = _folder(
        tmp_path / "noisy",
        [{"seed": s, "accuracy": 0.5 + d} for s, d in enumerate([-0.3, 0.2, -0.05])],
    )
    result = compare.compare_folders(base, noisy)
    row = result.cells.iloc[0]
    assert row["acc_train_delta"] < -0.02 < row["acc_train_high"]
    assert result.failures(-0.02) == []  # worse on average, but not beyond the interval


def test_new_runs_that_fail_where_base_finished_fail_the_guard(tmp_path):
    base = _folder(tmp_path / "base", [{"seed": s, "accuracy": 0.5} for s in range(2)])
    new = _folder(
        tmp_path / "new",
        [{"seed": 0, "accuracy": 0.6}, {"seed": 1, "accuracy": 0.6, "status": "diverged"}],
    )
    result = compare.compare_folders(base, new)
    (failure,) = result.failures(-1.0)
    assert "NEW finished 1 of 2 runs, BASE 2" in failure[1]
    row = compare.display_frame(result, -1.0).iloc[0]
    assert row["runs ok"] == "2 → 1" and row["verdict"] == "FAIL"
    assert row["Δ acc @ train len"] == "+0.100 (1 seed)"


def test_comparing_architectures_ignores_their_own_settings(tmp_path):
    runs = [{"seed": s, "accuracy": a, "arch_cfg": {"d_hidden": 8}} for s, a in enumerate(BASE_ACC)]
    runs += [
        {"arch": "mamba", "seed": s, "accuracy": a + 0.1, "arch_cfg": {"d_state": 4}}
        for s, a in enumerate(BASE_ACC)
    ]
    folder = _folder(tmp_path / "archs", runs)
    result = compare.compare_axis(folder, "architecture=lstm,mamba")
    (row,) = result.cells.to_dict("records")
    assert row["architecture"] == "lstm → mamba" and row["pairs"] == 3
    assert row["acc_train_delta"] == pytest.approx(0.1)


def test_runs_without_a_partner_are_counted(tmp_path):
    base = _folder(tmp_path / "base", [{"seed": s, "accuracy": 0.5} for s in range(3)])
    new = _folder(tmp_path / "new", [{"seed": s, "accuracy": 0.6} for s in (1, 2, 7)])
    result = compare.compare_folders(base, new)
    assert result.cells.iloc[0]["pairs"] == 2
    assert result.notes == [
        "1 BASE and 1 NEW runs have no partner (another seed or setting on the other side) "
        "and are left out"
    ]


def _text_folder(path, digest, bpb):
    """Text runs (bits per byte in their points) that read the corpus with this digest."""
    for seed in range(3):
        record = _record(seed=seed, corpus={"name": "stdlib", "sha256": digest})
        record["config"]["task"] = "text"
        for point in record["points"]:
            point["bits_per_byte"] = bpb + 0.01 * seed
        store.write_run(path, record)
    return path


def test_text_runs_on_different_corpora_never_pair(tmp_path, monkeypatch, capsys):
    base = _text_folder(tmp_path / "base", "a" * 64, 2.5)
    same = _text_folder(tmp_path / "same", "a" * 64, 2.4)
    other = _text_folder(tmp_path / "other", "b" * 64, 2.4)
    result = compare.compare_folders(base, same)
    row = result.cells.iloc[0]
    assert row["pairs"] == 3 and row["bpb_train_delta"] == pytest.approx(-0.1)
    assert "bpb_train" in [m.column for m in result.metrics]
    with pytest.raises(compare.CompareError, match="differ in corpus_sha256"):
        compare.compare_folders(base, other)
    mixed = _text_folder(_text_folder(tmp_path / "mixed", "a" * 64, 2.5), "b" * 64, 2.5)
    code, _, err = seqbench(
        monkeypatch, capsys, "compare", str(mixed), "--axis", f"corpus_sha256={'a' * 64},{'b' * 64}"
    )
    assert code == 2 and "never paired" in err and err.strip().count("\n") == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["BASE", "STEPS"], "no run of BASE"),
        (["BASE", "STEPS"], "they differ in train.steps (100 vs 200)"),
        (["BASE"], "give two results folders (BASE NEW), or one with --axis"),
        (["BASE", "STEPS", "--axis", "train.lr=1,2"], "--axis compares two values"),
        (["BASE", "--axis", "train.lr"], "must look like KEY=BASE,NEW"),
        (["BASE", "--axis", "train.lrr=1,2"], "--axis 'train.lrr' is not a setting"),
        (["BASE", "--axis", "train.lr=0.002,0.001"], "no runs in"),
        (["BASE", "--axis", "train.lr=0.001,0.001"], "names the same value twice"),
        (["BASE", "MISSING"], "does not exist"),
        (
            ["BASE", "STEPS", "--fail-below", "x"],
            "'--fail-below': Input should be a valid number, unable to parse string as a number (got 'x')",
        ),
    ],
)
def test_bad_comparisons_are_one_line_exit_2(tmp_path, monkeypatch, capsys, args, message):
    folders = {
        "BASE": _folder(tmp_path / "base", [{"seed": 0}]),
        "STEPS": _folder(tmp_path / "steps", [{"seed": 0, "steps": 200}]),
        "MISSING": tmp_path / "missing",
    }
    args = [str(folders.get(a, a)) for a in args]
    code, _, err = seqbench(monkeypatch, capsys, "compare", *args)
    assert code == 2
    assert message in err
    assert err.strip().count("\n") == 0 and "Traceback" not in err


def test_paired_interval_matches_scipy_and_is_absent_for_one_seed():
    import pandas as pd

    base, new = pd.Series([1.0, 2.0, 4.0]), pd.Series([1.5, 2.1, 4.6])
    estimate, low, high = compare.paired_interval(base, new, ratio=False)
    interval = stats.ttest_rel(new, base).confidence_interval(0.95)
    assert (estimate, low, high) == pytest.approx((0.4, interval.low, interval.high))
    ratio, low, high = compare.paired_interval(base, base * 2, ratio=True)
    assert (ratio, low, high) == pytest.approx((1.0, 1.0, 1.0))  # every seed exactly doubled
    estimate, low, high = compare.paired_interval(base[:1], new[:1], ratio=False)
    assert estimate == pytest.approx(0.5) and math.isnan(low) and math.isnan(high)


def _cost_record(arch, seed, prefill):
    return {
        "config_hash": f"cost-{arch}-{seed}-{prefill}",
        "config": {
            "kind": "cost", "architecture": arch, "task": "none", "seed": seed,
            "device": "cpu", "model": {"d_model": 16, "n_layers": 1, "params": None, "arch": {}},
            "task_config": {}, "train": {}, "eval": {}, "measure": {"seq_lens": [64, 128]},
        },
        "status": "ok",
        "error": "",
        "metrics": {"params": 1000},
        "points": [
            {"row_kind": "cost", "seq_len": length, "status": "ok",
             "prefill_tokens_per_s": prefill * 64 / length, "state_bytes": 256}
            for length in (64, 128)
        ],
        "curve": [],
        "env": {"device": "cpu", "device_name": "test cpu"},
        "sweep": "scaling",
    }  # fmt: skip


def test_cost_runs_compare_per_length_as_ratios(tmp_path, monkeypatch, capsys):
    for seed, factor in enumerate([1.9, 2.0, 2.1]):
        store.write_run(tmp_path / "base", _cost_record("lstm", seed, 1000.0))
        store.write_run(tmp_path / "new", _cost_record("lstm", seed, 1000.0 * factor))
    result = compare.compare_folders(tmp_path / "base", tmp_path / "new")
    assert result.cells["seq_len"].tolist() == [64, 128]
    geometric = math.exp(np.mean(np.log([1.9, 2.0, 2.1]))) - 1
    assert result.cells["prefill_tokens_per_s_delta"].tolist() == pytest.approx([geometric] * 2)
    assert [m.column for m in result.metrics] == ["prefill_tokens_per_s", "state_bytes"]
    code, _, err = seqbench(
        monkeypatch, capsys, "compare", str(tmp_path / "base"), str(tmp_path / "new"),
        "--fail-below", "0",
    )  # fmt: skip
    assert code == 2 and "--fail-below checks accuracy at the training length" in err


# --- on real runs, and in the report -------------------------------------------------------


@pytest.fixture(scope="module")
def lr_sweep(tmp_path_factory):
    """Real tiny runs: two architectures × two learning rates × two seeds."""
    raw = tiny(grid={**tiny()["grid"], "seed": [0, 1], "train.lr": [1e-3, 3e-3]})
    sweep = build_sweep(raw)
    out = tmp_path_factory.mktemp("lr")
    run_local(sweep.runs, sweep.name, out, lambda run, record: None, select=sweep.select)
    return out


def test_real_runs_compare_along_an_axis_and_appear_in_the_report(
    lr_sweep, tmp_path, monkeypatch, capsys
):
    result = compare.compare_axis(lr_sweep, "train.lr=0.001,0.003")
    assert sorted(result.cells["architecture"]) == ["lstm", "transformer"]
    assert (result.cells["pairs"] == 2).all()
    # Real runs carry each block's source digest: different by architecture, not a mismatch.
    across = compare.compare_axis(lr_sweep, "architecture=lstm,transformer")
    assert (across.cells["pairs"] == 2).all() and len(across.cells) == 2

    # The same folder twice: every difference is zero, and the report carries the section.
    path = tmp_path / "report.html"
    code, _, err = seqbench(
        monkeypatch, capsys, "report", str(lr_sweep), "--compare", str(lr_sweep), "--out", str(path)
    )
    assert code == 0, err
    page = path.read_text()
    section = page[page.index("<section id='comparison'>") :]
    assert section.index("</section>") < section.index("</body>")
    assert "paired t interval" in section and "+0.000 [+0.000, +0.000]" in section


def test_report_with_a_comparison_that_cannot_pair_writes_nothing(
    lr_sweep, tmp_path, monkeypatch, capsys
):
    other = _folder(tmp_path / "other", [{"seed": 0}])
    path = tmp_path / "report.html"
    code, _, err = seqbench(
        monkeypatch, capsys, "report", str(lr_sweep), "--compare", str(other), "--out", str(path)
    )
    assert code == 2 and "no run of BASE" in err
    assert not path.exists()
