"""A shareable report from the results table: one self-contained HTML file, and Markdown.

    write_report(results, curves, out_path) -> Path     # figures embedded as base64, no network
    markdown_summary(results) -> str                     # leaderboard + claims, for the terminal

Sections: leaderboard per task, figures (bench.plots), cost table, claims checked, the
environment and the exact configs. The numbers behind each section come from plain
functions (`leaderboard`, `cost_table`, `check_claims`) so tests and notebooks can use
them without HTML.

Claims are checked from the data, never assumed (`bench.claims`): each gets "holds" or
"does not hold" only when the whole 95 % interval of its measured figure is on one side of
its boundary, else "inconclusive" (or "unknown" without data), with the boundary, the
lengths or seeds behind it and how the interval was computed.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from bench import cells, plots
from bench.claims import FAILS, HOLDS, check_claims
from bench.plots import PlotError, check_results, format_bytes, format_count, format_length

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


# --------------------------------------------------------------------------- tables


def _mean_std(values: pd.Series) -> tuple[float, float]:
    values = values.dropna()
    if values.empty:
        return math.nan, math.nan
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def leaderboard(results: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per task, one row per cell (architecture and every setting but the seed), ranked.

    Cells come from ``bench.cells``: runs that differ in anything but the seed (a learning
    rate, a width, the sweep or commit that made them) are separate rows, and a declared
    selection keeps one value per cell (``selected``, chosen on validation data).
    Accuracy at the training length and at the task's longest eval length, exact match
    at the training length: mean and sd over seeds (needle rows averaged over depth
    first). ``seeds`` reads "ok/total" distinct seeds; ``converged`` how many of the
    runs reached ``train.early_stop`` (or used their budget when there is none), and
    ``stop`` why they stopped; ``longest_status`` says why a longest-length cell is empty.
    """
    check_results(results)
    results = cells.prepare(results)
    runs = plots.per_run_accuracy(results, statuses=("ok", "oom", "diverged", "error"))
    boards: dict[str, pd.DataFrame] = {}
    for task in plots.ordered_tasks(runs["task"].unique()):
        in_task = runs[runs["task"] == task]
        longest = in_task["eval_seq_len"].max()
        records = []
        for (arch, variant), group in in_task.groupby(["architecture", "variant"], dropna=False):
            at_train = group[group["eval_seq_len"] == group["train_seq_len"]]
            at_long = group[group["eval_seq_len"] == longest]
            ok_train = at_train[at_train["status"] == "ok"]
            ok_long = at_long[at_long["status"] == "ok"]
            acc, acc_sd = _mean_std(ok_train["accuracy"])
            long_acc, long_sd = _mean_std(ok_long["accuracy"])
            em, em_sd = (
                _mean_std(ok_train["exact_match"])
                if "exact_match" in group
                else (math.nan, math.nan)
            )
            bad = at_long.loc[at_long["status"] != "ok", "status"]
            one_per_run = group.drop_duplicates("config_hash")
            records.append(
                {
                    "architecture": arch,
                    "variant": variant,
                    "selected": one_per_run["selected"].iloc[0],
                    **{
                        c: one_per_run[c].iloc[0]
                        for c in ("d_model", "n_layers", "train_seq_len")
                        if c in one_per_run
                    },
                    "params": one_per_run["params"].iloc[0] if "params" in group else math.nan,
                    "seeds": cells.seed_count(one_per_run),
                    "converged": _converged_count(one_per_run),
                    "stop": _stop_summary(one_per_run),
                    "acc_train": acc,
                    "acc_train_sd": acc_sd,
                    "acc_longest": long_acc,
                    "acc_longest_sd": long_sd,
                    "longest_len": longest,
                    "longest_status": ""
                    if ok_long.shape[0]
                    else (bad.iloc[0] if len(bad) else "not run"),
                    "exact_match": em,
                    "exact_match_sd": em_sd,
                }
            )
        board = pd.DataFrame(records)
        board = board.sort_values(["acc_train", "acc_longest"], ascending=False, na_position="last")
        board.insert(0, "rank", range(1, len(board) + 1))
        boards[task] = board.reset_index(drop=True)
    return boards


def _converged_count(runs: pd.DataFrame) -> str:
    """``"2/3"``: runs that converged, of the runs with a stop reason ("—" for none)."""
    if "converged" not in runs.columns:
        return "—"
    known = runs["converged"].dropna()
    if known.empty:
        return "—"
    return f"{int(known.astype(bool).sum())}/{len(known)}"


def _stop_summary(runs: pd.DataFrame) -> str:
    """Why the runs stopped, e.g. ``"early_stop ×2, steps ×1"``."""
    if "stop_reason" not in runs.columns or runs["stop_reason"].dropna().empty:
        return "—"
    counts = runs["stop_reason"].dropna().value_counts()
    return ", ".join(f"{reason} ×{n}" for reason, n in sorted(counts.items()))


def cost_table(results: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Per architecture: params, tokens/s, peak memory, state bytes; and where they come from.

    From cost rows at the longest length every architecture finished (OOM counted in
    `max_ok_len`), else from eval rows at the training length (median over runs).
    """
    check_results(results)
    cost = results[results["row_kind"] == "cost"]
    metrics = [
        c
        for c in (
            "params",
            "train_tokens_per_s",
            "prefill_tokens_per_s",
            "decode_tokens_per_s",
            "peak_memory_train_bytes",
            "peak_memory_infer_bytes",
            "state_bytes",
        )
        if c in results.columns
    ]
    if not cost.empty:
        ok = cost[cost["status"] == "ok"]
        per_arch_lengths = ok.groupby("architecture")["eval_seq_len"].apply(set)
        common = set.intersection(*per_arch_lengths) if len(per_arch_lengths) else set()
        length = max(common) if common else ok["eval_seq_len"].min()
        rows = ok[ok["eval_seq_len"] == length]
        table = rows.groupby("architecture")[metrics].median()
        table["max_ok_len"] = ok.groupby("architecture")["eval_seq_len"].max()
        failed = cost[cost["status"] != "ok"].groupby("architecture")["eval_seq_len"].min()
        table["first_failure"] = failed.reindex(table.index).map(
            lambda v: "" if pd.isna(v) else f"{format_length(v)}"
        )
        source = f"cost rows at L={format_length(length)}, the longest length every architecture finished"
    else:
        runs = results[
            (results["row_kind"] == "eval")
            & (results["status"] == "ok")
            & (results["eval_seq_len"] == results["train_seq_len"])
        ].drop_duplicates("config_hash")
        if runs.empty:
            return pd.DataFrame(), "no ok rows carry cost measurements"
        table = runs.groupby("architecture")[metrics].median()
        lengths = sorted(runs["train_seq_len"].dropna().unique())
        source = (
            "eval runs at their training length (L="
            + ", ".join(format_length(v) for v in lengths)
            + "), median over runs"
        )
    order = plots.architecture_order(table.index)
    return table.reindex(order).reset_index(), source


# --------------------------------------------------------------------------- formatting


def _pm(mean: float, sd: float) -> str:
    if not np.isfinite(mean):
        return "—"
    return f"{mean:.3f} ± {sd:.3f}" if np.isfinite(sd) else f"{mean:.3f}"


def _board_display(board: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({"rank": board["rank"], "architecture": board["architecture"]})
    if (board["variant"] != "").any():
        out["setting"] = board["variant"].replace("", "default")
    if (board["selected"] != "").any():
        out["selected (on val)"] = board["selected"].replace("", "—")
    for column in ("d_model", "n_layers"):
        if column in board:
            out[column] = board[column].map(lambda v: "—" if pd.isna(v) else f"{v:.0f}")
    if "params" in board:
        out["params"] = board["params"].map(format_count)
    out["seeds ok"] = board["seeds"]
    out["converged"] = board["converged"]
    out["stop"] = board["stop"]
    train = board["train_seq_len"].map(format_length) if "train_seq_len" in board else "train"
    out["acc @ train L"] = [
        f"{_pm(m, s)} (L={t})" + (" unconverged" if _unconverged(c) else "")
        for m, s, t, c in zip(
            board["acc_train"], board["acc_train_sd"], train, board["converged"], strict=True
        )
    ]
    longest = format_length(board["longest_len"].iloc[0]) if len(board) else "?"
    out[f"acc @ L={longest}"] = [
        _pm(m, s) if np.isfinite(m) else (status.upper() if status == "oom" else status or "—")
        for m, s, status in zip(
            board["acc_longest"], board["acc_longest_sd"], board["longest_status"], strict=True
        )
    ]
    out["exact match @ train L"] = [
        _pm(m, s) for m, s in zip(board["exact_match"], board["exact_match_sd"], strict=True)
    ]
    return out


def _unconverged(count: str) -> bool:
    """``"1/3"`` -> True: some run of the cell did not converge."""
    done, _, total = count.partition("/")
    return bool(total) and done != total


_COST_LABELS = {
    "params": ("params", format_count),
    "train_tokens_per_s": ("train tokens/s", format_count),
    "prefill_tokens_per_s": ("prefill tokens/s", format_count),
    "decode_tokens_per_s": ("decode tokens/s", format_count),
    "peak_memory_train_bytes": ("peak mem train", format_bytes),
    "peak_memory_infer_bytes": ("peak mem infer", format_bytes),
    "state_bytes": ("state / sequence", format_bytes),
    "max_ok_len": ("longest ok L", format_length),
    "first_failure": ("first OOM/fail L", str),
}


def _cost_display(table: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({"architecture": table["architecture"]})
    for column, (label, fmt) in _COST_LABELS.items():
        if column in table:
            out[label] = table[column].map(
                lambda v, fmt=fmt: "—" if isinstance(v, float) and not np.isfinite(v) else fmt(v)
            )
    return out


def _markdown_table(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def markdown_summary(results: pd.DataFrame) -> str:
    """Leaderboard per task and the claims checked, as Markdown for the terminal."""
    boards = leaderboard(results)
    claims = check_claims(results)
    lines = ["# seqbench summary", ""]
    if not boards:
        lines += ["No eval rows: nothing to rank.", ""]
    for task, board in boards.items():
        lines += [f"## {task}", "", _markdown_table(_board_display(board)), ""]
    selection = cells.selections(results)
    if not selection.empty:
        lines += ["## Selection (on validation data)", ""]
        for row in selection.itertuples(index=False):
            mark = " ← chosen" if row.chosen else ""
            lines.append(
                f"- {row.architecture} · {row.task}"
                + (f" · {row.variant}" if row.variant else "")
                + f": {row.candidate} → val {row.val_accuracy:.3f} ({row.seeds} seeds){mark}"
            )
        lines.append("")
    lines += ["## Claims checked", ""]
    for claim in claims:
        lines.append(f"- ({claim.key}) {claim.statement}: **{claim.label}** — {claim.evidence}")
        lines.append(f"  - boundary: {claim.boundary}")
        if claim.method:
            lines.append(f"  - interval: {claim.method}")
    return "\n".join(lines) + "\n"


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

_CAPTIONS = {
    "accuracy_vs_length": "Token accuracy against evaluation length, one panel per task, mean ± sd over seeds; "
    "the dotted line is the training length and the shaded side is extrapolation. Needle rows are averaged over depth.",
    "throughput_vs_length": "Training, prefill and decode throughput against sequence length (log-log) from the "
    "cost rows; crosses on the bottom edge mark lengths that ran out of memory.",
    "memory_vs_length": "Peak memory of a training step and an inference forward against sequence length (log-log).",
    "accuracy_vs_state": "Accuracy at the training length against the recurrent state one sequence needs "
    "(Zoology's recall–memory trade-off); one point per run, dashed line the Pareto frontier.",
    "needle_heatmap": "Needle retrieval accuracy by context length and needle depth, one panel per architecture.",
    "sample_efficiency": "Training-batch accuracy against training examples seen (Jelassi et al. 2024), mean ± sd over seeds.",
}


def _html_table(frame: pd.DataFrame, *, color_column: str | None = "architecture") -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for record in frame.itertuples(index=False):
        cells = []
        for column, value in zip(frame.columns, record, strict=True):
            text = html.escape(str(value))
            if column == color_column:
                text = f'<span class="swatch" style="background:{plots.architecture_color(str(value))}"></span>{text}'
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
        architectures=("architecture", lambda s: ", ".join(plots.architecture_order(s.unique()))),
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
            "val accuracy (mean over seeds)": table[cells.SELECTION_METRIC].map(
                lambda v: "failed" if not np.isfinite(v) else f"{v:.3f}"
            ),
            "seeds ok": table["seeds"],
            "chosen": table["chosen"].map(lambda c: "✔" if c else ""),
        }
    )
    return [
        "<h3 id='selection'>Selection</h3>",
        f"<p>The sweep selects over <code>{html.escape(axes)}</code>: for each cell the value "
        "with the best mean accuracy on the validation set (drawn apart from the evaluation set "
        "the leaderboard reports) is kept, and the leaderboard shows only its runs.</p>",
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


def render_html(
    results: pd.DataFrame, curves: pd.DataFrame | None = None, *, image_format: str = "png"
) -> str:
    """The report as one HTML string (figures inline as base64 data URIs)."""
    if image_format not in ("png", "svg"):
        raise PlotError(f"unknown report image format {image_format!r}; choose from png, svg")
    check_results(results)
    built, skipped = plots.figures(results, curves)
    boards = leaderboard(results)
    claims = check_claims(results)
    costs, cost_source = cost_table(results)
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
        "<nav><a href='#leaderboard'>Leaderboard</a><a href='#claims'>Claims</a><a href='#figures'>Figures</a>"
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
        out += [f"<h3>{html.escape(task)}</h3>", _html_table(_board_display(board))]
    out += _selection_html(results)

    out.append(
        "<h2 id='claims'>Claims checked</h2><p>A verdict is decided only when the whole 95 % "
        "interval of the measured figure is on one side of the claim's boundary; otherwise it "
        "is inconclusive.</p><table><thead><tr><th>claim</th><th>statement</th>"
        "<th>verdict</th><th>measured (95 % interval)</th><th>boundary, and why</th>"
        "<th>interval</th></tr></thead><tbody>"
    )
    for claim in claims:
        css = {HOLDS: "holds", FAILS: "fails"}.get(claim.verdict, "unknown")
        texts = (claim.statement, claim.evidence, claim.boundary, claim.method)
        statement, evidence, boundary, method = (html.escape(text) for text in texts)
        left = "style='text-align:left'"
        out.append(
            f"<tr><td>({claim.key})</td><td {left}>{statement}</td>"
            f"<td class='{css}'>{html.escape(claim.label)}</td><td {left}>{evidence}</td>"
            f"<td {left}>{boundary}</td><td {left}>{method}</td></tr>"
        )
    out.append("</tbody></table>")

    out.append("<h2 id='figures'>Figures</h2>")
    for name, fig in built.items():
        out.append(
            f"<figure id='fig-{name}'><img alt='{html.escape(plots.TITLES[name])}' src='{_embed(fig, image_format)}'>"
            f"<figcaption>{html.escape(_CAPTIONS.get(name, ''))}</figcaption></figure>"
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
            _html_table(_cost_display(costs)),
        ]

    out.append("<h2 id='environment'>Environment</h2>")
    env = _environment_table(results)
    out.append(_html_table(env) if not env.empty else "<p class='note'>No environment columns.</p>")
    out += ["<h2 id='configs'>Configs</h2>", _configs_html(results), "</body></html>"]
    return "\n".join(out)


def write_report(
    results: pd.DataFrame, curves: pd.DataFrame | None, out_path: Path, *, image_format: str = "png"
) -> Path:
    """Write the self-contained HTML report to `out_path` (parents created) and return it."""
    text = render_html(results, curves, image_format=image_format)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out_path)
    return out_path
