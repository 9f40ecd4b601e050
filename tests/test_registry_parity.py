"""The two registries, held to one table of behaviours so that they cannot drift apart.

``architectures/registry.py`` and ``tasks/registry.py`` share no code (the packages never
import each other), so every behaviour below runs against both. A new behaviour goes in
``BEHAVIOURS`` and is tested on both registries at once.

Left out on purpose: ``architectures.get("package.module:Class")``, which only blocks
support (see ``tasks/registry.py``); ``tests/test_plugins.py`` covers it.
"""

from __future__ import annotations

import re
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import EntryPoint
from pathlib import Path
from types import ModuleType

import pytest

import architectures
import tasks
from architectures import registry as block_registry
from tasks import registry as task_registry

API = (
    "available",
    "config_fields",
    "create",
    "get",
    "make_config",
    "names",
    "plugin_errors",
    "register",
)


@dataclass(frozen=True)
class Side:
    """One registry and the words its errors use."""

    package: ModuleType
    registry: ModuleType
    base: type
    error: type[Exception]
    kind: str  # "architecture": the word in its error messages
    builtin: str  # a registered name to build on

    @property
    def id(self) -> str:
        return self.package.__name__

    def subclass(self, qualname: str = "Parity") -> type:
        """A new, unregistered class that works: a built-in under another name."""
        return type(qualname, (self.package.get(self.builtin),), {"__qualname__": qualname})


SIDES = [
    Side(
        architectures, block_registry, architectures.Block, architectures.ConfigError,
        "architecture", "lstm",
    ),
    Side(tasks, task_registry, tasks.Task, tasks.TaskConfigError, "task", "copy"),
]  # fmt: skip


@pytest.fixture
def fresh(monkeypatch):
    """Swap out one side's registry state (reloaded on next use, no entry points); restored after."""

    def swap(side: Side, entry_points: dict[str, str] | None = None) -> None:
        side.package.names()  # load the real registry first, so restoring it leaves it complete
        monkeypatch.setattr(side.registry, "_REGISTRY", dict(side.registry._REGISTRY))
        monkeypatch.setattr(side.registry, "_PLUGIN_ERRORS", {})
        monkeypatch.setattr(side.registry, "_loaded", False)
        group = side.registry.ENTRY_POINT_GROUP
        eps = [EntryPoint(name=n, value=v, group=group) for n, v in (entry_points or {}).items()]
        monkeypatch.setattr(side.registry, "entry_points", lambda group: eps)

    return swap


# --- the behaviours: each takes (side, fresh, monkeypatch, tmp_path) -------------------------


def unknown_name_is_an_error_listing_the_valid_names(side, fresh, monkeypatch, tmp_path):
    fresh(side)
    with pytest.raises(side.error, match=f"^unknown {side.kind} 'nope'; available: ") as error:
        side.package.get("nope")
    assert all(name in str(error.value) for name in side.package.names())
    assert isinstance(error.value, ValueError)
    with pytest.raises(side.error, match="unknown"):
        side.package.create("nope")


def a_taken_name_is_an_error_naming_its_owner(side, fresh, monkeypatch, tmp_path):
    fresh(side)
    owner = side.package.get(side.builtin)
    where = re.escape(f"{owner.__module__}.{owner.__qualname__}")
    with pytest.raises(
        side.error, match=f"^{side.kind} name '{side.builtin}' is taken by {where}$"
    ):
        side.package.register(side.builtin)(side.subclass("Other"))
    assert side.package.get(side.builtin) is owner


def registering_the_same_class_again_is_allowed(side, fresh, monkeypatch, tmp_path):
    fresh(side)  # a module imported twice registers its classes twice
    owner = side.package.get(side.builtin)
    assert side.package.register(side.builtin)(owner) is owner


def register_rejects_what_is_not_the_base_class(side, fresh, monkeypatch, tmp_path):
    fresh(side)
    with pytest.raises(TypeError, match=f"expects a {side.base.__name__} subclass"):
        side.package.register("thing")(object)


def get_and_create_give_the_registered_class_and_an_instance(side, fresh, monkeypatch, tmp_path):
    fresh(side)
    cls = side.package.register("parity-new")(side.subclass())
    assert cls.name == "parity-new"
    assert side.package.get("parity-new") is cls
    assert type(side.package.create("parity-new")) is cls


def names_is_a_sorted_list_of_every_registered_name(side, fresh, monkeypatch, tmp_path):
    fresh(side)
    before = side.package.names()
    side.package.register("zz-parity")(side.subclass("Last"))
    side.package.register("aa-parity")(side.subclass("First"))
    after = side.package.names()
    assert isinstance(after, list) and after == sorted(after)
    assert after == sorted([*before, "zz-parity", "aa-parity"])


def available_is_a_sorted_list_of_usable_names(side, fresh, monkeypatch, tmp_path):
    fresh(side)
    found = side.package.available()
    assert isinstance(found, list) and found == sorted(found)
    assert side.builtin in found and set(found) <= set(side.package.names())


def unknown_setting_is_an_error_listing_the_valid_ones(side, fresh, monkeypatch, tmp_path):
    fresh(side)
    valid = re.escape(", ".join(side.package.get(side.builtin).Config.field_names()))
    message = f"^{side.kind} {side.builtin} has no setting 'bogus'; valid settings: {valid}$"
    with pytest.raises(side.error, match=message):
        side.package.create(side.builtin, bogus=1)


def config_fields_gives_every_setting_with_its_default(side, fresh, monkeypatch, tmp_path):
    fresh(side)
    fields = side.package.config_fields(side.builtin)
    assert list(fields) == side.package.get(side.builtin).Config.field_names()
    assert side.package.make_config(side.builtin) == side.package.get(side.builtin).Config()


def a_module_that_raises_on_import_is_recorded_and_warned_not_raised(
    side, fresh, monkeypatch, tmp_path
):
    fresh(side)  # stand-in for a broken new file in the package: a folder added to its path
    (tmp_path / "parity_broken.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.setattr(side.package, "__path__", [*side.package.__path__, str(tmp_path)])
    source = f"{side.id}.parity_broken"
    try:
        with pytest.warns(UserWarning, match=f"{side.id} from '{source}' failed to load: Runt"):
            names = side.package.names()
        assert side.package.plugin_errors() == {source: "RuntimeError: boom"}
        assert side.builtin in names
        assert side.package.create(side.builtin) is not None
    finally:
        sys.modules.pop(source, None)


def an_entry_point_that_fails_to_import_is_recorded_and_warned_not_raised(
    side, fresh, monkeypatch, tmp_path
):
    fresh(side, {"broken": "nonexistent_module_xyz:Thing"})
    with pytest.warns(UserWarning, match=f"{side.id} from 'broken' failed to load: ModuleNotF"):
        names = side.package.names()
    errors = side.package.plugin_errors()
    assert list(errors) == ["broken"] and "nonexistent_module_xyz" in errors["broken"]
    assert side.builtin in names and "broken" not in names


def an_entry_point_naming_a_class_registers_it_under_its_name(side, fresh, monkeypatch, tmp_path):
    module = f"parity_plugin_{side.id}"
    (tmp_path / f"{module}.py").write_text(
        textwrap.dedent(
            f"""
            import {side.id}

            class Plugin({side.id}.registry._REGISTRY[{side.builtin!r}]):
                pass
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    fresh(side, {"parity-plugin": f"{module}:Plugin"})
    try:
        assert "parity-plugin" in side.package.names()
        cls = side.package.get("parity-plugin")
        assert cls.__name__ == "Plugin" and cls.name == "parity-plugin"
        assert side.package.plugin_errors() == {}
    finally:
        sys.modules.pop(module, None)


def the_entry_point_group_is_named_after_the_package(side, fresh, monkeypatch, tmp_path):
    group = side.registry.ENTRY_POINT_GROUP
    assert group == f"seqbench.{side.id}"


def the_package_exports_the_registry_api(side, fresh, monkeypatch, tmp_path):
    assert set(API) <= set(side.package.__all__)
    assert all(getattr(side.package, name) is getattr(side.registry, name) for name in API)


def the_builtin_modules_all_import(side, fresh, monkeypatch, tmp_path):
    assert side.package.plugin_errors() == {}


BEHAVIOURS: list[Callable[..., None]] = [
    unknown_name_is_an_error_listing_the_valid_names,
    a_taken_name_is_an_error_naming_its_owner,
    registering_the_same_class_again_is_allowed,
    register_rejects_what_is_not_the_base_class,
    get_and_create_give_the_registered_class_and_an_instance,
    names_is_a_sorted_list_of_every_registered_name,
    available_is_a_sorted_list_of_usable_names,
    unknown_setting_is_an_error_listing_the_valid_ones,
    config_fields_gives_every_setting_with_its_default,
    a_module_that_raises_on_import_is_recorded_and_warned_not_raised,
    an_entry_point_that_fails_to_import_is_recorded_and_warned_not_raised,
    an_entry_point_naming_a_class_registers_it_under_its_name,
    the_entry_point_group_is_named_after_the_package,
    the_package_exports_the_registry_api,
    the_builtin_modules_all_import,
]


@pytest.mark.parametrize("behaviour", BEHAVIOURS, ids=lambda b: b.__name__.replace("_", "-"))
@pytest.mark.parametrize("side", SIDES, ids=lambda s: s.id)
def test_registry(side: Side, behaviour, fresh, monkeypatch, tmp_path: Path) -> None:
    behaviour(side, fresh, monkeypatch, tmp_path)


def test_both_registries_offer_the_same_public_functions() -> None:
    def public(module: ModuleType) -> set[str]:
        return {
            name
            for name, value in vars(module).items()
            if callable(value)
            and not name.startswith("_")
            and getattr(value, "__module__", None) == module.__name__
        }

    assert public(block_registry) == public(task_registry)
