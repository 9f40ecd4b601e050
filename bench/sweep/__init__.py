"""What to run: the sweep schema, sweep files and presets with ``--set`` overrides, and
their expansion into validated, hashable runs. The bottom layer: imports no other room
of ``bench``."""

from bench.sweep.config import RunConfig, Sweep, SweepConfigError
from bench.sweep.load import build_sweep, load_sweep, parse_override, presets

__all__ = [
    "RunConfig",
    "Sweep",
    "SweepConfigError",
    "build_sweep",
    "load_sweep",
    "parse_override",
    "presets",
]
