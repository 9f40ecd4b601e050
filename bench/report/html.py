"""A shareable report from the results table: one self-contained HTML file
(the Markdown views are in ``bench.report.markdown``).

    write_report(results, curves, out_path) -> Path     # figures embedded as base64, no network

Sections: leaderboard per task, figures (bench.plots), cost table, claims checked, the
environment and the exact configs. The numbers behind each section come from plain
functions (`leaderboard`, `cost_table`, `check_claims`) so tests and notebooks can use
them without HTML.

Claims are checked from the data, never assumed (`bench.analysis.claims`): each gets "holds" or
"does not hold" only when the whole 95 % interval of its measured figure is on one side of
its boundary, else "inconclusive" (or "unknown" without data), with the boundary, the
lengths or seeds behind it and how the interval was computed.
"""

from __future__ import annotations

import base64
import html
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from bench import store
from bench.analysis import tables
from bench.analysis.claims import check_claims
from bench.analysis.findings import (
    AGREES,
    DISAGREES,
    NOT_COMPARABLE,
    agreement_counts,
    check_findings,
)
from bench.analysis.verdicts import FAILS, HOLDS, Claim
from bench.plots import figures as plots
from bench.plots.style import PlotError, architecture_color
from bench.store import cells
from bench.store.formats import architecture_order, check_results
from bench.sweep.papers import Finding

ENVIRONMENT_COLUMNS = (
    "device",
    "device_name",
    "backend",
    "dtype",
    "memory_kind",
    "cpu_allocator",
    "python_version",
    "torch_version",
    "cuda_version",
    "git_commit",
    "seqbench_version",
    "torch_threads",
    "nondeterministic",
)


# --------------------------------------------------------------------------- HTML

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1200px;
padding:0 1rem;color:#222;line-height:1.45}
h1{margin-bottom:.2rem}h2{border-bottom:2px solid #ddd;padding-bottom:.2rem;margin-top:2.2rem}
nav a{margin-right:1rem}.meta{color:#666}
table{border-collapse:collapse;margin:.6rem 0 1.2rem;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.3rem .6rem;text-align:right}
th{background:#f3f4f6}td:nth-child(2),th:nth-child(2){text-align:left}
.swatch{display:inline-block;width:.8em;height:.8em;border-radius:2px;margin-right:.35em;vertical-align:-.05em}
figure{margin:1rem 0 2rem}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#555;font-size:.9rem}
.holds{color:#0a7d32;font-weight:600}.fails{color:#b42318;font-weight:600}.unknown{color:#8a6d00;font-weight:600}
pre{background:#f6f8fa;padding:.6rem;overflow-x:auto;font-size:.8rem}
details{margin:.3rem 0}summary{cursor:pointer}
.note{color:#8a6d00}
"""

_VERDICT_CSS = {
    HOLDS: "holds",
    AGREES: "holds",
    FAILS: "fails",
    DISAGREES: "fails",
    NOT_COMPARABLE: "unknown",
}


def _html_table(frame: pd.DataFrame, *, color_column: str | None = "architecture") -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for record in frame.itertuples(index=False):
        cells = []
        for column, value in zip(frame.columns, record, strict=True):
            text = html.escape(str(value))
            if column == color_column:
                text = f'<span class="swatch" style="background:{architecture_color(str(value))}"></span>{text}'
            cells.append(f"<td>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _embed(fig, image_format: str) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format=image_format, dpi=110)
    mime = "image/svg+xml" if image_format == "svg" else "image/png"
    return f"data:{mime};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"


def _environment_table(results: pd.DataFrame) -> pd.DataFrame:
    columns = [c for c in ENVIRONMENT_COLUMNS if c in results.columns]
    if not columns:
        return pd.DataFrame()
    runs = results.drop_duplicates("config_hash").fillna({c: "" for c in columns})
    grouped = runs.groupby(columns, dropna=False).agg(
        runs=("config_hash", "nunique"),
        architectures=("architecture", lambda s: ", ".join(architecture_order(s.unique()))),
    )
    return grouped.reset_index()[["architectures", *columns, "runs"]]


def _selection_html(results: pd.DataFrame) -> list[str]:
    """Every candidate of a declared selection with its validation score, the winner marked."""
    table = cells.selections(results)
    if table.empty:
        return []
    axes = ", ".join(cells.declared_selection(results))
    shown = pd.DataFrame(
        {
            "architecture": table["architecture"],
            "task": table["task"],
            "setting": table["variant"].replace("", "default"),
            "candidate": table["candidate"],
            "ranked by (on validation)": table["metric"].map(
                lambda m: (
                    "bits per byte, lower is better"
                    if m == cells.LM_SELECTION_METRIC
                    else "accuracy, higher is better"
                )
            ),
            "score (mean over seeds)": table["score"].map(
                lambda v: "failed" if not np.isfinite(v) else f"{v:.3f}"
            ),
            "seeds ok": table["seeds"],
            "chosen": [
                ("✔ at the grid's edge" if edge else "✔") if chosen else ""
                for chosen, edge in zip(table["chosen"], table["at_edge"], strict=True)
            ],
        }
    )
    return [
        "<h3 id='selection'>Selection</h3>",
        f"<p>The sweep selects over <code>{html.escape(axes)}</code>: for each cell the value "
        "with the best mean score on the validation set (drawn apart from the evaluation set "
        "the leaderboard reports: for text, the corpus's validation split) is kept, and the "
        "leaderboard shows only its runs. Accuracy ranks synthetic tasks, bits per byte "
        "language models. A choice at the grid's edge (the smallest or largest value tried) "
        "may not be the best value: widen the grid to find out.</p>",
        _html_table(shown, color_column="architecture"),
    ]


def _configs_html(results: pd.DataFrame) -> str:
    if "config_json" not in results.columns:
        return "<p class='note'>The results carry no config_json.</p>"
    runs = results.dropna(subset=["config_json"]).drop_duplicates("config_json")
    sort = [c for c in ("sweep", "architecture", "task", "seed") if c in runs.columns]
    runs = runs.sort_values(sort)
    items = []
    for run in runs.itertuples(index=False):
        try:
            text = json.dumps(json.loads(run.config_json), indent=2, sort_keys=True)
        except (TypeError, ValueError):
            text = str(run.config_json)
        label = " · ".join(str(getattr(run, c)) for c in sort)
        items.append(
            f"<details><summary>{html.escape(label)} <code>{html.escape(str(run.config_hash))}</code></summary>"
            f"<pre>{html.escape(text)}</pre></details>"
        )
    return f"<p>{len(runs)} distinct configs.</p>" + "".join(items)


def _claims_html(anchor: str, title: str, intro: str, claims: list[Claim]) -> list[str]:
    """One table for the report's claims and for the papers' findings alike."""
    papers = any(claim.paper for claim in claims)
    head = ["", "claim", *(["paper says"] if papers else []), "we measure (95 % interval)"]
    head += ["agrees?" if papers else "verdict", "boundary, and why", "interval"]
    out = [
        f"<h2 id='{anchor}'>{html.escape(title)}</h2><p>{html.escape(intro)}</p>",
        "<table><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>",
    ]
    left = "style='text-align:left'"
    for claim in claims:
        css = _VERDICT_CSS.get(claim.verdict, "unknown")
        said = f"{claim.paper}: {claim.says}"
        cells_ = [
            f"<td>({html.escape(claim.key)})</td>",
            f"<td {left}>{html.escape(claim.statement)}</td>",
            *([f"<td {left}>{html.escape(said)}</td>"] if papers else []),
            f"<td {left}>{html.escape(claim.evidence)}</td>",
            f"<td class='{css}'>{html.escape(claim.label)}</td>",
            f"<td {left}>{html.escape(claim.boundary)}</td>",
            f"<td {left}>{html.escape(claim.method)}</td>",
        ]
        out.append("<tr>" + "".join(cells_) + "</tr>")
    return [*out, "</tbody></table>"]


def render_html(
    results: pd.DataFrame,
    curves: pd.DataFrame | None = None,
    *,
    image_format: str = "png",
    paper: list[Finding] = (),
) -> str:
    """The report as one HTML string (figures inline as base64 data URIs)."""
    if image_format not in ("png", "svg"):
        raise PlotError(f"unknown report image format {image_format!r}; choose from png, svg")
    check_results(results)
    built, skipped = plots.figures(results, curves)
    boards = tables.leaderboard(results)
    claims = check_claims(results)
    findings = check_findings(results, list(paper))
    costs, cost_source = tables.cost_table(results)
    sweeps = (
        ", ".join(sorted(str(s) for s in results["sweep"].dropna().unique()))
        if "sweep" in results
        else ""
    )
    status_counts = ", ".join(f"{k} {v}" for k, v in results["status"].value_counts().items())
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")

    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>seqbench report{' — ' + html.escape(sweeps) if sweeps else ''}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>seqbench report</h1><p class='meta'>sweep(s): {html.escape(sweeps) or '—'} · "
        f"{results['config_hash'].nunique()} runs, {len(results)} rows ({html.escape(status_counts)}) · generated {stamp}</p>",
        "<nav><a href='#leaderboard'>Leaderboard</a><a href='#claims'>Claims</a>"
        + ("<a href='#papers'>Papers</a>" if findings else "")
        + "<a href='#figures'>Figures</a>"
        "<a href='#cost'>Cost</a><a href='#environment'>Environment</a><a href='#configs'>Configs</a></nav>",
        "<h2 id='leaderboard'>Leaderboard</h2>",
        "<p>Token accuracy (mean ± sd over seeds that finished) at the training length and at the longest "
        "evaluation length, exact match at the training length; ranked by accuracy at the training length. "
        "One row per cell: runs that differ in any setting but the seed (shown under <i>setting</i>) are never "
        "averaged together. <i>converged</i> counts the runs that reached <code>train.early_stop</code> "
        "(or used their whole step budget when none is set); <i>stop</i> says why each run ended "
        "(<code>early_stop</code>, <code>steps</code>, <code>time_cap</code>, <code>diverged</code>). "
        "Every run's budget is counted in optimizer steps, the same for every architecture of a task.</p>",
    ]
    if not boards:
        out.append("<p class='note'>No eval rows: nothing to rank.</p>")
    for task, board in boards.items():
        out += [f"<h3>{html.escape(task)}</h3>", _html_table(tables.board_display(board))]
    out += _selection_html(results)

    out += _claims_html(
        "claims",
        "Claims checked",
        "A verdict is decided only when the whole 95 % interval of the measured figure is on "
        "one side of the claim's boundary; otherwise it is inconclusive.",
        claims,
    )
    if findings:
        plural = {AGREES: "agree", DISAGREES: "disagree"}  # "9 agree, 2 disagree, ..."
        counts = ", ".join(
            f"{n} {plural.get(verdict, verdict)}"
            for verdict, n in agreement_counts(findings).items()
        )
        out += _claims_html(
            "papers",
            "Paper beside measurement",
            "What each paper reports, in its own setting, and what this sweep measures in its "
            "scaled one (mean over seeds, 95 % t interval). A finding agrees or disagrees only "
            "when the whole interval is on one side of its boundary; 'not comparable' says why "
            f"the scaled setting cannot test it. {counts}.",
            findings,
        )

    out.append("<h2 id='figures'>Figures</h2>")
    for name, fig in built.items():
        out.append(
            f"<figure id='fig-{name}'><img alt='{html.escape(plots.TITLES[name])}' src='{_embed(fig, image_format)}'>"
            f"<figcaption>{html.escape(plots.FIGURE_KINDS[name].caption)}</figcaption></figure>"
        )
    for name, reason in skipped.items():
        out.append(
            f"<p class='note'>Skipped {html.escape(plots.TITLES[name])}: {html.escape(reason)}.</p>"
        )

    out.append("<h2 id='cost'>Cost</h2>")
    if costs.empty:
        out.append(f"<p class='note'>{html.escape(cost_source)}.</p>")
    else:
        out += [
            f"<p>From {html.escape(cost_source)}; medians.</p>",
            _html_table(tables.cost_display(costs)),
        ]

    out.append("<h2 id='environment'>Environment</h2>")
    env = _environment_table(results)
    out.append(_html_table(env) if not env.empty else "<p class='note'>No environment columns.</p>")
    out += ["<h2 id='configs'>Configs</h2>", _configs_html(results), "</body></html>"]
    return "\n".join(out)


def write_report(
    results: pd.DataFrame,
    curves: pd.DataFrame | None,
    out_path: Path,
    *,
    image_format: str = "png",
    paper: list[Finding] = (),
) -> Path:
    """Write the self-contained HTML report to `out_path` (parents created) and return it."""
    text = render_html(results, curves, image_format=image_format, paper=paper)
    return store.write_atomic(Path(out_path), text.encode("utf-8"))
