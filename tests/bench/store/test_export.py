"""seqbench export: CSV and Parquet that read back as the ``store.load`` frame."""

import json
import math

import pandas as pd
import pytest
from _cli import seqbench
from _tiny import tiny

from bench import store
from bench.launch.local import run_local
from bench.store import export
from bench.sweep.load import build_sweep


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory):
    """Real runs (with cost measurement, so list-valued timing columns are present too)."""
    sweep = build_sweep(tiny())
    out = tmp_path_factory.mktemp("results")
    run_local(sweep.runs, sweep.name, out, lambda run, record: None)
    return out


def test_parquet_reads_back_as_the_store_load_frame(results_dir, tmp_path, monkeypatch, capsys):
    code, out, err = seqbench(
        monkeypatch,
        capsys,
        "export",
        str(results_dir),
        "--format",
        "parquet",
        "--out",
        str(tmp_path),
    )
    assert code == 0, err
    assert f"wrote {tmp_path / 'results.parquet'}" in out
    pd.testing.assert_frame_equal(
        export.read(tmp_path / "results.parquet"), store.load(results_dir)
    )
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "curves.parquet"), store.load_curves(results_dir)
    )


def _as_text(value):
    """How a value reads in a CSV cell, so that 2 and "2", None and NaN compare equal."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def test_csv_has_the_same_columns_and_values(results_dir, monkeypatch, capsys):
    code, _, err = seqbench(monkeypatch, capsys, "export", str(results_dir))  # csv, into DIR
    assert code == 0, err
    loaded, read = store.load(results_dir), export.read(results_dir / "results.csv")
    assert (
        list(read.columns)
        == list(loaded.columns)
        == list(store.COLUMNS) + [c for c in loaded.columns if c not in store.COLUMNS]
    )
    assert read.shape == loaded.shape
    for column in loaded.columns:
        assert read[column].map(_as_text).tolist() == loaded[column].map(_as_text).tolist(), column
    # Empty strings stay empty strings, missing values stay missing.
    assert (read["error"] == "").all() and read["needle_depth"].isna().all()
    assert read["accuracy"].tolist() == pytest.approx(loaded["accuracy"].tolist())
    curves = export.read(results_dir / "curves.csv")
    pd.testing.assert_frame_equal(curves, store.load_curves(results_dir), check_dtype=False)


def test_a_setting_with_mixed_types_is_kept_as_json_in_parquet(tmp_path):
    frame = pd.DataFrame({"model.chunk": [64, "auto", None], "x": [1.0, 2.0, 3.0]})
    blob = export._encode(frame, "parquet")
    (tmp_path / "t.parquet").write_bytes(blob)
    read = pd.read_parquet(tmp_path / "t.parquet")
    assert read["model.chunk"].tolist()[:2] == ["64", '"auto"']
    assert pd.isna(read["model.chunk"].iloc[2])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["MISSING"], "does not exist"),
        (["DIR", "--format", "xlsx"], "'xlsx' is not one of 'csv', 'parquet'"),
        (["DIR", "--out", "FILE"], "is a file; give a folder"),
    ],
)
def test_bad_exports_are_one_line_exit_2_and_write_nothing(
    results_dir, tmp_path, monkeypatch, capsys, args, message
):
    (tmp_path / "file").write_text("x")
    names = {"MISSING": tmp_path / "missing", "DIR": results_dir, "FILE": tmp_path / "file"}
    before = sorted(p.name for p in results_dir.iterdir())
    code, _, err = seqbench(monkeypatch, capsys, "export", *[str(names.get(a, a)) for a in args])
    assert code == 2
    assert message in err and err.strip().count("\n") == 0
    assert sorted(p.name for p in results_dir.iterdir()) == before
    assert (tmp_path / "file").read_text() == "x"
