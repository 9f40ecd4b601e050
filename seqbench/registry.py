"""One registry class for every kind of named thing (blocks, tasks), as timm's
``_registry`` keeps models: name -> class, with the module that defined each entry.

seqbench's own entries register when their module is imported: every public module of
the owning package is imported on first use, so a new block or task is one new file.
Modules that define nothing simply register nothing, so no list of "infrastructure"
modules is kept by hand; ``defined_in(name)`` says where each entry came from and
``built_in(name)`` whether it is the package's own. Third-party entries register through
an entry-point group: the entry point may name a module (whose import registers) or a
class (registered under the entry point's name). A module or plugin that fails to
import is recorded in ``errors`` and warned about, never fatal.

Where the registry allows it (``import_paths=True``, blocks), ``"package.module:Class"``
names a class directly: ``get`` imports the module with the current directory first on
the path, so an unpackaged file works too.
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
from typing import Any, Generic, TypeVar

from seqbench.errors import UserError

C = TypeVar("C", bound=type)


class Registry(Generic[C]):
    """Name -> class for one kind (``"architecture"``, ``"task"``).

    ``kind`` words the messages; ``package`` is the package whose modules are imported on
    first use; ``base`` is the class every entry must subclass; ``error`` is the
    ``UserError`` subclass raised for a user's mistake; ``entry_point_group`` is where
    plugins register; ``import_paths`` allows ``module:Class`` names in ``get``; ``usable``
    says whether an entry can run on this machine (``available``).
    """

    def __init__(
        self,
        kind: str,
        *,
        package: str,
        base: type,
        error: type[UserError],
        entry_point_group: str,
        import_paths: bool = False,
        usable: Callable[[Any], bool] = lambda cls: True,
    ) -> None:
        self.kind = kind
        self.package = package
        self.base = base
        self.error = error
        self.entry_point_group = entry_point_group
        self.import_paths = import_paths
        self.usable = usable
        self.entries: dict[str, C] = {}
        self.errors: dict[str, str] = {}  # source -> "ErrorType: message"
        self.loaded = False

    # ------------------------------------------------------------------ registering

    def register(self, name: str) -> Callable[[C], C]:
        """Class decorator: make ``cls`` available as ``name``."""

        def decorator(cls: C) -> C:
            if not (isinstance(cls, type) and issubclass(cls, self.base)):
                raise TypeError(
                    f"@register({name!r}) expects a {self.base.__name__} subclass, got {cls!r}"
                )
            existing = self.entries.get(name)
            if existing is not None and existing.__qualname__ != cls.__qualname__:
                raise self.error(
                    f"{self.kind} name {name!r} is taken by "
                    f"{existing.__module__}.{existing.__qualname__}"
                )
            cls.name = name
            self.entries[name] = cls
            return cls

        return decorator

    def load(self) -> None:
        """Import the package's own modules, then the entry points (once)."""
        if self.loaded:
            return
        self.loaded = True
        package = importlib.import_module(self.package)
        for module in pkgutil.walk_packages(package.__path__, prefix=f"{self.package}."):
            if not any(part.startswith("_") for part in module.name.split(".")[1:]):
                self._guarded(module.name, lambda name=module.name: importlib.import_module(name))
        for ep in entry_points(group=self.entry_point_group):
            self._guarded(ep.name, lambda ep=ep: self._load_entry_point(ep))

    def _load_entry_point(self, ep) -> None:
        loaded = ep.load()
        if (
            isinstance(loaded, type)
            and issubclass(loaded, self.base)
            and loaded not in self.entries.values()
        ):
            self.register(ep.name)(loaded)

    def _guarded(self, source: str, load: Callable[[], object]) -> None:
        """Import one source of entries; a broken one is reported and breaks no other."""
        try:
            load()
        except Exception as error:
            self.errors[source] = f"{type(error).__name__}: {error}"
            warnings.warn(
                f"seqbench: {self.kind} entries from {source!r} failed to load: "
                f"{type(error).__name__}: {error}",
                stacklevel=4,
            )

    # ------------------------------------------------------------------ reading

    def names(self) -> list[str]:
        """Registered names, sorted."""
        self.load()
        return sorted(self.entries)

    def available(self) -> list[str]:
        """Registered names usable on this machine (``usable(cls)``), sorted."""
        self.load()
        return [name for name in sorted(self.entries) if self.usable(self.entries[name])]

    def defined_in(self, name: str) -> str:
        """The module that defined the entry ``name``."""
        return self.get(name).__module__

    def built_in(self, name: str) -> bool:
        """Whether ``name`` is one of the package's own entries (not a plugin's)."""
        return self.defined_in(name).startswith(f"{self.package}.")

    def plugin_errors(self) -> dict[str, str]:
        """Modules or entry points that failed to import: source -> error."""
        self.load()
        return dict(self.errors)

    def get(self, name: str) -> C:
        """The class registered as ``name`` (or named ``"module:Class"`` where allowed)."""
        self.load()
        if name in self.entries:
            return self.entries[name]
        if self.import_paths and isinstance(name, str) and ":" in name:
            return self._import_class(name)
        hint = " (or module:Class)" if self.import_paths else ""
        raise self.error(
            f"unknown {self.kind} {name!r}; available: {', '.join(sorted(self.entries))}{hint}"
        )

    def _import_class(self, target: str) -> C:
        """``"package.module:Class"`` -> the class, imported with the current directory on
        the path. Not added to the registry: ``names()`` lists registered entries only."""
        module_name, _, class_name = target.partition(":")
        if not module_name or not class_name:
            raise self.error(f"{target!r} must look like package.module:Class")
        here = str(Path.cwd())
        sys.path.insert(0, here)
        try:
            module = importlib.import_module(module_name)
        except Exception as error:
            raise self.error(
                f"cannot import {module_name!r}: {type(error).__name__}: {error}"
            ) from None
        finally:
            sys.path.remove(here)  # the first occurrence: the one inserted above
        cls = getattr(module, class_name, None)
        if cls is None:
            raise self.error(f"module {module_name!r} has no class {class_name!r}")
        if not (isinstance(cls, type) and issubclass(cls, self.base)):
            raise self.error(f"{target!r} is not a seqbench {self.base.__name__} subclass")
        return cls

    # ------------------------------------------------------------------ building

    def make_config(self, name: str, **config: Any):
        """Validated config for ``name``; unknown keys name the valid ones."""
        cls = self.get(name)
        valid = cls.Config.field_names()
        unknown = sorted(set(config) - set(valid))
        if unknown:
            raise self.error(
                f"{self.kind} {name} has no setting {unknown[0]!r}; valid settings: "
                f"{', '.join(valid) or 'none'}"
            )
        return cls.Config(**config)

    def create(self, name: str, **config: Any):
        """Build the entry registered as ``name`` from keyword settings."""
        return self.get(name)(self.make_config(name, **config))

    def config_fields(self, name: str) -> dict[str, Any]:
        """Default settings of an entry: field -> default."""
        return {f.name: f.default for f in dataclasses.fields(self.get(name).Config)}
