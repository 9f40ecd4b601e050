"""The figures of what each architecture gets right, from the eval rows and training curves.

| figure | rows | shows |
|---|---|---|
| accuracy_vs_length | eval | accuracy vs evaluation length per task, mean ± sd over seeds, training length marked |
| accuracy_vs_state | eval at train length | accuracy vs recurrent state bytes, one point per run, Pareto frontier (Zoology) |
| needle_heatmap | eval, needle | accuracy over length × needle depth, one panel per architecture |
| sample_efficiency | curves | training accuracy vs examples seen (Jelassi et al. 2024) |

Each builder takes ``(results, curves)`` and returns a Figure, or raises `SkipFigure`
with the reason its data is missing; ``bench.plots`` registers and calls them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from bench.plots.parts import (
    RUN_END_HANDLE,
    UNCONVERGED_HANDLE,
    SkipFigure,
    add_legend,
    architecture_handles,
    lineplot,
    mark_run_ends,
    need_columns,
    ok_rows,
    panel_grid,
    variant_handles,
    variant_labels,
    variant_levels,
)
from bench.plots.style import (
    architecture_color,
    architecture_colors,
    architecture_marker,
    length_axis,
    log_axis,
)
from bench.store.formats import (
    architecture_order,
    format_bytes,
    format_count,
    format_length,
    ordered_tasks,
    per_run_accuracy,
)

CURVE_COLUMNS = ("architecture", "seed", "step", "accuracy")


def accuracy_vs_length(results: pd.DataFrame, curves: pd.DataFrame | None = None) -> Figure:
    data = per_run_accuracy(results).dropna(subset=["accuracy", "eval_seq_len"])
    if data.empty:
        raise SkipFigure("no ok eval rows with an accuracy")
    tasks = ordered_tasks(data["task"].unique())
    order = architecture_order(data["architecture"])
    data = data.copy()
    variant = variant_labels(data, ["task", "architecture"])
    if variant is not None:
        data["variant"] = variant
    variants = variant_levels(data)
    fig, axes = panel_grid(len(tasks), sharey=True)
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
        lineplot(
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
    handles = architecture_handles(order, markers=variant is None)
    if variant is not None:
        handles += variant_handles(variants)
    handles.append(
        Line2D([], [], color="0.25", linestyle=":", linewidth=1.4, label="training length")
    )
    add_legend(fig, handles)
    fig.suptitle("Accuracy vs evaluation length (mean ± sd over seeds)")
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
    need_columns(results, ["state_bytes"])
    data = per_run_accuracy(results)
    data = data[(data["eval_seq_len"] == data["train_seq_len"]) & (data["state_bytes"] > 0)]
    data = data.dropna(subset=["accuracy", "state_bytes"])
    if data.empty:
        raise SkipFigure("no ok eval rows at the training length with a state size")
    tasks = ordered_tasks(data["task"].unique())
    order = architecture_order(data["architecture"])
    fig, axes = panel_grid(len(tasks), sharey=True)
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
    handles = architecture_handles(order)
    for handle in handles:
        handle.set_linestyle("")
    handles.append(Line2D([], [], color="0.2", linestyle="--", label="Pareto frontier"))
    add_legend(fig, handles)
    fig.suptitle("Accuracy vs recurrent state size (one point per run)")
    return fig


def needle_heatmap(results: pd.DataFrame, curves: pd.DataFrame | None = None) -> Figure:
    need_columns(results, ["needle_depth"])
    rows = results[(results["row_kind"] == "eval") & results["needle_depth"].notna()]
    if rows.empty:
        raise SkipFigure("no needle rows")
    ok = ok_rows(rows).dropna(subset=["accuracy"])
    if ok.empty:
        raise SkipFigure("no ok needle rows with an accuracy")
    order = architecture_order(rows["architecture"])
    lengths = sorted(rows["eval_seq_len"].unique())
    depths = sorted(rows["needle_depth"].unique())
    fig, axes = panel_grid(len(order), panel=(3.6, 3.2), sharey=True)
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
        raise SkipFigure("no training curves")
    missing = [c for c in CURVE_COLUMNS if c not in curves.columns]
    if missing:
        raise SkipFigure(f"training curves lack column(s) {', '.join(missing)}")
    data = curves.dropna(subset=["accuracy"]).copy()
    use_examples = "examples" in data.columns and data["examples"].notna().any()
    x = "examples" if use_examples else "step"
    data = data.dropna(subset=[x])
    if "task" not in data.columns:
        data["task"] = "all tasks"
    if data.empty:
        raise SkipFigure("training curves have no accuracy")
    runs = results.drop_duplicates("config_hash").set_index("config_hash")
    if "config_hash" in data.columns:
        for column in ("variant", "converged"):
            if column in runs.columns:
                data[column] = data["config_hash"].map(runs[column])
    tasks = ordered_tasks(data["task"].unique())
    order = architecture_order(data["architecture"])
    variant = variant_labels(data, ["task", "architecture"]) if "variant" in data.columns else None
    if variant is not None:
        data["variant"] = variant
    variants = variant_levels(data) if variant is not None else None
    fig, axes = panel_grid(len(tasks), sharey=True)
    any_unconverged = False
    for ax, task in zip(axes, tasks, strict=True):
        rows = data[data["task"] == task]
        lineplot(
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
            any_unconverged |= mark_run_ends(ax, rows, x)
        ax.xaxis.set_major_formatter(FuncFormatter(format_count))
        ax.set_ylim(-0.03, 1.05)
        ax.set_title(task)
        ax.set_xlabel("training examples seen" if use_examples else "optimizer steps")
        ax.set_ylabel("training-batch accuracy")
    handles = architecture_handles(order, markers=variant is None)
    if variant is not None:
        handles += variant_handles(variants)
    handles.append(RUN_END_HANDLE)
    if any_unconverged:
        handles.append(UNCONVERGED_HANDLE)
    add_legend(fig, handles)
    fig.suptitle("Sample efficiency: accuracy during training (mean ± sd over seeds)")
    return fig
