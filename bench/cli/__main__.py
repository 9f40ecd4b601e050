"""``python -m bench.cli``: the ``seqbench`` command."""

from bench.cli.app import main

main()
