"""The figures of a language model on real text (the ``text`` task), from its eval rows.

| figure | rows | shows |
|---|---|---|
| bpb_by_position | eval, text | bits per byte in each position bucket (0-63, 64-255, …), one panel per evaluation length: who keeps using the context |
| recall_slice | eval at train length, text | the recall slice's bits per byte against the other bytes', and each block's gap to attention split into the two (Zoology §3) |

The numbers come from ``bench.analysis.lm``; each builder takes ``(results, curves)`` and
returns a Figure, or raises `SkipFigure` when the results hold no language model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from bench.analysis import lm
from bench.plots.parts import (
    SkipFigure,
    add_legend,
    architecture_handles,
    device_note,
    lineplot,
    panel_grid,
    variant_handles,
    variant_labels,
    variant_levels,
)
from bench.plots.style import architecture_color, architecture_colors
from bench.store.formats import architecture_order, format_length, per_run_accuracy

NO_TEXT = "no language-model rows (bits per byte come from the text task)"


def _unigram(results: pd.DataFrame) -> float:
    """The corpus's unigram bits per byte (mean over the runs that recorded it), or NaN."""
    if "unigram_bits_per_byte" not in results.columns:
        return np.nan
    values = pd.to_numeric(results["unigram_bits_per_byte"], errors="coerce").dropna()
    return float(values.mean()) if len(values) else np.nan


def bpb_by_position(results: pd.DataFrame, curves: pd.DataFrame | None = None) -> Figure:
    data = lm.position_table(results).dropna(subset=["bits_per_byte"])
    if data.empty:
        raise SkipFigure(NO_TEXT)
    order = architecture_order(data["architecture"])
    variant = variant_labels(data, ["task", "architecture", "eval_seq_len", "bucket"])
    if variant is not None:
        data = data.assign(variant=variant)
    variants = variant_levels(data)
    lengths = sorted(data["eval_seq_len"].unique())
    train_lens = sorted(data["train_seq_len"].dropna().unique())
    fig, axes = panel_grid(len(lengths), ncols=len(lengths), panel=(4.4, 3.4), sharey=True)
    unigram = _unigram(results)
    for ax, length in zip(axes, lengths, strict=True):
        rows = data[data["eval_seq_len"] == length]
        # x: the bucket's index; buckets grow 4x, so it reads as a log axis of position
        stops = sorted(rows["bucket_stop"].unique())
        rows = rows.assign(bucket_index=rows["bucket_stop"].map(stops.index))
        lineplot(ax, rows, "bucket_index", "bits_per_byte", order, variants, errorbar="sd")
        labels = rows.drop_duplicates("bucket_index").sort_values("bucket_index")["bucket"]
        ax.set_xticks(range(len(stops)), labels.tolist(), rotation=30, ha="right")
        ax.set_xlim(-0.3, len(stops) - 0.7)
        for train in train_lens:
            past = [i for i, stop in enumerate(stops) if stop > train]
            if past:  # buckets reaching past the training length: extrapolation
                ax.axvspan(past[0] - 0.5, len(stops), color="0.93", zorder=0)
        if np.isfinite(unigram):
            ax.axhline(unigram, color="0.4", linestyle="--", linewidth=1.2, zorder=1)
        trained = length in train_lens
        ax.set_title(f"L={format_length(length)}" + (" (training length)" if trained else ""))
        ax.set_xlabel("target position bucket")
        ax.set_ylabel("bits per byte (test split)")
    handles = architecture_handles(order, markers=variant is None)
    if variant is not None:
        handles += variant_handles(variants)
    if np.isfinite(unigram):
        handles.append(
            Line2D([], [], color="0.4", linestyle="--", label=f"unigram entropy ({unigram:.2f})")
        )
    if any(t < max(lengths) for t in train_lens):
        handles.append(Patch(color="0.93", label="past the training length"))
    add_legend(fig, handles)
    fig.suptitle("Loss by position (bits per byte, mean ± sd over seeds)" + device_note(results))
    return fig


def recall_slice(results: pd.DataFrame, curves: pd.DataFrame | None = None) -> Figure:
    gaps = lm.recall_gap(results)
    if gaps.empty:
        raise SkipFigure(NO_TEXT)
    slices = _slices(results)
    has_gap = gaps["gap"].notna() & (gaps["architecture"] != lm.BASELINE)
    fig, axes = panel_grid(2 if has_gap.any() else 1, ncols=2, panel=(4.8, 3.6))
    order = architecture_order(slices["architecture"])
    sns.barplot(
        data=slices,
        x="slice",
        y="bits_per_byte",
        hue="label",
        hue_order=_labels(slices, order),
        palette=_palette(slices, order),
        errorbar="sd",
        saturation=1.0,  # the architecture's own colour, as in every figure
        ax=axes[0],
        legend=False,
    )
    axes[0].set_xlabel("bytes of the test split")
    axes[0].set_ylabel("bits per byte at the training length")
    fraction = gaps["recall_fraction"].mean()
    axes[0].set_title(f"Recall slice ({fraction:.0%} of bytes) vs the rest")
    if has_gap.any():
        ax = axes[1]
        shown = gaps[has_gap].reset_index(drop=True)
        x = np.arange(len(shown))
        colors = [architecture_color(a) for a in shown["architecture"]]
        ax.bar(x, shown["other_gap"], color=colors, alpha=0.45, label="other bytes")
        ax.bar(
            x,
            shown["recall_gap"],
            bottom=shown["other_gap"],
            color=colors,
            hatch="///",
            edgecolor="white",
            label="recall slice",
        )
        for i, row in shown.iterrows():
            if np.isfinite(row["recall_share"]):
                below = row["gap"] < 0  # label the bar's far end, clear of the title
                end = min(row["gap"], row["other_gap"]) if below else max(row["gap"], 0)
                ax.annotate(
                    f"{row['recall_share']:.0%}",
                    (i, end),
                    xytext=(0, -3 if below else 3),
                    textcoords="offset points",
                    ha="center",
                    va="top" if below else "bottom",
                    fontsize=8,
                )
        ax.margins(y=0.12)
        ax.axhline(0, color="0.3", linewidth=0.8)
        ax.set_xticks(x, [_short(r) for r in shown.itertuples()], rotation=30, ha="right")
        ax.set_xlabel("architecture")
        ax.set_ylabel(f"gap to {lm.BASELINE} (bits per byte)")
        ax.set_title("Gap to attention by slice (% on recall)")
    handles = architecture_handles(order, markers=False)
    handles += [
        Patch(facecolor="0.6", hatch="///", edgecolor="white", label="gap on the recall slice"),
        Patch(facecolor="0.6", alpha=0.45, label="gap on the other bytes"),
    ]
    add_legend(fig, handles)
    fig.suptitle(
        "Recall slice: bytes completing an 8-byte n-gram seen earlier" + device_note(results)
    )
    return fig


def _slices(results: pd.DataFrame) -> pd.DataFrame:
    """Long form, one row per (run, slice) at the training length: architecture, label
    (architecture and cell when one architecture has several), slice, bits per byte."""
    out = []
    runs = per_run_accuracy(results)
    runs = runs[runs["eval_seq_len"] == runs["train_seq_len"]]
    runs = runs[pd.to_numeric(runs["bits_per_byte"], errors="coerce").notna()]
    several = "variant" in runs and (runs.groupby("architecture")["variant"].nunique() > 1).any()
    for row in runs.itertuples(index=False):
        label = f"{row.architecture} · {row.variant}" if several else row.architecture
        for name, column in (
            ("recall slice", "recall_bits_per_byte"),
            ("other bytes", "other_bits_per_byte"),
        ):
            value = getattr(row, column)
            if value is not None and pd.notna(value):
                out.append(
                    {
                        "architecture": row.architecture,
                        "label": label,
                        "slice": name,
                        "bits_per_byte": float(value),
                    }
                )
    return pd.DataFrame(out)


def _labels(slices: pd.DataFrame, order: list[str]) -> list[str]:
    """Bar labels in line-up order of their architecture, then by cell."""
    rank = {a: i for i, a in enumerate(order)}
    pairs = slices.drop_duplicates("label")[["architecture", "label"]].itertuples(index=False)
    return [label for _, label in sorted(pairs, key=lambda p: (rank[p[0]], p[1]))]


def _palette(slices: pd.DataFrame, order: list[str]) -> dict[str, str]:
    colors = architecture_colors(order)
    return {r.label: colors[r.architecture] for r in slices.drop_duplicates("label").itertuples()}


def _short(row) -> str:
    return f"{row.architecture}\n{row.variant}" if row.variant else row.architecture
