"""``seqbench.Registry``: the one registry class behind blocks and tasks.

The behaviours run against a throwaway package written into ``tmp_path`` (so no test
touches the real registries), then the two wings are checked to be instances of it.
"""

from __future__ import annotations

import re
import sys
import textwrap
from dataclasses import dataclass
from importlib.metadata import EntryPoint

import pytest

import architectures
import tasks
from seqbench import Registry, UserError


class Thing:
    """The base class of the throwaway registry's entries."""

    @dataclass(frozen=True)
    class Config:
        size: int = 1

        @classmethod
        def field_names(cls) -> list[str]:
            return ["size"]

    def __init__(self, config: Config) -> None:
        self.config = config


class ThingError(UserError):
    pass


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """A registry over package ``things`` (modules ``alpha``, ``_private``, ``helpers`` and a
    subpackage ``family``), with no entry points unless a test sets them."""
    package = tmp_path / "things"
    (package / "family").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    register = "from test_registry import REGISTRY_UNDER_TEST as R\n"
    (package / "alpha.py").write_text(
        register
        + textwrap.dedent("""
        from test_registry import Thing

        @R.register("alpha")
        class Alpha(Thing):
            pass
    """)
    )
    (package / "_private.py").write_text("raise RuntimeError('private modules are not imported')\n")
    (package / "helpers.py").write_text("VALUE = 1  # defines nothing: registers nothing\n")
    (package / "family" / "__init__.py").write_text("")
    (package / "family" / "block.py").write_text(
        register
        + textwrap.dedent("""
        from test_registry import Thing

        @R.register("beta")
        class Beta(Thing):
            pass
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    made = Registry(
        "thing",
        package="things",
        base=Thing,
        error=ThingError,
        entry_point_group="seqbench.things",
        import_paths=True,
        usable=lambda cls: cls.__name__ != "Beta",
    )
    monkeypatch.setattr(sys.modules[__name__], "REGISTRY_UNDER_TEST", made, raising=False)
    monkeypatch.setattr("seqbench.registry.entry_points", lambda group: [])
    yield made
    for name in [m for m in sys.modules if m == "things" or m.startswith("things.")]:
        sys.modules.pop(name)


def test_every_public_module_registers_subpackages_too_and_private_ones_are_skipped(registry):
    assert registry.names() == ["alpha", "beta"]
    assert registry.plugin_errors() == {}
    assert registry.defined_in("beta") == "things.family.block"
    assert registry.built_in("alpha") and registry.built_in("beta")


def test_available_lists_the_usable_entries_sorted(registry):
    assert registry.available() == ["alpha"]


def test_get_and_create_give_the_class_and_an_instance_with_its_config(registry):
    cls = registry.get("alpha")
    assert cls.name == "alpha"
    made = registry.create("alpha", size=3)
    assert type(made) is cls and made.config.size == 3
    assert registry.config_fields("alpha") == {"size": 1}


def test_unknown_names_and_settings_are_user_errors_listing_what_is_valid(registry):
    with pytest.raises(ThingError, match=r"^unknown thing 'nope'; available: alpha, beta \(or"):
        registry.get("nope")
    with pytest.raises(
        ThingError, match=r"^thing alpha has no setting 'bogus'; valid settings: size$"
    ):
        registry.create("alpha", bogus=1)
    assert issubclass(ThingError, UserError)


def test_a_taken_name_names_its_owner_and_the_same_class_may_register_again(registry):
    owner = registry.get("alpha")
    assert registry.register("alpha")(owner) is owner  # a module imported twice
    other = type("Other", (Thing,), {})
    with pytest.raises(ThingError, match=re.escape("name 'alpha' is taken by things.alpha.Alpha")):
        registry.register("alpha")(other)
    with pytest.raises(TypeError, match="expects a Thing subclass"):
        registry.register("x")(object)


def test_a_module_that_fails_to_import_is_recorded_and_warned_not_raised(registry, tmp_path):
    (tmp_path / "things" / "broken.py").write_text("raise RuntimeError('boom')\n")
    with pytest.warns(UserWarning, match="thing entries from 'things.broken' failed to load: Runt"):
        names = registry.names()
    assert names == ["alpha", "beta"]
    assert registry.plugin_errors() == {"things.broken": "RuntimeError: boom"}


def test_entry_points_name_a_module_or_a_class_and_a_broken_one_is_recorded(
    registry, tmp_path, monkeypatch
):
    (tmp_path / "plugin_things.py").write_text(
        "from test_registry import Thing\n\nclass Plugin(Thing):\n    pass\n"
    )
    eps = [
        EntryPoint(name="plug", value="plugin_things:Plugin", group="seqbench.things"),
        EntryPoint(name="broken", value="nonexistent_module_xyz:Thing", group="seqbench.things"),
    ]
    monkeypatch.setattr("seqbench.registry.entry_points", lambda group: eps)
    try:
        with pytest.warns(UserWarning, match="from 'broken' failed to load: ModuleNotFound"):
            assert registry.names() == ["alpha", "beta", "plug"]
        assert registry.get("plug").__name__ == "Plugin" and not registry.built_in("plug")
        assert list(registry.plugin_errors()) == ["broken"]
    finally:
        sys.modules.pop("plugin_things", None)


def test_module_colon_class_names_a_class_where_allowed(registry, tmp_path, monkeypatch):
    (tmp_path / "loose_thing.py").write_text(
        "from test_registry import Thing\n\nclass Loose(Thing):\n    pass\n"
    )
    monkeypatch.chdir(tmp_path)
    try:
        assert registry.get("loose_thing:Loose").__name__ == "Loose"
        assert "loose_thing:Loose" not in registry.names()
        with pytest.raises(ThingError, match="has no class 'Nope'"):
            registry.get("loose_thing:Nope")
        with pytest.raises(ThingError, match="cannot import 'missing_mod'"):
            registry.get("missing_mod:X")
        monkeypatch.setattr(registry, "import_paths", False)
        with pytest.raises(
            ThingError, match=r"^unknown thing 'loose_thing:Loose'; available: alpha, beta$"
        ):
            registry.get("loose_thing:Loose")
    finally:
        sys.modules.pop("loose_thing", None)


@pytest.mark.parametrize("wing", [architectures, tasks], ids=lambda w: w.__name__)
def test_both_wings_are_one_registry_class_with_the_same_public_api(wing):
    registry = wing.registry.REGISTRY
    assert isinstance(registry, Registry)
    assert registry.entry_point_group == f"seqbench.{wing.__name__}"
    assert issubclass(registry.error, UserError)
    for name in (
        "available",
        "built_in",
        "config_fields",
        "create",
        "get",
        "make_config",
        "names",
        "register",
    ):
        assert getattr(wing, name) == getattr(registry, name)
    assert wing.plugin_errors() == {}  # every built-in module imports
    assert all(wing.registry.built_in(name) for name in wing.names())
