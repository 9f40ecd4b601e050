"""Name -> Task class. ``@register("name")`` adds a class; ``create`` builds one.

seqbench's own tasks register when their module is imported (every public module of
this package is imported on first use, so a new task is one new file). Third-party
tasks register through the entry-point group ``seqbench.tasks``: the entry point may
name a module (whose import registers) or a Task class (registered under the entry
point's name). A module or plugin that fails to import is recorded in
``plugin_errors()`` and warned about, never fatal.

``architectures/registry.py`` is this file's twin and must behave the same (the packages
never import each other, so they share no code); ``tests/test_registry_parity.py`` holds
both to one table of behaviours. The one deliberate difference: ``get`` does not resolve
``"package.module:Class"`` here. Blocks are what users write outside the repository and
name in sweeps; a task outside it registers through the entry-point group instead.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import warnings
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, TypeVar

from .base import Task, TaskConfig, TaskConfigError

ENTRY_POINT_GROUP = "seqbench.tasks"
_INFRASTRUCTURE = {"base", "registry", "metrics"}  # no tasks inside

_REGISTRY: dict[str, type[Task]] = {}
_PLUGIN_ERRORS: dict[str, str] = {}
_loaded = False

T = TypeVar("T", bound=type[Task])


def register(name: str) -> Callable[[T], T]:
    """Class decorator: make a Task available as ``name``."""

    def decorator(cls: T) -> T:
        if not (isinstance(cls, type) and issubclass(cls, Task)):
            raise TypeError(f"@register({name!r}) expects a Task subclass, got {cls!r}")
        existing = _REGISTRY.get(name)
        if existing is not None and existing.__qualname__ != cls.__qualname__:
            raise TaskConfigError(
                f"task name {name!r} is taken by {existing.__module__}.{existing.__qualname__}"
            )
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorator


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    import tasks

    for module in pkgutil.iter_modules(tasks.__path__):
        if not module.name.startswith("_") and module.name not in _INFRASTRUCTURE:
            path = f"tasks.{module.name}"
            _guarded(path, lambda path=path: importlib.import_module(path))
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        _guarded(ep.name, lambda ep=ep: _load_entry_point(ep))


def _load_entry_point(ep) -> None:
    loaded = ep.load()
    if isinstance(loaded, type) and issubclass(loaded, Task) and loaded not in _REGISTRY.values():
        register(ep.name)(loaded)


def _guarded(source: str, load: Callable[[], object]) -> None:
    """Import one source of tasks; a broken one is reported and does not break the others."""
    try:
        load()
    except Exception as error:
        _PLUGIN_ERRORS[source] = f"{type(error).__name__}: {error}"
        warnings.warn(
            f"seqbench: tasks from {source!r} failed to load: {type(error).__name__}: {error}",
            stacklevel=3,
        )


def names() -> list[str]:
    """Registered task names, sorted."""
    _load()
    return sorted(_REGISTRY)


def available() -> list[str]:
    """Registered names usable on this machine, sorted: every task, since tasks need only torch."""
    _load()
    return sorted(_REGISTRY)


def plugin_errors() -> dict[str, str]:
    """Modules or entry points that failed to import: source -> error."""
    _load()
    return dict(_PLUGIN_ERRORS)


def get(name: str) -> type[Task]:
    """The Task class registered as ``name`` (no ``"module:Class"`` form; see the docstring)."""
    _load()
    if name in _REGISTRY:
        return _REGISTRY[name]
    raise TaskConfigError(f"unknown task {name!r}; available: {', '.join(sorted(_REGISTRY))}")


def make_config(name: str, **config: Any) -> TaskConfig:
    """Validated config for ``name``; unknown keys name the valid ones."""
    cls = get(name)
    valid = cls.Config.field_names()
    unknown = sorted(set(config) - set(valid))
    if unknown:
        raise TaskConfigError(
            f"task {name} has no setting {unknown[0]!r}; valid settings: "
            f"{', '.join(valid) or 'none'}"
        )
    return cls.Config(**config)


def create(name: str, **config: Any) -> Task:
    """Build the task registered as ``name`` from keyword settings."""
    return get(name)(make_config(name, **config))


def config_fields(name: str) -> dict[str, Any]:
    """Default settings of a task: field -> default."""
    return {f.name: f.default for f in dataclasses.fields(get(name).Config)}
