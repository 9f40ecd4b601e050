"""Where results live: one JSON record per run, written atomically; ``load`` reads a
folder into one tidy DataFrame. Above ``sweep`` only. ``bench.store.load(path)`` is the
public way in (docs/results-schema.md)."""

from bench.store.records import (
    COLUMNS,
    SCHEMA_VERSION,
    STATUSES,
    StoreError,
    converged,
    finished,
    load,
    load_curves,
    load_findings,
    log_path,
    read_runs,
    record_rows,
    run_path,
    run_record,
    runs_dir,
    save_findings,
    write_atomic,
    write_log,
    write_run,
)

__all__ = [
    "COLUMNS",
    "SCHEMA_VERSION",
    "STATUSES",
    "StoreError",
    "converged",
    "finished",
    "load",
    "load_curves",
    "load_findings",
    "log_path",
    "read_runs",
    "record_rows",
    "run_path",
    "run_record",
    "runs_dir",
    "save_findings",
    "write_atomic",
    "write_log",
    "write_run",
]
