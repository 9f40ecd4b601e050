"""The figures of the behaviour claims (``bench.analysis.behaviour``), from its tidy frames.

| figure | shows |
|---|---|
| order_gap | accuracy in each prompt order per architecture, mean ± sd over seeds (claim e) |
| reach_by_distance | relative influence by distance, log y: trained (left) and at init (right) (claim f) |
| accuracy_vs_distance | accuracy against the distance bridged, log2 x, mean ± sd over seeds (claim g) |

Each builder takes ``(results, curves)`` and returns a Figure, or raises `SkipFigure`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bench.analysis.behaviour import (
    ORDER_WORDS,
    distance_frame,
    order_frame,
    reach_frame,
)
from bench.plots.parts import (
    SkipFigure,
    add_legend,
    architecture_handles,
    lineplot,
    panel_grid,
)
from bench.plots.style import architecture_color, length_axis
from bench.store.formats import architecture_order

REACH_FLOOR = 1e-13  # float64 influence below this is rounding, not reach


def order_gap(results: pd.DataFrame, curves: pd.DataFrame | None = None) -> Figure:
    data = order_frame(results)
    if data.empty or data["easy"].nunique() < 2:
        raise SkipFigure("no runs of an order task in both orders")
    tasks = sorted(data["task"].unique())
    fig, axes = panel_grid(len(tasks), ncols=2, panel=(5.2, 3.4), sharey=True)
    for ax, task in zip(axes, tasks, strict=True):
        rows = data[data["task"] == task]
        order = architecture_order(rows["architecture"])
        summary = rows.groupby(["architecture", "easy"])["accuracy"].agg(["mean", "std"])
        for i, name in enumerate(order):
            points = []
            for easy, offset, marker in ((True, -0.15, "o"), (False, 0.15, "X")):
                if (name, easy) not in summary.index:
                    continue
                mean, sd = summary.loc[(name, easy)]
                ax.errorbar(
                    i + offset,
                    mean,
                    yerr=0 if np.isnan(sd) else sd,
                    marker=marker,
                    markersize=7,
                    color=architecture_color(name),
                    markeredgecolor="white" if easy else "black",
                    markeredgewidth=0.6,
                    capsize=2,
                    linestyle="",
                )
                points.append((i + offset, mean))
            if len(points) == 2:
                (x0, y0), (x1, y1) = points
                ax.plot([x0, x1], [y0, y1], color=architecture_color(name), linewidth=1.2)
        ax.set_xticks(range(len(order)), order, rotation=30, ha="right")
        ax.set_xlim(-0.6, len(order) - 0.4)
        ax.set_ylim(-0.03, 1.05)
        ax.set_title(task)
        ax.set_ylabel("token accuracy at training length")
    easy_words, hard_words = ORDER_WORDS[tasks[0]] if len(tasks) == 1 else ("easy", "hard")
    handles = [
        Line2D([], [], marker="o", color="0.35", linestyle="", label=f"{easy_words} (easy)"),
        Line2D(
            [], [], marker="X", color="0.35", markeredgecolor="black", linestyle="",
            label=f"{hard_words} (hard)",
        ),
    ]  # fmt: skip
    add_legend(fig, handles, title="order")
    fig.suptitle("Accuracy in each prompt order (mean ± sd over seeds)")
    return fig


def reach_by_distance(results: pd.DataFrame, curves: pd.DataFrame | None = None) -> Figure:
    data = reach_frame(results)
    if data.empty:
        raise SkipFigure("no runs with reach measured (a [reach] table)")
    data = data[data["distance"] >= 1].copy()  # distance 0 is 1 by definition
    data["influence"] = data["influence"].clip(lower=REACH_FLOOR)
    order = architecture_order(data["architecture"])
    models = [m for m in ("trained", "at init") if m in set(data["model"])]
    fig, axes = panel_grid(len(models), ncols=2, panel=(5.0, 3.6), sharey=True)
    for ax, model in zip(axes, models, strict=True):
        rows = data[data["model"] == model]
        # The geometric mean over seeds, computed here: seaborn would average in the log
        # space of an axis already set to log (the panels share y).
        mean = rows.groupby(["architecture", "distance"])["influence"].apply(
            lambda v: float(np.exp(np.log(v).mean()))
        )
        for name in [n for n in order if n in mean.index.get_level_values(0)]:
            line = mean.loc[name]
            ax.plot(line.index, line.to_numpy(), color=architecture_color(name), linewidth=1.8)
        ax.set_yscale("log")
        ax.axhline(1e-3, color="0.35", linestyle=":", linewidth=1.2)
        ax.set_xlabel("distance t − s (tokens)")
        ax.set_ylabel("influence relative to distance 0")
        ax.set_title(f"{model} model")
    handles = architecture_handles(order, markers=False)
    handles.append(Line2D([], [], color="0.35", linestyle=":", label="1e-3 (decay distance)"))
    add_legend(fig, handles)
    setting = data["setting"].iloc[0]
    fig.suptitle(f"Reach: ‖∂y_t/∂x_s‖ by distance, geometric mean over seeds — {setting}")
    return fig


def accuracy_vs_distance(results: pd.DataFrame, curves: pd.DataFrame | None = None) -> Figure:
    data = distance_frame(results)
    if data.empty or data["distance"].nunique() < 2:
        raise SkipFigure("no runs at two or more distances (a task's distance setting)")
    tasks = sorted(data["task"].unique())
    order = architecture_order(data["architecture"])
    fig, axes = panel_grid(len(tasks), ncols=2, panel=(5.0, 3.6), sharey=True)
    for ax, task in zip(axes, tasks, strict=True):
        rows = data[data["task"] == task]
        lineplot(ax, rows, "distance", "accuracy", order, None, errorbar="sd")
        length_axis(ax, rows["distance"])
        ax.set_ylim(-0.03, 1.05)
        ax.set_title(task)
        ax.set_xlabel("distance bridged (tokens, log)")
        ax.set_ylabel("token accuracy at training length")
    add_legend(fig, architecture_handles(order))
    fig.suptitle("Accuracy vs the distance bridged (mean ± sd over seeds)")
    return fig
