"""Sequence-mixing blocks behind one contract, and a registry to find them."""

from .base import BackendError, Block, BlockConfig, ConfigError, State, require
from .layers import SwiGLU
from .model import SequenceModel
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
    "BackendError",
    "Block",
    "BlockConfig",
    "ConfigError",
    "SequenceModel",
    "State",
    "SwiGLU",
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
]
