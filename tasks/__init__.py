"""Tasks on which sequence architectures differ, synthetic and real text, and their metrics.

``tasks.create("mqar", n_pairs=8).sample(n, seq_len, generator) -> Batch(inputs, targets)``;
``tasks.names()`` lists the names; ``tasks.score(logits, targets)`` gives
(token accuracy, exact match); ``tasks.bits_per_byte`` and its neighbours score the
``text`` task's language modelling.
"""

from .base import IGNORE, Batch, Task, TaskConfig, TaskConfigError, require
from .metrics import bits_per_byte, loss_by_position, recall_mask, score, token_nats
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
    "bits_per_byte",
    "built_in",
    "config_fields",
    "create",
    "get",
    "loss_by_position",
    "make_config",
    "names",
    "plugin_errors",
    "recall_mask",
    "register",
    "require",
    "score",
    "token_nats",
]
