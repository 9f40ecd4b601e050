"""Watching a sweep: plain lines with an ETA when output goes to a file, bars with time
remaining on a terminal, and a log file beside every run file."""

import io
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _tiny import tiny, write_toml
from rich.console import Console

from bench import store
from bench.launch import local as launch
from bench.launch import progress as runner_progress
from bench.launch import runner
from bench.sweep.load import build_sweep

LINE = re.compile(
    r"^(?P<clock>\d\d:\d\d:\d\d) (?P<event>start|ok|error|oom|diverged)\s+\[(?P<n>\d+)/(?P<of>\d+)\] "
    r"(?P<label>[^·]+ · [^·]+ · seed \d+)(?P<rest>.*) · eta (?P<eta>~?[\dhms]+)$"
)


def test_redirected_sweep_prints_one_line_per_run_start_and_end_with_an_eta(tmp_path):
    config = write_toml(tmp_path / "tiny.toml", tiny())
    log = tmp_path / "sweep.log"
    with log.open("w") as stdout:  # a real file, as under nohup or SLURM
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.cli",
                "run",
                str(config),
                "--out",
                str(tmp_path / "r"),
            ],
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
        )
    assert done.returncode == 0, done.stderr
    text = log.read_text()
    assert "\x1b[" not in text  # no terminal control codes in a file
    lines = [m.groupdict() for m in map(LINE.match, text.splitlines()) if m]
    events = [(line["event"], line["n"], line["label"].strip()) for line in lines]
    assert events == [
        ("start", "1", "transformer · copy · seed 0"),
        ("ok", "1", "transformer · copy · seed 0"),
        ("start", "2", "lstm · copy · seed 0"),
        ("ok", "2", "lstm · copy · seed 0"),
    ]
    assert all(line["of"] == "2" for line in lines)
    assert lines[0]["eta"].startswith("~")  # nothing finished yet: the a-priori estimate
    assert lines[-1]["eta"] == "0s"
    for end in (lines[1], lines[3]):
        assert re.search(r" · 6 steps \(steps\) · acc \d\.\d{3} @12 · \d+\.\ds$", end["rest"])
    assert text.index("tiny: 2 runs, 0 already done, 2 to run") < text.index("start [1/2]")
    assert "summary" in text


def test_every_run_leaves_a_log_with_its_curve_and_results(tmp_path):
    sweep = build_sweep(tiny(measure={"cost": False}))
    launch.run_local(sweep.runs, sweep.name, tmp_path, lambda run, record: None)
    for record in store.read_runs(tmp_path):
        log = store.log_path(tmp_path, record["config_hash"]).read_text()
        assert log.startswith(f"run {record['config_hash']}: ")
        steps = [int(m) for m in re.findall(r"^\s+(\d+)\s+\d+\s+[\d.]+\s+[\d.]+$", log, re.M)]
        assert steps == [point["step"] for point in record["curve"]] == [2, 4, 6]
        accuracy = record["points"][0]["accuracy"]
        assert f"length 12: accuracy {accuracy:.4f}" in log
        assert "stopped: steps after 6 steps (24 examples)" in log
    assert sorted(p.suffix for p in (tmp_path / "runs").iterdir()) == [".json"] * 2 + [".log"] * 2


def test_a_failed_run_logs_its_error_and_traceback_and_the_sweep_line_points_there(
    tmp_path, monkeypatch
):
    (tmp_path / "crashing_block.py").write_text(
        textwrap.dedent(
            """
            from examples.broken_blocks import RunningMean

            class Crash(RunningMean):
                def forward(self, x):
                    raise RuntimeError("the block fell over")
            """
        )
    )
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[3]))
    monkeypatch.chdir(tmp_path)
    sweep = build_sweep(tiny(grid={"architecture": ["crashing_block:Crash"], "task": ["copy"]}))
    out = io.StringIO()
    runner.execute_sweep(sweep, tmp_path / "r", console=Console(file=out, width=300))
    (record,) = store.read_runs(tmp_path / "r")
    assert record["status"] == "error"
    log_file = store.log_path(tmp_path / "r", record["config_hash"])
    log = log_file.read_text()
    assert "error: RuntimeError: the block fell over" in log and "Traceback" in log
    end = next(line for line in out.getvalue().splitlines() if " error [1/1] " in line)
    assert "the block fell over" in end and f"(log: {log_file})" in end


def test_eta_scales_the_estimates_by_the_pace_so_far(monkeypatch):
    sweep = build_sweep(tiny(grid={**tiny()["grid"], "seed": [0, 1]}))
    first, *rest = sweep.runs
    estimates = {run.hash: 10.0 for run in sweep.runs}
    monkeypatch.setattr(runner_progress, "estimate_seconds", lambda run: estimates[run.hash])
    clock = iter([100.0, 130.0])  # created at t=100; asked at t=130
    monkeypatch.setattr(runner_progress.time, "monotonic", lambda: next(clock))
    eta = runner_progress.Eta(sweep.runs)
    assert eta.text() == "~40s"  # four runs of 10 s each, not yet calibrated
    eta.finish(first)
    # One run estimated at 10 s took 30 s: the three left take 3 × 10 × 3 = 90 s.
    assert eta.text() == "1m30s"
    for run in rest:
        eta.finish(run)
    assert eta.text() == "0s"


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (59.4, "59s"), (61, "1m01s"), (3600 * 2 + 300, "2h05m")]
)
def test_durations_read_as_hours_minutes_seconds(seconds, text):
    assert runner.duration(seconds) == text


def test_terminal_shows_bars_with_time_remaining_and_a_line_per_finished_run(tmp_path):
    sweep = build_sweep(tiny(measure={"cost": False}))
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=200, color_system=None)
    runner.execute_sweep(sweep, tmp_path, console=console)
    text = out.getvalue()
    assert re.search(r"runs .* 2/2 .* eta 0s", text)
    assert re.search(r"ok    \[1/2\] transformer · copy · seed 0 · 6 steps", text)
    assert " start [" not in text  # the bar shows the run in progress


def test_outcome_of_a_cost_run_names_lengths_and_throughput():
    record = {
        "status": "ok",
        "config": {"kind": "cost", "train": {}},
        "metrics": {"wall_time_s": 2.0},
        "points": [
            {"row_kind": "cost", "seq_len": 64, "prefill_tokens_per_s": 900.0},
            {"row_kind": "cost", "seq_len": 128, "prefill_tokens_per_s": 1200.0},
        ],
    }
    assert runner.outcome(record) == "2 lengths · prefill 1200 tok/s @128 · 2.0s"
