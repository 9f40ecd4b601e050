"""Running one run: training and evaluation, cost measurement, timing and memory
methods, code fingerprints, and the executor that turns a run into a record."""

from collections.abc import Callable

# How far one run has got: (steps done, steps planned). Training counts optimizer steps,
# a cost-only run its visits of a length; a launcher binds it to the run it belongs to.
StepCallback = Callable[[int, int], None]
