"""Name -> Task class. ``@register("name")`` adds a class; ``create`` builds one.

seqbench's own tasks register when their module is imported (every public module of
this package is imported on first use, so a new task is one new file). Third-party
tasks register through the entry-point group ``seqbench.tasks``: the entry point may
name a module (whose import registers) or a Task class (registered under the entry
point's name). A plugin that fails to import is reported, never fatal.
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
_INFRASTRUCTURE = {"base", "registry", "metrics"}

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
            importlib.import_module(f"tasks.{module.name}")
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = ep.load()
            if (
                isinstance(loaded, type)
                and issubclass(loaded, Task)
                and loaded not in _REGISTRY.values()
            ):
                register(ep.name)(loaded)
        except Exception as error:  # a broken plugin must not break the others
            _PLUGIN_ERRORS[ep.name] = f"{type(error).__name__}: {error}"
            warnings.warn(
                f"seqbench task plugin {ep.name!r} ({ep.value}) failed to load: "
                f"{type(error).__name__}: {error}",
                stacklevel=2,
            )


def available() -> list[str]:
    """Registered task names, sorted."""
    _load()
    return sorted(_REGISTRY)


def plugin_errors() -> dict[str, str]:
    """Entry points that failed to load: name -> error."""
    _load()
    return dict(_PLUGIN_ERRORS)


def get(name: str) -> type[Task]:
    """The Task class registered as ``name``."""
    _load()
    if name not in _REGISTRY:
        raise TaskConfigError(f"unknown task {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


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
