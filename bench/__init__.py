"""Harness, results store, CLI, plots and reports."""
