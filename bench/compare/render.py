"""A comparison (``bench.compare.stats.Comparison``) as text: a table of one row per cell
(``display_frame``), the same in the terminal (``rich_table``), and a section of the
HTML report (``html_section``, ``insert_section``)."""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np
import pandas as pd

from bench.compare.stats import GUARDED, METHOD, CompareError, Comparison, cell_name, interval_text


def display_frame(
    comparison: Comparison, fail_below: float | None = None, stacked: bool = False
) -> pd.DataFrame:
    """The comparison as text: one row per cell with accuracy at the training length
    BASE → NEW, then Δ [interval] per metric and a verdict on that accuracy. Metrics that
    did not move in any cell (the step budget, the parameter count) are left out.
    ``stacked`` puts each interval on a line of its own (for narrow terminals)."""
    table = comparison.cells
    failing = set()
    if fail_below is not None:
        failing = {name for name, _ in comparison.failures(fail_below)}
    shown_metrics = [
        m for m in comparison.metrics if m.column == GUARDED or not _all_zero(table, m.column)
    ]
    with_failures = bool((table["base_ok"] < table["pairs"]).any()) or bool(
        (table["new_ok"] < table["pairs"]).any()
    )
    out = []
    for _, row in table.iterrows():
        shown: dict[str, str] = {"architecture": row["architecture"], "task": row["task"]}
        if (table["setting"] != "").any():
            shown["setting"] = row["setting"] or "default"
        if "seq_len" in row:
            shown["length"] = str(int(row["seq_len"]))
        shown["seeds"] = str(row["pairs"])
        if with_failures:
            shown["runs ok"] = f"{row['base_ok']} → {row['new_ok']}"
        for metric in shown_metrics:
            if metric.column == GUARDED:
                before, after = row.get(f"{GUARDED}_base"), row.get(f"{GUARDED}_new")
                shown[metric.label] = f"{_number(before)} → {_number(after)}"
            value = "-"
            if pd.notna(row.get(f"{metric.column}_delta", math.nan)):
                value = interval_text(row, metric.column, metric.ratio)
                if stacked:
                    value = value.replace(" [", "\n[", 1)
            shown[f"Δ {metric.label}"] = value
        if any(m.column == GUARDED for m in comparison.metrics):
            shown["verdict"] = "FAIL" if cell_name(row) in failing else _verdict(row)
        out.append(shown)
    return pd.DataFrame(out)


def rich_table(comparison: Comparison, fail_below: float | None = None) -> Any:
    from rich.markup import escape
    from rich.table import Table

    frame = display_frame(comparison, fail_below, stacked=True)
    table = Table(
        title=f"BASE {comparison.base_label} → NEW {comparison.new_label}",
        title_justify="left",
        caption=escape(METHOD),
        caption_justify="left",
    )
    for column in frame.columns:
        left = column in ("architecture", "task", "setting")
        table.add_column(escape(column), justify="left" if left else "right")
    for values in frame.itertuples(index=False):
        styled = []
        for column, value in zip(frame.columns, values, strict=True):
            color = {"worse": "yellow", "FAIL": "red", "better": "green"}.get(value)
            text = escape(str(value))
            styled.append(f"[{color}]{text}[/{color}]" if column == "verdict" and color else text)
        table.add_row(*styled)
    return table


def html_section(comparison: Comparison, fail_below: float | None = None) -> str:
    """A self-contained ``<section>`` for the HTML report."""
    frame = display_frame(comparison, fail_below)
    notes = "".join(f"<p class='note'>{html.escape(note)}</p>" for note in comparison.notes)
    return (
        "<section id='comparison'><h2>Comparison</h2>"
        f"<p>BASE <code>{html.escape(comparison.base_label)}</code> → NEW "
        f"<code>{html.escape(comparison.new_label)}</code>, compared: "
        f"{html.escape(comparison.compared)}. Runs pair when they agree on architecture, "
        "task, seed and every setting but the compared one. "
        f"{html.escape(METHOD)}.</p>"
        + frame.to_html(index=False, escape=True, border=0)
        + notes
        + "</section>"
    )


def insert_section(page: str, section: str) -> str:
    """``page`` (the report's HTML) with ``section`` placed before ``</body>``."""
    at = page.rfind("</body>")
    if at < 0:
        raise CompareError("the report has no </body> to place the comparison before")
    return page[:at] + section + "\n" + page[at:]


def _number(value: float) -> str:
    if pd.isna(value):
        return "-"
    if abs(value) >= 1000:
        for threshold, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if abs(value) >= threshold:
                return f"{value / threshold:.1f}{suffix}"
    if float(value).is_integer():
        return f"{value:.0f}"
    return f"{value:.3f}"


def _verdict(row: pd.Series) -> str:
    low, high = row.get(f"{GUARDED}_low"), row.get(f"{GUARDED}_high")
    if low is None or pd.isna(row.get(f"{GUARDED}_delta")):
        return "-"
    if pd.isna(low):
        return "1 seed"
    if low > 0:
        return "better"
    if high < 0:
        return "worse"
    return "inconclusive"


def _all_zero(table: pd.DataFrame, column: str) -> bool:
    """Whether a metric moved in no cell (or is missing)."""
    parts = [f"{column}_{k}" for k in ("delta", "low", "high")]
    if parts[0] not in table:
        return True
    values = table[parts].to_numpy(float)
    return bool(np.all(np.isnan(values) | (np.abs(values) < 1e-12)))
