"""A results folder as files for notebooks and trackers: CSV or Parquet.

``seqbench export DIR --format parquet`` writes ``results.parquet`` (``bench.store.load``:
one row per (run, point), the columns of docs/results-schema.md) and ``curves.parquet``
(``bench.store.load_curves``).

- Parquet keeps every column's type: ``pandas.read_parquet`` (or ``read``) gives back the
  ``store.load`` frame exactly.
- CSV holds text: the same columns and values, but types are re-inferred when read
  (``pd.read_csv``), lists are written as JSON (``[12, 20]``), and missing values as
  ``NA`` so that they stay apart from empty strings (``read`` reads it that way).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd

from bench import store
from seqbench import UserError

FORMATS = ("csv", "parquet")
_NA = "NA"


class ExportError(UserError):
    """An export that cannot be written as asked."""


def export(directory: Path, fmt: str, out: Path | None = None) -> list[Path]:
    """Write ``results.<fmt>`` and ``curves.<fmt>`` for the runs under ``directory`` into
    ``out`` (default: ``directory``); both are complete or absent. Returns their paths."""
    if fmt not in FORMATS:
        raise ExportError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
    results = store.load(directory)
    if results.empty:
        raise store.StoreError(f"{str(directory)!r} has no readable run files in runs/")
    curves = store.load_curves(directory)
    out = Path(out) if out is not None else Path(directory)
    if out.exists() and not out.is_dir():
        raise ExportError(f"--out {str(out)!r} is a file; give a folder")
    blobs = {f"results.{fmt}": _encode(results, fmt), f"curves.{fmt}": _encode(curves, fmt)}
    return [store.write_atomic(out / name, blob) for name, blob in blobs.items()]


def read(path: str | Path) -> pd.DataFrame:
    """An exported table: from Parquet exactly the frame ``store.load`` (or ``load_curves``)
    gave; from CSV the same columns and values, with types as pandas infers them."""
    path = Path(path)
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".csv":
        return pd.read_csv(path, keep_default_na=False, na_values=[_NA], low_memory=False)
    raise ExportError(f"{str(path)!r}: not a .csv or .parquet file")


def _encode(frame: pd.DataFrame, fmt: str) -> bytes:
    if fmt == "csv":
        frame = frame.copy()
        for column in _object_columns(frame):
            if frame[column].map(lambda v: isinstance(v, list | dict)).any():
                frame[column] = frame[column].map(
                    lambda v: json.dumps(v) if isinstance(v, list | dict) else v
                )
        return frame.to_csv(index=False, na_rep=_NA).encode()
    buffer = io.BytesIO()
    _parquet_ready(frame).to_parquet(buffer, index=False)
    return buffer.getvalue()


def _parquet_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Parquet needs one type per column; a setting that is a number for one architecture
    and a word for another (``model.chunk = 64`` / ``"auto"``) is stored as JSON text."""
    frame = frame.copy()
    for column in _object_columns(frame):
        kinds = {type(v) for v in frame[column] if not _missing(v)}
        if len(kinds) > 1 and not kinds <= {int, float}:
            frame[column] = frame[column].map(lambda v: None if _missing(v) else json.dumps(v))
    return frame


def _object_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if pd.api.types.is_object_dtype(frame[c].dtype)]


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)
