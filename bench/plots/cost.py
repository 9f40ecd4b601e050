"""The figures of what each architecture costs, from the cost rows (the `scaling` preset).

| figure | rows | shows |
|---|---|---|
| throughput_vs_length | cost | training / prefill / decode tokens/s vs length, log-log, OOM marked |
| memory_vs_length | cost | peak training / inference memory vs length, log-log, OOM marked |

Lines are medians over repeats and seeds; a length that ran out of memory gets an X at
the panel's foot. Each builder takes ``(results, curves)`` and returns a Figure, or raises
`SkipFigure` with the reason its data is missing; ``bench.plots`` registers and calls them.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from bench.plots.parts import (
    OOM_HANDLE,
    SkipFigure,
    add_legend,
    architecture_handles,
    device_note,
    lineplot,
    mark_oom,
    ok_rows,
    panel_grid,
    variant_handles,
    variant_labels,
    variant_levels,
)
from bench.plots.style import length_axis, log_axis
from bench.store.formats import architecture_order, format_bytes, format_count

_MEMORY_KINDS = {"cuda_allocator": "GPU allocator peak", "cpu_rss": "CPU peak RSS"}


def _cost_rows(results: pd.DataFrame) -> pd.DataFrame:
    rows = results[results["row_kind"] == "cost"]
    if rows.empty:
        raise SkipFigure("no cost rows (run the `scaling` preset)")
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
    data = ok_rows(rows)
    data = data[data[column] > 0]
    oom = rows[rows["status"] == "oom"]
    lineplot(ax, data, "seq_len", column, order, variants, estimator="median", errorbar=None)
    log_axis(ax, "y", data[column], formatter, binary=binary, pad_below=0.15 if len(oom) else 0.0)
    length_axis(ax, rows["seq_len"] if lengths is None else lengths)
    mark_oom(ax, oom)
    ax.set_xlabel("sequence length (tokens)")


def _cost_legend(
    fig: Figure, rows: pd.DataFrame, order: list[str], has_variant: bool, variants
) -> None:
    handles = architecture_handles(order, markers=not has_variant)
    if has_variant:
        handles += variant_handles(variants)
    if (rows["status"] == "oom").any():
        handles.append(OOM_HANDLE)
    add_legend(fig, handles)


def throughput_vs_length(results: pd.DataFrame, curves: pd.DataFrame | None = None) -> Figure:
    rows = _cost_rows(results)
    metrics = [
        ("train_tokens_per_s", "training (fwd + bwd + opt)"),
        ("prefill_tokens_per_s", "prefill (forward)"),
        ("decode_tokens_per_s", "decode (one-token step)"),
    ]
    metrics = [(c, t) for c, t in metrics if c in rows.columns and ok_rows(rows)[c].gt(0).any()]
    if not metrics:
        raise SkipFigure("cost rows carry no throughput")
    order = architecture_order(rows["architecture"])
    variant = variant_labels(rows, ["architecture"])
    rows = rows.assign(variant=variant) if variant is not None else rows
    variants = variant_levels(rows)
    fig, axes = panel_grid(len(metrics))
    for ax, (column, title) in zip(axes, metrics, strict=True):
        _cost_panel(ax, rows, column, order, variants, format_count, binary=False)
        ax.set_title(title)
        ax.set_ylabel("throughput (tokens/s)")
    _cost_legend(fig, rows, order, variant is not None, variants)
    fig.suptitle(f"Throughput vs sequence length{device_note(rows)}")
    return fig


def memory_vs_length(results: pd.DataFrame, curves: pd.DataFrame | None = None) -> Figure:
    rows = _cost_rows(results)
    metrics = [
        ("peak_memory_train_bytes", "training step"),
        ("peak_memory_infer_bytes", "inference forward"),
    ]
    metrics = [(c, t) for c, t in metrics if c in rows.columns and ok_rows(rows)[c].gt(0).any()]
    if not metrics:
        raise SkipFigure("cost rows carry no peak memory")
    rows = rows.copy()
    rows["memory_kind"] = (
        rows["memory_kind"].fillna("unknown") if "memory_kind" in rows.columns else "unknown"
    )
    kinds = sorted(rows.loc[rows["status"] == "ok", "memory_kind"].unique())
    order = architecture_order(rows["architecture"])
    variant = variant_labels(rows, ["architecture"])
    if variant is not None:
        rows["variant"] = variant
    variants = variant_levels(rows)
    fig, axes = panel_grid(len(metrics) * len(kinds), ncols=len(metrics))
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
            lengths=rows["seq_len"],
        )
        ax.set_title(f"{title} — {label}" if len(kinds) > 1 else title)
        ax.set_ylabel(f"peak memory ({label})")
    _cost_legend(fig, rows, order, variant is not None, variants)
    fig.suptitle(f"Peak memory vs sequence length{device_note(rows)}")
    return fig
