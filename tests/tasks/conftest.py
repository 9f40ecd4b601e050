"""Tests under tests/tasks/ import the shared helpers and suites of tests/ by name."""

import sys
from pathlib import Path

TESTS = str(Path(__file__).resolve().parent.parent)
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)
