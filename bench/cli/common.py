"""What the ``seqbench`` command modules share: the consoles and the user-mistake error."""

from __future__ import annotations

import sys

from rich.console import Console

from seqbench import UserError

# Tables stay readable when output is piped or captured (rich assumes 80 columns there).
console = Console(width=None if sys.stdout.isatty() else 140)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)


class UsageError(UserError):
    """A user mistake caught by the CLI itself."""
