"""Figures from the results table (docs/results-schema.md), drawn with seaborn.

    make_plots(results, curves, out_dir, formats=("png",)) -> PlotSummary

Six figures, each from one slice of the tidy table:

| figure | rows | shows |
|---|---|---|
| accuracy_vs_length | eval | accuracy vs evaluation length per task, mean ± sd over seeds, training length marked |
| throughput_vs_length | cost | training / prefill / decode tokens/s vs length, log-log, OOM marked |
| memory_vs_length | cost | peak training / inference memory vs length, log-log, OOM marked |
| accuracy_vs_state | eval at train length | accuracy vs recurrent state bytes, one point per run, Pareto frontier (Zoology) |
| needle_heatmap | eval, needle | accuracy over length × needle depth, one panel per architecture |
| sample_efficiency | curves | training accuracy vs examples seen (Jelassi et al. 2024) |

A figure whose data is missing is skipped with the reason, never an error. Every figure
gives an architecture the same colour and marker, taken from the architecture registry
(`bench.plot_style`, with the number formats, axes and theme), so a reader learns the key
once. Figures are `matplotlib.figure.Figure` objects (no pyplot state);
`figures()` returns them unsaved for the report to embed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from . import cells
from .plot_style import (
    FORMATS,
    REQUIRED_COLUMNS,
    THEME,
    PlotError,
    architecture_color,
    architecture_colors,
    architecture_marker,
    architecture_order,
    check_results,
    format_bytes,
    format_count,
    format_length,
    length_axis,
    log_axis,
    ordered_tasks,
    per_run_accuracy,
    validate_formats,
)

__all__ = [  # with what is re-exported from bench.plot_style for report, claims and runner
    "FORMATS",
    "REQUIRED_COLUMNS",
    "TITLES",
    "PlotError",
    "PlotSummary",
    "architecture_color",
    "architecture_colors",
    "architecture_marker",
    "architecture_order",
    "check_results",
    "figures",
    "format_bytes",
    "format_count",
    "format_length",
    "make_plots",
    "ordered_tasks",
    "pareto_frontier",
    "per_run_accuracy",
    "validate_formats",
]

DPI = 150
CURVE_COLUMNS = ("architecture", "seed", "step", "accuracy")


class _Skip(Exception):
    """Raised by a figure builder when its data is missing; the message is the reason."""


@dataclass
class PlotSummary:
    """What `make_plots` wrote (figure name -> files) and skipped (figure name -> reason)."""

    written: dict[str, list[Path]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def files(self) -> list[Path]:
        return [path for paths in self.written.values() for path in paths]

    @property
    def notes(self) -> list[str]:
        """One line per skipped figure, e.g. ``needle heatmap: no needle rows``."""
        return [f"{TITLES[name]}: {reason}" for name, reason in self.skipped.items()]

    def lines(self) -> list[str]:
        out = [
            f"{TITLES[name]}: {', '.join(str(p) for p in paths)}"
            for name, paths in self.written.items()
        ]
        return out + [f"skipped {note}" for note in self.notes]


# --------------------------------------------------------------------------- helpers


def _grid(n_panels: int, *, ncols: int = 3, panel: tuple[float, float] = (4.0, 3.2), **kwargs):
    ncols = min(ncols, n_panels)
    nrows = math.ceil(n_panels / ncols)
    fig = Figure(figsize=(panel[0] * ncols + 1.6, panel[1] * nrows + 0.6), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs).ravel()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, list(axes[:n_panels])


def _ok(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["status"] == "ok"]


def _variant(frame: pd.DataFrame, group: Sequence[str]) -> pd.Series | None:
    """The cell label (``bench.cells``) when one architecture has several cells, else None."""
    if "variant" not in frame.columns:
        return None
    labels = frame["variant"].fillna("").astype(str)
    if not (labels != "").any():
        return None
    if not (frame.assign(_v=labels).groupby(list(group))["_v"].nunique() > 1).any():
        return None
    return labels.replace("", "default")


def _architecture_handles(names: Sequence[str], *, markers: bool = True) -> list[Line2D]:
    return [
        Line2D(
            [],
            [],
            color=architecture_color(n),
            marker=architecture_marker(n) if markers else None,
            linewidth=2,
            markersize=6,
            label=n,
        )
        for n in names
    ]


def _legend(fig: Figure, handles: list, title: str | None = "architecture") -> None:
    fig.legend(handles=handles, loc="outside right upper", title=title, frameon=False)


_VARIANT_MARKERS = ("o", "s", "D", "^", "v", "P", "X")
_VARIANT_DASHES = ("", (5, 2), (1.5, 1.5), (5, 2, 1.5, 2))


def _natural_key(text: str) -> list:
    """Sort "d_model=64" before "d_model=128"."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _variant_levels(frame: pd.DataFrame) -> list[str] | None:
    """The cell labels to style lines by, or None when there is only one (then each
    architecture keeps its own marker)."""
    if "variant" not in frame.columns:
        return None
    levels = sorted(frame["variant"].fillna("").astype(str).unique(), key=_natural_key)
    return levels if len(levels) > 1 else None


def _lineplot(
    ax, data: pd.DataFrame, x: str, y: str, order: list[str], variants: list[str] | None, **kwargs
) -> None:
    """One line per architecture (colour); marker per architecture, or marker + dashes per
    variant (model size / training length) when one architecture has several."""
    if variants:
        style = "variant"
        markers = {v: _VARIANT_MARKERS[i % len(_VARIANT_MARKERS)] for i, v in enumerate(variants)}
        dashes: bool | dict = {
            v: _VARIANT_DASHES[i % len(_VARIANT_DASHES)] for i, v in enumerate(variants)
        }
        levels = variants
    else:
        style = "architecture"
        markers = {n: architecture_marker(n) for n in order}
        dashes = False
        levels = order
    present = set(data[style])
    sns.lineplot(
        data=data,
        x=x,
        y=y,
        hue="architecture",
        hue_order=[n for n in order if n in set(data["architecture"])],
        palette=architecture_colors(order),
        style=style,
        style_order=[lv for lv in levels if lv in present],
        markers=markers,
        dashes=dashes,
        markersize=6,
        linewidth=1.8,
        legend=False,
        ax=ax,
        **kwargs,
    )


def _variant_handles(levels: Sequence[str] | None) -> list[Line2D]:
    out = []
    for i, level in enumerate(levels or ()):
        dash = _VARIANT_DASHES[i % len(_VARIANT_DASHES)]
        line = Line2D(
            [], [], color="0.35", marker=_VARIANT_MARKERS[i % len(_VARIANT_MARKERS)], label=level
        )
        if dash:
            line.set_dashes(dash)
        out.append(line)
    return out


def _mark_oom(ax, lengths: pd.DataFrame) -> bool:
    """An X at the bottom edge for each (architecture, length) that ran out of memory."""
    if lengths.empty:
        return False
    transform = ax.get_xaxis_transform()  # x in data, y in axes fraction
    archs = architecture_order(lengths["architecture"])
    for i, name in enumerate(archs):
        xs = sorted(lengths.loc[lengths["architecture"] == name, "eval_seq_len"].unique())
        ax.scatter(
            xs,
            [0.04 + 0.05 * i] * len(xs),
            transform=transform,
            marker="X",
            s=70,
            color=architecture_color(name),
            edgecolor="black",
            linewidth=0.6,
            zorder=5,
            clip_on=False,
        )
    return True


_OOM_HANDLE = Line2D(
    [],
    [],
    marker="X",
    color="0.3",
    markeredgecolor="black",
    linestyle="",
    markersize=8,
    label="out of memory",
)


def _device_note(frame: pd.DataFrame) -> str:
    if "device_name" not in frame.columns:
        return ""
    names = sorted({str(v) for v in frame["device_name"].dropna() if str(v)})
    return f" — {names[0]}" if len(names) == 1 else ""


def _need(frame: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise _Skip(f"results lack column(s) {', '.join(missing)}")


# --------------------------------------------------------------------------- figures


def accuracy_vs_length(results: pd.DataFrame, curves: pd.DataFrame | None = None) -> Figure:
    data = per_run_accuracy(results).dropna(subset=["accuracy", "eval_seq_len"])
    if data.empty:
        raise _Skip("no ok eval rows with an accuracy")
    tasks = ordered_tasks(data["task"].unique())
    order = architecture_order(data["architecture"])
    data = data.copy()
    variant = _variant(data, ["task", "architecture"])
    if variant is not None:
        data["variant"] = variant
    variants = _variant_levels(data)
    fig, axes = _grid(len(tasks), sharey=True)
    for ax, task in zip(axes, tasks, strict=True):
        rows = data[data["task"] == task]
        train_lens = sorted(rows["train_seq_len"].dropna().unique())
        if len(train_lens) == 1:
            ax.axvspan(train_lens[0], rows["eval_seq_len"].max() * 2, color="0.92", zorder=0)
            ax.text(
                0.98,
                0.97,
                "extrapolation →",
                transform=ax.transAxes,
                ha="right",
                va="top",
                fontsize=8,
                color="0.35",
            )
        for length in train_lens:
            ax.axvline(length, color="0.25", linestyle=":", linewidth=1.4, zorder=1)
            ax.annotate(
                f"train L={format_length(length)}",
                xy=(length, 0.02),
                xycoords=ax.get_xaxis_transform(),
                xytext=(-3, 0),
                textcoords="offset points",
                rotation=90,
                ha="right",
                va="bottom",
                fontsize=8,
                color="0.25",
            )
        _lineplot(
            ax,
            rows,
            "eval_seq_len",
            "accuracy",
            order,
            variants,
            errorbar="sd",
        )
        length_axis(ax, rows["eval_seq_len"])
        ax.set_ylim(-0.03, 1.05)
        ax.set_title(task)
        ax.set_xlabel("evaluation length (tokens)")
        ax.set_ylabel("token accuracy")
    handles = _architecture_handles(order, markers=variant is None)
    if variant is not None:
        handles += _variant_handles(variants)
    handles.append(
        Line2D([], [], color="0.25", linestyle=":", linewidth=1.4, label="training length")
    )
    _legend(fig, handles)
    fig.suptitle("Accuracy vs evaluation length (mean ± sd over seeds)")
    return fig


def _cost_rows(results: pd.DataFrame) -> pd.DataFrame:
    rows = results[results["row_kind"] == "cost"]
    if rows.empty:
        raise _Skip("no cost rows (run the `scaling` preset)")
    return rows


def _cost_panel(
    ax,
    rows: pd.DataFrame,
    column: str,
    order: list[str],
    variants,
    formatter,
    *,
    binary: bool,
    lengths: pd.Series | None = None,
) -> None:
    """One log-log panel of a cost metric against length: median lines, OOM marks."""
    data = _ok(rows)
    data = data[data[column] > 0]
    oom = rows[rows["status"] == "oom"]
    _lineplot(ax, data, "eval_seq_len", column, order, variants, estimator="median", errorbar=None)
    log_axis(ax, "y", data[column], formatter, binary=binary, pad_below=0.15 if len(oom) else 0.0)
    length_axis(ax, rows["eval_seq_len"] if lengths is None else lengths)
    _mark_oom(ax, oom)
    ax.set_xlabel("sequence length (tokens)")


def _cost_legend(
    fig: Figure, rows: pd.DataFrame, order: list[str], has_variant: bool, variants
) -> None:
    handles = _architecture_handles(order, markers=not has_variant)
    if has_variant:
        handles += _variant_handles(variants)
    if (rows["status"] == "oom").any():
        handles.append(_OOM_HANDLE)
    _legend(fig, handles)


def throughput_vs_length(results: pd.DataFrame, curves: pd.DataFrame | None = None) -> Figure:
    rows = _cost_rows(results)
    metrics = [
        ("train_tokens_per_s", "training (fwd + bwd + opt)"),
        ("prefill_tokens_per_s", "prefill (forward)"),
        ("decode_tokens_per_s", "decode (one-token step)"),
    ]
    metrics = [(c, t) for c, t in metrics if c in rows.columns and _ok(rows)[c].gt(0).any()]
    if not metrics:
        raise _Skip("cost rows carry no throughput")
    order = architecture_order(rows["architecture"])
    variant = _variant(rows, ["architecture"])
    rows = rows.assign(variant=variant) if variant is not None else rows
    variants = _variant_levels(rows)
    fig, axes = _grid(len(metrics))
    for ax, (column, title) in zip(axes, metrics, strict=True):
        _cost_panel(ax, rows, column, order, variants, format_count, binary=False)
        ax.set_title(title)
        ax.set_ylabel("throughput (tokens/s)")
    _cost_legend(fig, rows, order, variant is not None, variants)
    fig.suptitle(f"Throughput vs sequence length{_device_note(rows)}")
    return fig


_MEMORY_KINDS = {"cuda_allocator": "GPU allocator peak", "cpu_rss": "CPU peak RSS"}


def memory_vs_length(results: pd.DataFrame, curves: pd.DataFrame | None = None) -> Figure:
    rows = _cost_rows(results)
    metrics = [
        ("peak_memory_train_bytes", "training step"),
        ("peak_memory_infer_bytes", "inference forward"),
    ]
    metrics = [(c, t) for c, t in metrics if c in rows.columns and _ok(rows)[c].gt(0).any()]
    if not metrics:
        raise _Skip("cost rows carry no peak memory")
    rows = rows.copy()
    rows["memory_kind"] = (
        rows["memory_kind"].fillna("unknown") if "memory_kind" in rows.columns else "unknown"
    )
    kinds = sorted(rows.loc[rows["status"] == "ok", "memory_kind"].unique())
    order = architecture_order(rows["architecture"])
    variant = _variant(rows, ["architecture"])
    if variant is not None:
        rows["variant"] = variant
    variants = _variant_levels(rows)
    fig, axes = _grid(len(metrics) * len(kinds), ncols=len(metrics))
    panels = [(kind, metric) for kind in kinds for metric in metrics]
    for ax, (kind, (column, title)) in zip(axes, panels, strict=True):
        label = _MEMORY_KINDS.get(kind, kind)
        in_kind = rows[rows["memory_kind"] == kind]
        _cost_panel(
            ax,
            in_kind,
            column,
            order,
            variants,
            format_bytes,
            binary=True,
            lengths=rows["eval_seq_len"],
        )
        ax.set_title(f"{title} — {label}" if len(kinds) > 1 else title)
        ax.set_ylabel(f"peak memory ({label})")
    _cost_legend(fig, rows, order, variant is not None, variants)
    fig.suptitle(f"Peak memory vs sequence length{_device_note(rows)}")
    return fig


def pareto_frontier(points: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """Points no other point beats on both smaller `x` and larger `y`, sorted by `x`."""
    ordered = points.sort_values([x, y], ascending=[True, False])
    best = -np.inf
    keep = []
    for index, value in zip(ordered.index, ordered[y], strict=True):
        if value > best:
            keep.append(index)
            best = value
    return ordered.loc[keep]


def accuracy_vs_state(results: pd.DataFrame, curves: pd.DataFrame | None = None) -> Figure:
    _need(results, ["state_bytes"])
    data = per_run_accuracy(results)
    data = data[(data["eval_seq_len"] == data["train_seq_len"]) & (data["state_bytes"] > 0)]
    data = data.dropna(subset=["accuracy", "state_bytes"])
    if data.empty:
        raise _Skip("no ok eval rows at the training length with a state size")
    tasks = ordered_tasks(data["task"].unique())
    order = architecture_order(data["architecture"])
    fig, axes = _grid(len(tasks), sharey=True)
    for ax, task in zip(axes, tasks, strict=True):
        rows = data[data["task"] == task]
        front = pareto_frontier(rows, "state_bytes", "accuracy")
        xs = [*front["state_bytes"], data["state_bytes"].max() * 4]
        ys = [*front["accuracy"], front["accuracy"].iloc[-1]]
        ax.step(xs, ys, where="post", color="0.2", linestyle="--", linewidth=1.2, zorder=1)
        sns.scatterplot(
            data=rows,
            x="state_bytes",
            y="accuracy",
            hue="architecture",
            hue_order=[n for n in order if n in set(rows["architecture"])],
            palette=architecture_colors(order),
            style="architecture",
            markers={n: architecture_marker(n) for n in order},
            s=55,
            alpha=0.85,
            edgecolor="white",
            linewidth=0.5,
            legend=False,
            ax=ax,
            zorder=3,
        )
        log_axis(ax, "x", data["state_bytes"], format_bytes, binary=True)
        ax.set_ylim(-0.03, 1.05)
        ax.set_title(task)
        ax.set_xlabel("recurrent state per sequence (bytes, log)")
        ax.set_ylabel("token accuracy at training length")
    handles = _architecture_handles(order)
    for handle in handles:
        handle.set_linestyle("")
    handles.append(Line2D([], [], color="0.2", linestyle="--", label="Pareto frontier"))
    _legend(fig, handles)
    fig.suptitle("Accuracy vs recurrent state size (one point per run)")
    return fig


def needle_heatmap(results: pd.DataFrame, curves: pd.DataFrame | None = None) -> Figure:
    _need(results, ["needle_depth"])
    rows = results[(results["row_kind"] == "eval") & results["needle_depth"].notna()]
    if rows.empty:
        raise _Skip("no needle rows")
    ok = _ok(rows).dropna(subset=["accuracy"])
    if ok.empty:
        raise _Skip("no ok needle rows with an accuracy")
    order = architecture_order(rows["architecture"])
    lengths = sorted(rows["eval_seq_len"].unique())
    depths = sorted(rows["needle_depth"].unique())
    fig, axes = _grid(len(order), panel=(3.6, 3.2), sharey=True)
    cbar_ax = None
    for i, (ax, name) in enumerate(zip(axes, order, strict=True)):
        grid = (
            ok[ok["architecture"] == name]
            .pivot_table(
                index="needle_depth", columns="eval_seq_len", values="accuracy", aggfunc="mean"
            )
            .reindex(index=depths, columns=lengths)
        )
        ax.set_facecolor("0.85")  # cells with no ok run (OOM, failed) show grey
        ax.grid(False)
        if i == 0:
            cbar_ax = fig.colorbar(
                ScalarMappable(norm=Normalize(0, 1), cmap="viridis"),
                ax=axes,
                label="token accuracy (mean over seeds)",
                shrink=0.85,
            ).ax
        sns.heatmap(
            grid,
            ax=ax,
            vmin=0,
            vmax=1,
            cmap="viridis",
            cbar=False,
            annot=grid.size <= 64,
            fmt=".2f",
            annot_kws={"fontsize": 7},
            linewidths=0.5,
            linecolor="white",
            square=False,
        )
        ax.set_xticklabels([format_length(v) for v in lengths], rotation=0)
        ax.set_yticklabels([f"{d:.0%}" for d in depths], rotation=0)
        train = rows.loc[rows["architecture"] == name, "train_seq_len"].dropna().unique()
        if len(train) == 1 and train[0] in lengths:
            boundary = lengths.index(train[0]) + 1
            ax.axvline(boundary, color="white", linewidth=2.5)
            ax.axvline(boundary, color="black", linewidth=1, linestyle="--")
        ax.set_title(name, color=architecture_color(name))
        ax.set_xlabel("context length (tokens)")
        ax.set_ylabel("needle depth (0% = start)" if i % 3 == 0 else "")
    assert cbar_ax is not None
    fig.suptitle(
        "Needle retrieval: accuracy by length × depth (dashed: training length; grey: no ok run)"
    )
    return fig


def sample_efficiency(results: pd.DataFrame, curves: pd.DataFrame | None = None) -> Figure:
    if curves is None or len(curves) == 0:
        raise _Skip("no training curves")
    missing = [c for c in CURVE_COLUMNS if c not in curves.columns]
    if missing:
        raise _Skip(f"training curves lack column(s) {', '.join(missing)}")
    data = curves.dropna(subset=["accuracy"]).copy()
    use_examples = "examples" in data.columns and data["examples"].notna().any()
    x = "examples" if use_examples else "step"
    data = data.dropna(subset=[x])
    if "task" not in data.columns:
        data["task"] = "all tasks"
    if data.empty:
        raise _Skip("training curves have no accuracy")
    runs = results.drop_duplicates("config_hash").set_index("config_hash")
    if "config_hash" in data.columns:
        for column in ("variant", "converged"):
            if column in runs.columns:
                data[column] = data["config_hash"].map(runs[column])
    tasks = ordered_tasks(data["task"].unique())
    order = architecture_order(data["architecture"])
    variant = _variant(data, ["task", "architecture"]) if "variant" in data.columns else None
    if variant is not None:
        data["variant"] = variant
    variants = _variant_levels(data) if variant is not None else None
    fig, axes = _grid(len(tasks), sharey=True)
    any_unconverged = False
    for ax, task in zip(axes, tasks, strict=True):
        rows = data[data["task"] == task]
        _lineplot(
            ax,
            rows,
            x,
            "accuracy",
            order,
            variants,
            errorbar="sd",
            markevery=max(1, rows[x].nunique() // 6),
        )
        if "config_hash" in rows.columns:
            any_unconverged |= _mark_run_ends(ax, rows, x)
        ax.xaxis.set_major_formatter(FuncFormatter(format_count))
        ax.set_ylim(-0.03, 1.05)
        ax.set_title(task)
        ax.set_xlabel("training examples seen" if use_examples else "optimizer steps")
        ax.set_ylabel("training-batch accuracy")
    handles = _architecture_handles(order, markers=variant is None)
    if variant is not None:
        handles += _variant_handles(variants)
    handles.append(_END_HANDLE)
    if any_unconverged:
        handles.append(_UNCONVERGED_HANDLE)
    _legend(fig, handles)
    fig.suptitle("Sample efficiency: accuracy during training (mean ± sd over seeds)")
    return fig


_END_HANDLE = Line2D(
    [], [], marker="o", color="0.3", linestyle="", markersize=6, label="run ended (converged)"
)
_UNCONVERGED_HANDLE = Line2D(
    [],
    [],
    marker="X",
    color="0.3",
    markeredgecolor="black",
    linestyle="",
    markersize=8,
    label="run ended unconverged",
)


def _mark_run_ends(ax, rows: pd.DataFrame, x: str) -> bool:
    """A dot where each run stopped; an X where it stopped without converging (time cap,
    step budget spent below ``train.early_stop``, divergence). True if any X was drawn."""
    ends = rows.sort_values(x).groupby("config_hash").tail(1)
    unconverged = (
        ends["converged"].map(lambda v: v is False or v == 0)
        if "converged" in ends.columns
        else pd.Series(False, index=ends.index)
    )
    for is_unconverged, group in ends.groupby(unconverged):
        ax.scatter(
            group[x],
            group["accuracy"],
            c=[architecture_color(a) for a in group["architecture"]],
            marker="X" if is_unconverged else "o",
            s=70 if is_unconverged else 28,
            edgecolor="black" if is_unconverged else "white",
            linewidth=0.6,
            zorder=6,
        )
    return bool(unconverged.any())


# Figure name -> (title used in notes and the report, builder).
TITLES = {
    "accuracy_vs_length": "accuracy vs length",
    "throughput_vs_length": "throughput vs length",
    "memory_vs_length": "memory vs length",
    "accuracy_vs_state": "accuracy vs state size",
    "needle_heatmap": "needle heatmap",
    "sample_efficiency": "sample efficiency",
}
_BUILDERS: dict[str, Callable[[pd.DataFrame, pd.DataFrame | None], Figure]] = {
    "accuracy_vs_length": accuracy_vs_length,
    "throughput_vs_length": throughput_vs_length,
    "memory_vs_length": memory_vs_length,
    "accuracy_vs_state": accuracy_vs_state,
    "needle_heatmap": needle_heatmap,
    "sample_efficiency": sample_efficiency,
}


def figures(
    results: pd.DataFrame, curves: pd.DataFrame | None = None
) -> tuple[dict[str, Figure], dict[str, str]]:
    """Build every figure the data allows: (name -> Figure, name -> reason it was skipped).

    Runs are grouped by cell and declared selection is applied first (``bench.cells``);
    training curves follow the runs that stay.
    """
    check_results(results)
    results = cells.prepare(results)
    if curves is not None and "config_hash" in curves.columns:
        curves = curves[curves["config_hash"].isin(set(results["config_hash"]))]
    built: dict[str, Figure] = {}
    skipped: dict[str, str] = {}
    with matplotlib.rc_context(THEME):
        for name, build in _BUILDERS.items():
            try:
                built[name] = build(results, curves)
            except _Skip as reason:
                skipped[name] = str(reason)
    return built, skipped


def make_plots(
    results: pd.DataFrame,
    curves: pd.DataFrame | None,
    out_dir: Path,
    formats: Sequence[str] = ("png",),
) -> PlotSummary:
    """Write every figure the data allows to `out_dir` as `<figure>.<format>`."""
    formats = validate_formats(formats)
    built, skipped = figures(results, curves)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = PlotSummary(skipped=skipped)
    with matplotlib.rc_context(THEME):
        for name, fig in built.items():
            paths = []
            for fmt in formats:
                path = out_dir / f"{name}.{fmt}"
                fig.savefig(path, format=fmt, dpi=DPI)
                paths.append(path)
            summary.written[name] = paths
    return summary
