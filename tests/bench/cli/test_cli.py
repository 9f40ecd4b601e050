"""The command line end to end: list, run (dry and real), check, and user errors."""

import subprocess

import pytest
from _cli import seqbench
from _tiny import tiny, write_toml

from bench import store


def test_every_command_is_registered_and_parses_its_options(monkeypatch, capsys):
    from bench.cli.app import app

    names = sorted(c.name or c.callback.__name__ for c in app.registered_commands)
    assert names == ["check", "compare", "doctor", "export", "list", "plot", "report", "run"]
    for name in names:
        code, _, err = seqbench(monkeypatch, capsys, name, "--help")
        assert code == 0, err


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        ("run", ["--out DIR", "[default: results/<sweep name>]", "--set KEY=VALUE",
                 "--device <auto|cpu|cuda>", "[default: the sweep's device, else auto]",
                 "[default: start a local one]", "[default: 1 on cuda, else 0]",
                 "[default: 1.0]", "--log wandb|tensorboard"]),
        ("check", ["[default: 64]", "package.module:Class"]),
        ("compare", ["--axis KEY=BASE,NEW", "--fail-below DELTA", "paired by seed"]),
        ("export", ["--format <csv|parquet>", "[default: csv]", "[default: DIR]"]),
        ("plot", ["[default: DIR/plots]", "[default: png]"]),
        ("report", ["[default: DIR/report.html]", "--compare BASE"]),
    ],
)  # fmt: skip
def test_help_shows_defaults_choices_and_flags_as_flags(monkeypatch, capsys, command, shown):
    code, out, _ = seqbench(monkeypatch, capsys, command, "--help")
    assert code == 0
    flowing = " ".join(out.split())  # help wraps at the terminal's width
    for text in shown:
        assert text in flowing, text
    assert "<bool>" not in out
    for line in out.splitlines():  # a flag is listed alone, with no value placeholder
        if line.strip().startswith(("--dry-run", "--ray ", "--rerun", "--help")):
            assert line.split()[1][0] not in "<[{", line


def test_list_shows_every_architecture_task_and_preset(monkeypatch, capsys):
    import architectures
    import tasks
    from bench.sweep import presets

    code, out, _ = seqbench(monkeypatch, capsys, "list")
    assert code == 0
    words = set(out.replace("│", " ").split())
    missing = {*architectures.names(), *tasks.names(), *presets()} - words
    assert missing == set()


def test_run_end_to_end_then_resume(tmp_path, monkeypatch, capsys):
    config = write_toml(tmp_path / "tiny.toml", tiny())
    out_dir = tmp_path / "results"
    code, out, err = seqbench(monkeypatch, capsys, "run", str(config), "--out", str(out_dir))
    assert code == 0, err
    assert "summary" in out and "@12" in out and "@20" in out
    frame = store.load(out_dir)
    assert set(frame["architecture"]) == {"transformer", "lstm"}
    assert (frame["status"] == "ok").all() and len(frame) == 4

    code, out, _ = seqbench(monkeypatch, capsys, "run", str(config), "--out", str(out_dir))
    assert code == 0 and "2 already done, 0 to run" in out
    assert "other code" not in out


def test_rerun_replaces_finished_runs_and_older_commits_are_pointed_out(
    tmp_path, monkeypatch, capsys
):
    config = write_toml(tmp_path / "tiny.toml", tiny())
    out_dir = tmp_path / "results"
    assert seqbench(monkeypatch, capsys, "run", str(config), "--out", str(out_dir))[0] == 0
    first = {r["config_hash"]: r["finished_at"] for r in store.read_runs(out_dir)}
    recorded = store.read_runs(out_dir)[0]["code"]["seqbench"]
    monkeypatch.setattr("bench.run.fingerprint.git_commit", lambda: "0000000")  # seqbench moved on

    code, out, _ = seqbench(monkeypatch, capsys, "run", str(config), "--out", str(out_dir))
    assert code == 0 and "2 already done" in out
    assert "2 of the 2 finished runs" in out and "--rerun" in out
    if recorded:  # inside a git checkout
        assert f"seqbench commit {recorded} → 0000000 ×2" in out

    monkeypatch.setattr("bench.run.train.environment", _environment_at("0000000"))
    monkeypatch.setattr("bench.run.executor.time.strftime", lambda fmt: "2099-01-01T00:00:00")
    code, out, _ = seqbench(
        monkeypatch, capsys, "run", str(config), "--out", str(out_dir), "--rerun"
    )
    assert code == 0 and "0 already done, 2 to run" in out
    records = store.read_runs(out_dir)
    assert len(records) == 2 and set(first) == {r["config_hash"] for r in records}
    assert {r["finished_at"] for r in records} == {"2099-01-01T00:00:00"}
    assert {r["env"]["git_commit"] for r in records} == {"0000000"}
    assert {r["code"]["seqbench"] for r in records} == {"0000000"}
    code, out, _ = seqbench(monkeypatch, capsys, "run", str(config), "--out", str(out_dir))
    assert "other code" not in out  # the reruns match the code as it is now


def _environment_at(commit):
    from bench.run.measure import environment

    return lambda device: {**environment(device), "git_commit": commit}


def test_set_overrides_and_dry_run_estimate(tmp_path, monkeypatch, capsys):
    config = write_toml(tmp_path / "tiny.toml", tiny())
    code, out, _ = seqbench(
        monkeypatch,
        capsys,
        "run",
        str(config),
        "--dry-run",
        "--out",
        str(tmp_path / "r"),
        "--set",
        "grid.seed=[0, 1, 2]",
        "--set",
        'grid.task=["copy", "induction"]',
    )
    assert code == 0
    assert "12 runs, about" in out and "min" in out
    assert not (tmp_path / "r").exists()  # a dry run writes nothing


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "quik"], "no preset or config file 'quik'"),
        (["run", "TINY", "--set", "train.steps=-3"], "train.steps=-3"),
        (["run", "TINY", "--set", "train.stpes=3"], "unknown key 'train.stpes'"),
        (["run", "TINY", "--set", 'grid.architecture=["gpt"]'], "grid.architecture contains 'gpt'"),
        (["run", "TINY", "--set", "task.copy.alphabet=0"], "alphabet=0"),
        (
            ["run", "TINY", "--device", "tpu"],
            "'--device': 'tpu' is not one of 'auto', 'cpu', 'cuda'",
        ),
        (["run", "TINY", "--set", "nonsense"], "KEY=VALUE"),
        (["check", "transfomer"], "unknown architecture 'transfomer'"),
        (["check", "transformer", "--d-model", "30"], "d_model=30 must be divisible by n_heads=4"),
        (["run", "TINY", "--ray", "--gpus-per-run", "-1"], "--gpus-per-run -1 must be 0 or more"),
        (["run", "TINY", "--cpus-per-run", "0"], "--cpus-per-run 0 must be more than 0"),
        (["check", "no_such_module:Block"], "cannot import 'no_such_module'"),
        (["plot", "MISSING"], "does not exist"),
        (["report", "MISSING"], "does not exist"),
        (["run", "TINY", "--rerun", "5"], "unexpected extra argument"),
        (["run", "TINY", "--bogus"], "No such option: --bogus"),
        (["run"], "Missing argument 'SWEEP'"),
        (["plots", "MISSING"], "No such command 'plots'"),
        (["run", "TINY", "--rerun", "--rerun-changed"], "drop --rerun-changed"),
        (["run", "TINY", "--log", "mlflow"], "'mlflow' is not one of 'wandb', 'tensorboard'"),
        (["run", "TINY", "--cpus-per-run", "many"], "'--cpus-per-run'"),
        (["run", "TINY", "--cpus-per-run", "many"], "(got 'many')"),
        (["compare", "MISSING"], "or one with --axis KEY=BASE,NEW"),
        (["compare", "MISSING", "MISSING"], "does not exist"),
        (["export", "MISSING"], "does not exist"),
    ],
)
def test_user_errors_are_one_line_exit_2_and_write_nothing(
    tmp_path, monkeypatch, capsys, args, message
):
    config = write_toml(tmp_path / "tiny.toml", tiny())
    out_dir = tmp_path / "results"
    args = [
        str(config) if a == "TINY" else str(tmp_path / "missing") if a == "MISSING" else a
        for a in args
    ]
    if args[0] == "run":
        args += ["--out", str(out_dir)]
    code, _, err = seqbench(monkeypatch, capsys, *args)
    assert code == 2
    assert message in err
    assert err.strip().count("\n") == 0 and "Traceback" not in err
    assert not out_dir.exists()


def test_cuda_without_gpu_is_a_user_error(tmp_path, monkeypatch, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    config = write_toml(tmp_path / "tiny.toml", tiny())
    code, _, err = seqbench(
        monkeypatch, capsys, "run", str(config), "--device", "cuda", "--out", str(tmp_path / "r")
    )
    assert code == 2 and "no CUDA device" in err


def test_check_passes_for_a_builtin_block(monkeypatch, capsys):
    code, out, _ = seqbench(monkeypatch, capsys, "check", "lstm")
    assert code == 0 and " 0 failed" in out


def test_check_fails_a_future_peeking_class(tmp_path, monkeypatch, capsys):
    (tmp_path / "peeking_block.py").write_text(
        "import torch\n"
        "from architectures import Block, BlockConfig\n"
        "class Peek(Block):\n"
        "    Config = BlockConfig\n"
        "    def __init__(self, config):\n"
        "        super().__init__(config)\n"
        "        self.mixer = torch.nn.Linear(config.d_model, config.d_model)\n"
        "    def forward(self, x):\n"
        "        self.select_backend(x)\n"
        "        return self.mixer(x) + x.flip(1)\n"
        "    def init_state(self, batch_size):\n"
        "        return {}\n"
        "    def step(self, x, state):\n"
        "        return self.mixer(x), state\n"
        "    def state_size(self, seq_len):\n"
        "        return 0\n"
    )
    monkeypatch.chdir(tmp_path)
    code, out, _ = seqbench(monkeypatch, capsys, "check", "peeking_block:Peek")
    assert code == 1
    assert "not causal" in out and "FAIL" in out


def test_console_script_is_installed_and_a_user_error_exits_2_in_one_line():
    result = subprocess.run(
        ["seqbench", "run", "no-such-preset"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "no-such-preset" in result.stderr
    assert "Traceback" not in result.stderr
