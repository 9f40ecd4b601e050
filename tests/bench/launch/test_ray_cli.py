"""The command line on Ray, in subprocesses: a local cluster started and resumed, an
unreachable address, Ctrl-C.

These live apart from test_ray.py so that no in-process Ray cluster (that module's
fixture) shares the 2 CPUs with the cluster each subprocess starts. Output goes to files
and the tests wait for the seqbench process itself, never for pipes that Ray's own
processes may hold open a little longer; every process group is killed at the end.

seqbench starts as a user's terminal starts it, with Ctrl-C's default action: a process
inherits an *ignored* SIGINT from its parent, and a test suite run as a background job
(``pytest &``, many CI runners) has one. Inherited, it made the Ctrl-C test wait out its
timeout while seqbench, ignoring the signal, kept running: the flaky failure of issue
#17, which was never about load.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _tiny import tiny, write_toml

from bench import store
from bench.sweep.load import build_sweep

pytest.importorskip("ray")

REPO = Path(__file__).resolve().parents[3]
# ``python -m bench.cli ARGS`` with SIGINT raising KeyboardInterrupt, whatever the parent
# ignored (see the module docstring).
_AS_FROM_A_TERMINAL = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'seqbench'; runpy.run_module('bench.cli', run_name='__main__')"
)


class Seqbench:
    """``seqbench ARGS`` in its own session, output to files under ``folder``."""

    def __init__(self, folder: Path, *args) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._out = open(folder / "stdout.txt", "w+")  # noqa: SIM115 (closed in finish)
        self._err = open(folder / "stderr.txt", "w+")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _AS_FROM_A_TERMINAL, *map(str, args)],
            cwd=REPO,
            stdout=self._out,
            stderr=self._err,
            text=True,
            start_new_session=True,
        )

    def finish(self, timeout: float) -> tuple[int, str, str]:
        """Wait for seqbench to exit; (exit code, stdout, stderr). Kills its group after."""
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # Ray processes it left, if any
        texts = []
        for f in (self._out, self._err):
            f.seek(0)
            texts.append(f.read())
            f.close()
        return code, texts[0], texts[1]


def test_an_unreachable_address_is_one_clear_line(tmp_path):
    config = write_toml(tmp_path / "tiny.toml", tiny())
    start = time.monotonic()
    run = Seqbench(tmp_path / "log", "run", config, "--ray", "--address", "127.0.0.1:1")
    code, _, err = run.finish(timeout=60)
    assert code == 2 and time.monotonic() - start < 30
    assert err.strip().splitlines() == [
        "error: cannot reach a Ray cluster at 127.0.0.1:1 (Connection refused); "
        "start one with `ray start --head` or check the address"
    ]


@pytest.mark.slow
def test_cli_starts_a_local_cluster_and_resumes(tmp_path):
    config = write_toml(tmp_path / "tiny.toml", tiny())
    code, out, err = Seqbench(
        tmp_path / "log1", "run", config, "--ray", "--out", tmp_path / "out"
    ).finish(timeout=300)
    assert code == 0, err
    assert "2 to run" in out and "summary" in out and "transformer" in out
    assert len(store.finished(tmp_path / "out")) == 2
    code, out, err = Seqbench(
        tmp_path / "log2", "run", config, "--ray", "--out", tmp_path / "out"
    ).finish(timeout=120)
    assert code == 0 and "2 already done, 0 to run" in out


@pytest.mark.slow
def test_ctrl_c_on_the_cli_stops_cleanly_and_keeps_finished_runs(tmp_path):
    # Two runs that stop training after 1 s and two after 90 s; 2 CPUs run two at a time.
    raw = tiny(grid={"architecture": ["lstm"], "task": ["copy"], "seed": [0, 1]})
    raw["grid"]["train.max_time_s"] = [1.0, 90.0]
    raw["train"].update(steps=1_000_000, lr=1e-7, early_stop=1.0)  # lr too small to stop early
    sweep_file = write_toml(tmp_path / "long.toml", raw)
    short = {run.hash for run in build_sweep(raw).runs if run.train.max_time_s == 1.0}
    out = tmp_path / "out"
    run = Seqbench(tmp_path / "log", "run", sweep_file, "--ray", "--out", out)
    deadline = time.monotonic() + 180
    while store.finished(out) != short and time.monotonic() < deadline and run.proc.poll() is None:
        time.sleep(0.5)
    assert store.finished(out) == short
    interrupted = time.monotonic()
    run.proc.send_signal(signal.SIGINT)
    code, stdout, err = run.finish(timeout=90)
    assert code == 130, err
    assert time.monotonic() - interrupted < 30  # the 90 s runs were cancelled, not awaited
    assert "run the same command again to resume" in " ".join(stdout.split())
    assert store.finished(out) == short and not list((out / "runs").glob(".tmp-*"))
