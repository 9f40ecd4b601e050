"""Adding architectures: drop-in modules, entry-point plugins, and `seqbench check`.

The example plugin (examples/seqbench-gru) is pip-installed, editable, into a throwaway
virtual environment that sees the main one's packages, so the main environment is never
modified; discovery, `seqbench list`, `seqbench check` and a sweep then run there in
subprocesses. Broken blocks (examples/broken_blocks.py) and failing plugins are checked
in-process with the registry's state swapped out and restored.
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
import torch
from _cli import seqbench
from _tiny import tiny, write_toml

import architectures
from architectures import registry
from architectures.contract import run_contract
from bench import store
from bench.run import fingerprint
from bench.sweep.load import build_sweep

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "examples" / "seqbench-gru"
GROUP = "seqbench.architectures"


@pytest.fixture
def fresh_registry(monkeypatch):
    """A copy of the registry, reloaded on next use; the real one is restored afterwards."""
    architectures.names()  # load the real registry first, so restoring it leaves it complete
    monkeypatch.setattr(registry.REGISTRY, "entries", dict(registry.REGISTRY.entries))
    monkeypatch.setattr(registry.REGISTRY, "errors", {})
    monkeypatch.setattr(registry.REGISTRY, "loaded", False)


def fake_entry_points(monkeypatch, **value_by_name):
    eps = [EntryPoint(name=n, value=v, group=GROUP) for n, v in value_by_name.items()]
    monkeypatch.setattr(
        "seqbench.registry.entry_points", lambda group: eps if group == GROUP else []
    )


# --- the example plugin, installed ---------------------------------------------------------


def _run(args, cwd, timeout=300):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory):
    """Python of a throwaway venv with the main venv's packages and the plugin installed."""
    root = tmp_path_factory.mktemp("plugin-env")
    # --system-site-packages would expose the base interpreter's packages, not the
    # main venv's; a .pth that runs site.addsitedir exposes the main venv's instead.
    done = _run([sys.executable, "-m", "venv", "--without-pip", root / "venv"], root)
    assert done.returncode == 0, done.stderr
    python = root / "venv" / "bin" / "python"
    purelib = _run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], root
    )
    main_site = sysconfig.get_paths()["purelib"]
    Path(purelib.stdout.strip(), "_main_venv.pth").write_text(
        f"import site; site.addsitedir({main_site!r})\n"
    )
    # Install a copy, so build files (egg-info) never land in the checkout.
    source = shutil.copytree(
        PLUGIN, root / "seqbench-gru", ignore=shutil.ignore_patterns("*.egg-info", "build")
    )
    install = _run(
        [python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "-e", source],
        root,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    return python


@pytest.mark.slow
def test_installed_plugin_is_discovered_through_its_entry_point(plugin_env, tmp_path):
    code = "import architectures as a, json; print(json.dumps([a.names(), a.plugin_errors()]))"
    done = _run([plugin_env, "-c", code], tmp_path)
    assert done.returncode == 0, done.stderr
    names, errors = json.loads(done.stdout)
    assert {"gru", "swa", "lstm", "transformer"} <= set(names)
    assert errors == {}

    listed = _run([plugin_env, "-m", "bench.cli", "list"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[1]: line for line in listed.stdout.splitlines() if line.startswith("│")}
    assert "seqbench_gru" in rows["gru"] and "seqbench_gru.sliding_window" in rows["swa"]


@pytest.mark.slow
def test_installed_plugin_passes_seqbench_check(plugin_env, tmp_path):
    done = _run([plugin_env, "-m", "bench.cli", "check", "seqbench_gru:GRUBlock"], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert " 0 failed" in done.stdout and "FAIL" not in done.stdout


@pytest.mark.slow
def test_installed_plugin_blocks_run_in_a_sweep(plugin_env, tmp_path):
    raw = tiny(grid={"architecture": ["gru", "swa"]}, model={"swa": {"window": 4}})
    config = write_toml(tmp_path / "plugins.toml", raw)
    done = _run([plugin_env, "-m", "bench.cli", "run", config, "--out", tmp_path / "out"], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    frame = store.load(tmp_path / "out")
    assert set(frame["architecture"]) == {"gru", "swa"}
    assert (frame["status"] == "ok").all(), frame[["architecture", "status", "error"]]


def test_the_plugin_is_not_visible_without_installing_it():
    assert "gru" not in architectures.names()  # so the tests above prove the entry point works


@pytest.mark.parametrize(
    ("target", "config"),
    [
        ("seqbench_gru:GRUBlock", {}),
        ("seqbench_gru:GRUBlock", {"d_hidden": 48}),
        ("seqbench_gru.sliding_window:SlidingWindowBlock", {"window": 5}),  # the ring wraps
    ],
    ids=["gru", "gru-d_hidden=48", "swa-window=5"],
)
def test_example_plugin_blocks_obey_the_contract(target, config, monkeypatch):
    # The plugin's classes carry no @register, so importing them here registers nothing.
    monkeypatch.syspath_prepend(str(PLUGIN))
    module, _, name = target.partition(":")
    cls = getattr(__import__(module, fromlist=[name]), name)
    failed = [r for r in run_contract(cls, **config) if not r.passed]
    assert not failed, failed
    assert "gru" not in architectures.names()


# --- seqbench check on broken blocks ------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "check", "reason"),
    [
        ("FuturePeeking", "causal", "not causal"),
        ("StepMismatch", "step_matches_forward", "step disagrees with forward"),
        ("UnderReportedState", "state_size_honest", "under-reports"),
    ],
    ids=["future-peeking", "step-mismatch", "under-reported-state"],
)
def test_check_fails_a_broken_block_with_its_reason(cls, check, reason, monkeypatch, capsys):
    monkeypatch.chdir(REPO)  # `seqbench check module:Class` imports relative to the cwd
    code, out, _ = seqbench(monkeypatch, capsys, "check", f"examples.broken_blocks:{cls}")
    assert code == 1
    failing = [line for line in out.splitlines() if "FAIL" in line]
    assert any(check in line and reason in line for line in failing), out
    assert " 0 failed" not in out


def test_check_passes_the_correct_block_the_broken_ones_derive_from(monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    code, out, _ = seqbench(monkeypatch, capsys, "check", "examples.broken_blocks:RunningMean")
    assert code == 0 and " 0 failed" in out


# --- registry: failing plugins, class entry points, drop-in modules -------------------------


def test_failing_plugin_is_reported_and_others_still_work(fresh_registry, monkeypatch, capsys):
    fake_entry_points(monkeypatch, broken="nonexistent_module_xyz:Block")
    with pytest.warns(UserWarning, match="'broken' failed to load"):
        names = architectures.names()
    errors = architectures.plugin_errors()
    assert list(errors) == ["broken"]
    assert (
        "ModuleNotFoundError" in errors["broken"] and "nonexistent_module_xyz" in errors["broken"]
    )
    assert {"transformer", "lstm"} <= set(names) and "broken" not in names
    block = architectures.create("lstm", d_model=16)
    assert block(torch.randn(2, 5, 16)).shape == (2, 5, 16)

    code, out, _ = seqbench(monkeypatch, capsys, "list")
    assert code == 0
    broken_row = next(line for line in out.splitlines() if "broken" in line)
    assert "failed to load" in broken_row and "ModuleNotFoundError" in broken_row
    assert any(line.split()[1:2] == ["lstm"] for line in out.splitlines())


def test_entry_point_naming_a_class_registers_it_under_the_entry_point_name(
    fresh_registry, monkeypatch
):
    monkeypatch.syspath_prepend(str(REPO))
    fake_entry_points(monkeypatch, **{"running-mean": "examples.broken_blocks:RunningMean"})
    assert "running-mean" in architectures.names()
    block = architectures.create("running-mean", d_model=8)
    assert type(block).__name__ == "RunningMean" and block.name == "running-mean"
    assert architectures.plugin_errors() == {}


def test_a_new_module_in_architectures_registers_with_no_other_change(
    fresh_registry, monkeypatch, tmp_path
):
    # Stand-in for a new file architectures/dropin.py: a folder added to the package path.
    (tmp_path / "dropin.py").write_text(
        textwrap.dedent(
            """
            from architectures import register
            from examples.broken_blocks import RunningMean

            @register("test-dropin")
            class DropIn(RunningMean):
                pass
            """
        )
    )
    monkeypatch.syspath_prepend(str(REPO))
    monkeypatch.setattr(architectures, "__path__", [*architectures.__path__, str(tmp_path)])
    fake_entry_points(monkeypatch)
    try:
        assert "test-dropin" in architectures.names()
        cls = architectures.get("test-dropin")
        assert cls.__module__ == "architectures.dropin"
        assert all(result.passed for result in run_contract(cls))
    finally:
        sys.modules.pop("architectures.dropin", None)


# --- module:Class in sweeps, and code fingerprints --------------------------------------------

_MEAN_BLOCK = """
from examples.broken_blocks import RunningMean


class Mean(RunningMean):
    def forward(self, x):
        return super().forward(x)
"""


@pytest.fixture
def block_module(tmp_path, monkeypatch):
    """An unpackaged block file in the current folder: ``meanblock:Mean``."""
    path = tmp_path / "meanblock.py"
    path.write_text(_MEAN_BLOCK)
    monkeypatch.syspath_prepend(str(REPO))  # for examples.broken_blocks
    monkeypatch.chdir(tmp_path)
    yield path
    sys.modules.pop("meanblock", None)


def test_a_sweep_names_a_block_by_module_and_class(block_module, tmp_path, monkeypatch, capsys):
    raw = tiny(grid={"architecture": ["meanblock:Mean", "lstm"], "task": ["copy"]})
    raw["model"]["meanblock:Mean"] = {"backend": "torch"}  # its own settings table works too
    config = write_toml(tmp_path / "plugins.toml", raw)
    code, _, err = seqbench(monkeypatch, capsys, "run", str(config), "--out", str(tmp_path / "r"))
    assert code == 0, err
    frame = store.load(tmp_path / "r")
    assert set(frame["architecture"]) == {"meanblock:Mean", "lstm"}
    assert (frame["status"] == "ok").all(), frame[["architecture", "error"]]
    assert "meanblock:Mean" not in architectures.names()  # named, not registered


@pytest.mark.parametrize(
    ("architecture", "message"),
    [
        ("no_such_module:Block", "grid.architecture contains 'no_such_module:Block': cannot import 'no_such_module'"),
        ("meanblock:Nope", "module 'meanblock' has no class 'Nope'"),
        ("meanblock:RunningMean.forward", "has no class"),
        ("examples.broken_blocks:F", "'examples.broken_blocks:F' is not a seqbench Block subclass"),
    ],
)  # fmt: skip
def test_a_module_class_that_does_not_resolve_is_a_one_line_error(
    block_module, tmp_path, monkeypatch, capsys, architecture, message
):
    config = write_toml(tmp_path / "plugins.toml", tiny())
    out = tmp_path / "r"
    code, _, err = seqbench(
        monkeypatch, capsys, "run", str(config), "--out", str(out),
        "--set", f'grid.architecture=["{architecture}"]',
    )  # fmt: skip
    assert code == 2 and message in err and err.strip().count("\n") == 0
    assert not out.exists()
    # seqbench check resolves names through the same function, with the same errors.
    code, _, err = seqbench(monkeypatch, capsys, "check", architecture)
    assert code == 2 and message.split(": ", 1)[-1] in err


def test_editing_a_plugin_block_is_reported_on_resume_and_rerun_changed_reruns_it(
    block_module, tmp_path, monkeypatch, capsys
):
    raw = tiny(grid={"architecture": ["meanblock:Mean", "lstm"], "task": ["copy"]})
    raw["measure"] = {"cost": False}
    config, out = write_toml(tmp_path / "plugins.toml", raw), tmp_path / "r"
    run = ["run", str(config), "--out", str(out)]
    assert seqbench(monkeypatch, capsys, *run)[0] == 0
    code, stdout, _ = seqbench(monkeypatch, capsys, *run)
    assert code == 0 and "2 already done, 0 to run" in stdout and "other code" not in stdout
    records = {r["config"]["architecture"]: r for r in store.read_runs(out)}
    assert records["meanblock:Mean"]["code"]["modules"].keys() >= {"meanblock"}

    block_module.write_text(_MEAN_BLOCK.replace("return super().forward(x)", "return 2 * x"))
    code, stdout, _ = seqbench(monkeypatch, capsys, *run)
    assert code == 0 and "2 already done, 0 to run" in stdout
    assert (
        "1 of the 2 finished runs in " in stdout
        and "were made by other code (block meanblock:Mean changed (meanblock) ×1)" in stdout
        and "--rerun-changed runs those again" in stdout
    )

    code, stdout, _ = seqbench(monkeypatch, capsys, *run, "--rerun-changed")
    assert code == 0 and "1 already done, 1 to run" in stdout
    assert "1 finished runs were made by other code and run again" in stdout
    code, stdout, _ = seqbench(monkeypatch, capsys, *run)
    assert "2 already done, 0 to run" in stdout and "other code" not in stdout


@pytest.mark.slow
def test_editing_an_installed_plugin_is_reported_on_resume(plugin_env, tmp_path):
    raw = tiny(grid={"architecture": ["gru"], "task": ["copy"]}, measure={"cost": False})
    config = write_toml(tmp_path / "gru.toml", raw)
    run = [plugin_env, "-m", "bench.cli", "run", config, "--out", tmp_path / "out"]
    done = _run(run, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    source = plugin_env.parents[2] / "seqbench-gru" / "seqbench_gru" / "__init__.py"
    original = source.read_text()
    try:
        source.write_text(original.replace("return x + self.mlp(", "return x + 0.5 * self.mlp("))
        done = _run(run, tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "1 of the 1 finished runs" in done.stdout
        assert "block gru changed (seqbench_gru)" in done.stdout
    finally:
        source.write_text(original)
    done = _run(run, tmp_path)
    assert "other code" not in done.stdout  # the original source: the run is current again


def test_a_block_fingerprint_follows_its_package_helpers_and_ignores_other_packages(
    tmp_path, monkeypatch
):
    package = tmp_path / "pkgblock"
    package.mkdir()
    (package / "helpers.py").write_text("def scale(x):\n    return x\n")
    (package / "__init__.py").write_text(
        "from examples.broken_blocks import RunningMean\n"
        "from .helpers import scale\n\n"
        "class Scaled(RunningMean):\n"
        "    def forward(self, x):\n"
        "        return scale(super().forward(x))\n"
    )
    monkeypatch.syspath_prepend(str(REPO))
    monkeypatch.chdir(tmp_path)
    try:
        cls = architectures.get("pkgblock:Scaled")
        before = fingerprint.source_digests(cls)
        assert set(before) == {"pkgblock", "pkgblock.helpers"}  # not examples.*, not torch
        (package / "helpers.py").write_text("def scale(x):\n    return 2 * x\n")
        after = fingerprint.source_digests(cls)
        assert after["pkgblock"] == before["pkgblock"]
        assert after["pkgblock.helpers"] != before["pkgblock.helpers"]
        sweep = build_sweep(tiny(grid={"architecture": ["pkgblock:Scaled"], "task": ["copy"]}))
        (run,) = sweep.runs
        recorded = {"block": fingerprint._combine(before), "modules": before, "seqbench": "a"}
        current = {"block": fingerprint._combine(after), "modules": after, "seqbench": "a"}
        assert fingerprint.changes(recorded, current, run) == [
            "block pkgblock:Scaled changed (pkgblock.helpers)"
        ]
        assert fingerprint.changes(recorded, recorded, run) == []
    finally:
        for name in ("pkgblock", "pkgblock.helpers"):
            sys.modules.pop(name, None)
