"""What the results say: summary tables, claims and papers' findings decided with
intervals (verdicts). Reads the store; never imports plotting or the run layer."""
