"""Name -> Task class: ``@register("name")`` adds a class, ``create`` builds one.

The one registry class (``seqbench.Registry``) serves tasks and blocks alike. Tasks
register when their module is imported (every public module of this package is
imported on first use, so a new task is one new file); third-party tasks register
through the entry-point group ``seqbench.tasks``. Unlike blocks, a task is not named by
``"module:Class"``: blocks are what users write outside the repository and name in
sweeps, a task outside it registers through the entry-point group instead.
"""

from __future__ import annotations

from seqbench import Registry

from .base import Task, TaskConfigError

ENTRY_POINT_GROUP = "seqbench.tasks"

REGISTRY: Registry[type[Task]] = Registry(
    "task",
    package="tasks",
    base=Task,
    error=TaskConfigError,
    entry_point_group=ENTRY_POINT_GROUP,
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
