"""Synthetic tasks on which sequence architectures are known to differ, and their metrics.

``tasks.create("mqar", n_pairs=8).sample(n, seq_len, generator) -> Batch(inputs, targets)``;
``tasks.names()`` lists the names; ``tasks.score(logits, targets)`` gives
(token accuracy, exact match).
"""

from .base import IGNORE, Batch, Task, TaskConfig, TaskConfigError, require
from .metrics import score
from .registry import (
    available,
    built_in,
    config_fields,
    create,
    get,
    make_config,
    names,
    plugin_errors,
    register,
)

__all__ = [
    "IGNORE",
    "Batch",
    "Task",
    "TaskConfig",
    "TaskConfigError",
    "available",
    "built_in",
    "config_fields",
    "create",
    "get",
    "make_config",
    "names",
    "plugin_errors",
    "register",
    "require",
    "score",
]
