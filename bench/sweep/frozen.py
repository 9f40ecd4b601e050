"""Nested settings as hashable keys, for ``functools`` caches and sets of values.

    freeze({"n_pairs": [2, 6]}) -> (dict, (("n_pairs", (list, ((int, 2), (int, 6)))),))
    thaw(freeze(settings)) == settings

Settings come from TOML and JSON: tables, lists and scalars. A key made by ``freeze``
compares as the settings do, except that ``1``, ``1.0`` and ``True`` (equal in Python)
stay apart, because they are different settings (``1.0`` may fail an integer field).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

Frozen = Hashable  # what ``freeze`` makes of a setting; ``thaw`` turns it back


def freeze(value: Any) -> Frozen:
    """A table as ``(dict, ((key, frozen value), ...))`` sorted by key, a list as
    ``(list, (frozen item, ...))``, a scalar as ``(type, value)``."""
    if isinstance(value, Mapping):
        return (dict, tuple(sorted((str(key), freeze(item)) for key, item in value.items())))
    if isinstance(value, list | tuple):
        return (list, tuple(freeze(item) for item in value))
    return (type(value), value)


def thaw(key: Frozen) -> Any:
    """The settings ``freeze`` was given (tuples come back as lists, as TOML has them)."""
    kind, content = key
    if kind is dict:
        return {name: thaw(item) for name, item in content}
    if kind is list:
        return [thaw(item) for item in content]
    return content
