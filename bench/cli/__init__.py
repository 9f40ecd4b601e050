"""The ``seqbench`` command: one module per room of commands (``app``: run, check, list,
doctor; ``results``: plot, report, export, compare)."""

from bench.cli.app import main

__all__ = ["main"]
