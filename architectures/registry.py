"""Name -> Block class. ``@register("name")`` adds a class; ``create`` builds one.

seqbench's own blocks register when their module is imported (every public module of
this package is imported on first use, so a new block is one new file). Third-party
blocks register through the entry-point group ``seqbench.architectures``: the entry
point may name a module (whose import registers) or a Block class (registered under
the entry point's name). A module or plugin that fails to import is recorded in
``plugin_errors()`` and warned about, never fatal.

Anywhere a name is accepted (sweep files, ``--set``, ``seqbench check``, ``SequenceModel``),
``"package.module:Class"`` names a Block class directly: ``get`` imports the module, with
the current directory first on the path, so an unpackaged file works too.

``tasks/registry.py`` is this file's twin and must behave the same (the packages never
import each other, so they share no code); ``tests/test_registry_parity.py`` holds both
to one table of behaviours.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import sys
import warnings
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, TypeVar

from .base import Block, ConfigError

ENTRY_POINT_GROUP = "seqbench.architectures"
_INFRASTRUCTURE = {"base", "registry", "model", "contract", "layers"}  # no blocks inside

_REGISTRY: dict[str, type[Block]] = {}
_PLUGIN_ERRORS: dict[str, str] = {}
_loaded = False

B = TypeVar("B", bound=type[Block])


def register(name: str) -> Callable[[B], B]:
    """Class decorator: make a Block available as ``name``."""

    def decorator(cls: B) -> B:
        if not (isinstance(cls, type) and issubclass(cls, Block)):
            raise TypeError(f"@register({name!r}) expects a Block subclass, got {cls!r}")
        existing = _REGISTRY.get(name)
        if existing is not None and existing.__qualname__ != cls.__qualname__:
            raise ConfigError(
                f"architecture name {name!r} is taken by "
                f"{existing.__module__}.{existing.__qualname__}"
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
    import architectures

    for module in pkgutil.iter_modules(architectures.__path__):
        if not module.name.startswith("_") and module.name not in _INFRASTRUCTURE:
            path = f"architectures.{module.name}"
            _guarded(path, lambda path=path: importlib.import_module(path))
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        _guarded(ep.name, lambda ep=ep: _load_entry_point(ep))


def _load_entry_point(ep) -> None:
    loaded = ep.load()
    if isinstance(loaded, type) and issubclass(loaded, Block) and loaded not in _REGISTRY.values():
        register(ep.name)(loaded)


def _guarded(source: str, load: Callable[[], object]) -> None:
    """Import one source of blocks; a broken one is reported and does not break the others."""
    try:
        load()
    except Exception as error:
        _PLUGIN_ERRORS[source] = f"{type(error).__name__}: {error}"
        warnings.warn(
            f"seqbench: architectures from {source!r} failed to load: "
            f"{type(error).__name__}: {error}",
            stacklevel=3,
        )


def names() -> list[str]:
    """Registered architecture names, sorted."""
    _load()
    return sorted(_REGISTRY)


def available() -> list[str]:
    """Registered names usable on this machine (at least one backend), sorted.

    Which backends: ``get(name).backends()``.
    """
    _load()
    return [name for name in sorted(_REGISTRY) if _REGISTRY[name].backends()]


def plugin_errors() -> dict[str, str]:
    """Modules or entry points that failed to import: source -> error."""
    _load()
    return dict(_PLUGIN_ERRORS)


def get(name: str) -> type[Block]:
    """The Block class registered as ``name``, or the class ``name`` = ``"module:Class"`` names."""
    _load()
    if name in _REGISTRY:
        return _REGISTRY[name]
    if isinstance(name, str) and ":" in name:
        return _import_block(name)
    raise ConfigError(
        f"unknown architecture {name!r}; available: {', '.join(sorted(_REGISTRY))} "
        "(or module:Class)"
    )


def _import_block(target: str) -> type[Block]:
    """``"package.module:Class"`` -> the class, imported with the current directory on the path.

    Not added to the registry: ``names()`` lists registered blocks only, and the class
    keeps whatever ``name`` an entry point gave it.
    """
    module_name, _, class_name = target.partition(":")
    if not module_name or not class_name:
        raise ConfigError(f"{target!r} must look like package.module:Class")
    here = str(Path.cwd())
    sys.path.insert(0, here)
    try:
        module = importlib.import_module(module_name)
    except Exception as error:
        raise ConfigError(
            f"cannot import {module_name!r}: {type(error).__name__}: {error}"
        ) from None
    finally:
        sys.path.remove(here)  # the first occurrence: the one inserted above
    cls = getattr(module, class_name, None)
    if cls is None:
        raise ConfigError(f"module {module_name!r} has no class {class_name!r}")
    if not (isinstance(cls, type) and issubclass(cls, Block)):
        raise ConfigError(f"{target!r} is not a seqbench Block subclass")
    return cls


def make_config(name: str, **config: Any):
    """Validated config for ``name``; unknown keys name the valid ones."""
    cls = get(name)
    valid = cls.Config.field_names()
    unknown = sorted(set(config) - set(valid))
    if unknown:
        raise ConfigError(
            f"architecture {name} has no setting {unknown[0]!r}; valid settings: "
            f"{', '.join(valid) or 'none'}"
        )
    return cls.Config(**config)


def create(name: str, **config: Any) -> Block:
    """Build the block registered as ``name`` from keyword settings."""
    return get(name)(make_config(name, **config))


def config_fields(name: str) -> dict[str, Any]:
    """Default settings of an architecture: field -> default."""
    return {f.name: f.default for f in dataclasses.fields(get(name).Config)}
