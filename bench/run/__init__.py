"""Running one run: training and evaluation, cost measurement, timing and memory
methods, code fingerprints, and the executor that turns a run into a record."""
