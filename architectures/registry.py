"""Name -> Block class: ``@register("name")`` adds a class, ``create`` builds one.

The one registry class (``seqbench.Registry``) serves blocks and tasks alike. Blocks
register when their module is imported (every public module of this package is
imported on first use, so a new block is one new file); third-party blocks register
through the entry-point group ``seqbench.architectures``. Anywhere a name is accepted
(sweep files, ``--set``, ``seqbench check``, ``SequenceModel``), ``"package.module:Class"``
names a Block class directly. ``available()`` lists the blocks with at least one
backend usable here (``get(name).backends()``).
"""

from __future__ import annotations

from seqbench import Registry

from .base import Block, ConfigError

ENTRY_POINT_GROUP = "seqbench.architectures"

REGISTRY: Registry[type[Block]] = Registry(
    "architecture",
    package="architectures",
    base=Block,
    error=ConfigError,
    entry_point_group=ENTRY_POINT_GROUP,
    import_paths=True,
    usable=lambda cls: bool(cls.backends()),
)

register = REGISTRY.register
names = REGISTRY.names
available = REGISTRY.available
plugin_errors = REGISTRY.plugin_errors
get = REGISTRY.get
make_config = REGISTRY.make_config
create = REGISTRY.create
config_fields = REGISTRY.config_fields
built_in = REGISTRY.built_in
