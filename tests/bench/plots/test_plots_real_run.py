"""Figures and report from a real tiny sweep (training and cost-only runs), via the CLI."""

import sys

from _tiny import tiny

from bench import store
from bench.cli.app import main
from bench.launch.local import run_local
from bench.sweep.load import build_sweep


def _cli(monkeypatch, *args):
    monkeypatch.setattr(sys, "argv", ["seqbench", *args])
    try:
        main()
    except SystemExit as exit_:
        return exit_.code or 0
    return 0


def test_plot_and_report_from_a_real_tiny_sweep(tmp_path, monkeypatch, capsys):
    out = tmp_path / "results"
    trained = build_sweep(
        tiny(grid={"task": ["copy", "needle"]}, eval={"seq_lens": [12, 20], "depths": [0.0, 1.0]})
    )
    cost = build_sweep(tiny(kind="cost", measure={"seq_lens": [8, 16, 32], "repeats": 1}))
    for sweep in (trained, cost):
        run_local(sweep.runs, sweep.name, out, lambda run, record: None)
    assert (store.load(out)["status"] == "ok").all()

    assert _cli(monkeypatch, "plot", str(out), "--format", "png,svg") == 0
    printed = capsys.readouterr().out
    for figure in (
        "accuracy_vs_length",
        "throughput_vs_length",
        "memory_vs_length",
        "flops_vs_length",
        "accuracy_vs_state",
        "needle_heatmap",
        "sample_efficiency",
    ):
        png = out / "plots" / f"{figure}.png"
        assert png.stat().st_size > 10_000, figure
        assert (out / "plots" / f"{figure}.svg").exists()
        assert figure in printed

    assert _cli(monkeypatch, "report", str(out)) == 0
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 7
    assert "Claims checked" in html or "claims checked" in html.lower()
    assert "## copy" in capsys.readouterr().out  # the Markdown summary on the terminal


def test_plot_rejects_bad_format_and_empty_folder(tmp_path, monkeypatch, capsys):
    (tmp_path / "runs").mkdir()
    assert _cli(monkeypatch, "plot", str(tmp_path)) == 2
    assert "no readable run files" in capsys.readouterr().err
    sweep = build_sweep(tiny(grid={"architecture": ["lstm"]}))
    run_local(sweep.runs, sweep.name, tmp_path, lambda run, record: None)
    assert _cli(monkeypatch, "plot", str(tmp_path), "--format", "gif") == 2
    err = capsys.readouterr().err
    assert "gif" in err and "png" in err and err.strip().count("\n") == 0
    (tmp_path / "runs" / "junk.json").write_text("{broken")
    assert _cli(monkeypatch, "report", str(tmp_path)) == 0  # a corrupt file is skipped...
    assert "skipping" in capsys.readouterr().err  # ...with a warning
