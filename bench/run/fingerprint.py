"""Which code made a run: a fingerprint kept in every run file and checked on resume.

A finished run is reused only while the code that produced it is unchanged, so each
record carries ``record["code"]``::

    {"block": "9f2c…", "task": "41ab…",            # digests of the source files below
     "modules": {"seqbench_gru": "77d0…", "tasks.copy": "c3e1…", …},
     "packages": {"seqbench-gru": "0.1.0"},         # distributions other than seqbench
     "seqbench": "1a2b3c4", "dirty": true}          # seqbench's git commit, uncommitted edits

The block's files are the module that defines its class and every module of the same
top-level package that module reaches through its global names (base classes, helpers,
kernels), so an edit to ``architectures/selective_scan.py`` changes Mamba's digest and
an edit to a plugin's ``forward`` changes that plugin's. The task's files are found the
same way. The digests hash the files on disk when the run starts. ``dirty`` says whether
seqbench's own tree had uncommitted changes then, which the commit alone cannot show.
"""

from __future__ import annotations

import functools
import hashlib
import sys
from importlib.metadata import PackageNotFoundError, packages_distributions, version
from pathlib import Path
from types import ModuleType
from typing import Any

import architectures
import tasks
from bench.run.measure import git, git_commit
from bench.sweep.config import RunConfig


def fingerprint(run: RunConfig) -> dict[str, Any]:
    """The code fingerprint of ``run`` as it would execute now; never raises."""
    return _fingerprint(run, {"seqbench": git_commit(), "dirty": git_dirty()})


def fingerprints(runs: list[RunConfig]) -> dict[str, dict[str, Any]]:
    """Config hash -> fingerprint for many runs (git is asked once)."""
    state = {"seqbench": git_commit(), "dirty": git_dirty()}
    return {run.hash: _fingerprint(run, state) for run in runs}


def _fingerprint(run: RunConfig, git_state: dict[str, Any]) -> dict[str, Any]:
    code: dict[str, Any] = {"block": "", "task": "", "modules": {}, "packages": {}}
    try:
        classes = {"block": architectures.get(run.architecture)}
        if run.task != "none":
            classes["task"] = tasks.get(run.task)
        for role, cls in classes.items():
            files = source_digests(cls)
            code["modules"].update(files)
            code[role] = _combine(files)
            code["packages"].update(_packages(cls))
    except Exception as error:  # an unimportable block: the run itself will say why
        code["error"] = f"{type(error).__name__}: {error}"
    code.update(git_state)
    return code


def source_digests(cls: type) -> dict[str, str]:
    """Module name -> digest of its source file, for the modules that make up ``cls``."""
    return {
        name: _file_digest(path)
        for name, module in sorted(_modules(cls).items())
        if (path := getattr(module, "__file__", None))
    }


def changes(recorded: dict[str, Any], current: dict[str, Any], run: RunConfig) -> list[str]:
    """Why a run recorded with ``recorded`` would not be reproduced by ``current`` code;
    empty when nothing that the fingerprint sees has changed."""
    reasons = []
    for role, name in (("block", run.architecture), ("task", run.task)):
        before, now = recorded.get(role), current.get(role)
        if before and now and before != now:
            modules = _changed_modules(recorded.get("modules", {}), current.get("modules", {}))
            where = f" ({', '.join(modules)})" if modules else ""
            reasons.append(f"{role} {name} changed{where}")
    before, now = recorded.get("seqbench"), current.get("seqbench")
    if before and now and before != now:
        reasons.append(f"seqbench commit {before} → {now}")
    return reasons


def git_dirty() -> bool | None:
    """Whether seqbench's git tree has uncommitted changes to tracked files; None outside git."""
    status = git("status", "--porcelain", "--untracked-files=no")
    return None if status is None else bool(status)


# --- internals -----------------------------------------------------------------------------


def _modules(cls: type) -> dict[str, ModuleType]:
    """The module defining ``cls``, the modules of its base classes, and every module they
    reach through global names, within the top-level package of ``cls``."""
    top = cls.__module__.split(".")[0]

    def ours(name: object) -> bool:
        return isinstance(name, str) and name.split(".")[0] == top and name in sys.modules

    stack = [base.__module__ for base in cls.__mro__ if ours(base.__module__)]
    found: dict[str, ModuleType] = {}
    while stack:
        name = stack.pop()
        if name in found:
            continue
        module = found[name] = sys.modules[name]
        for value in list(vars(module).values()):
            try:
                inner = value.__name__ if isinstance(value, ModuleType) else value.__module__
            except Exception:  # no __module__, or a lazy object that fails when asked
                continue
            if ours(inner) and inner not in found:
                stack.append(inner)
    return found


def _file_digest(path: str) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    except OSError:
        return "unreadable"


def _combine(files: dict[str, str]) -> str:
    blob = "\n".join(f"{name} {digest}" for name, digest in sorted(files.items()))
    return hashlib.sha256(blob.encode()).hexdigest()[:16] if files else ""


def _changed_modules(before: dict[str, str], now: dict[str, str]) -> list[str]:
    return sorted(name for name in before.keys() | now.keys() if before.get(name) != now.get(name))


@functools.cache
def _distributions() -> dict[str, list[str]]:
    return packages_distributions()


def _packages(cls: type) -> dict[str, str]:
    """Installed distributions (other than seqbench) that provide ``cls``'s package."""
    out = {}
    for dist in _distributions().get(cls.__module__.split(".")[0], []):
        if dist.lower() == "seqbench":
            continue
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            continue
    return out
