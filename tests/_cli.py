"""The command line run in-process, for tests that drive it end to end."""

import sys

from bench.cli.app import main


def seqbench(monkeypatch, capsys, *args):
    """Run ``seqbench ARGS`` in-process; returns (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["seqbench", *args])
    code = 0
    try:
        main()
    except SystemExit as exit_:
        code = exit_.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err
