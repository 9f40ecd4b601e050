"""The figures of what each architecture costs, from the cost rows (the `scaling` preset).

| figure | rows | shows |
|---|---|---|
| throughput_vs_length | cost | training / prefill / decode tokens/s vs length, log-log, OOM marked |
| memory_vs_length | cost | peak training / inference memory vs length, log-log, OOM marked |
| flops_vs_length | cost | counted forward and training FLOPs per token vs length (exact) |
| cost_vs_width | cost (`width`) | prefill time, blocks' and MLP's FLOPs per token vs d_model |

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
from bench.store.formats import architecture_order, format_bytes, format_count, format_length

_MEMORY_KINDS = {"cuda_allocator": "GPU allocator peak", "cpu_rss": "CPU peak RSS"}


def _cost_rows(results: pd.DataFrame) -> pd.DataFrame:
    rows = results[results["row_kind"] == "cost"]
    if rows.empty:
        raise SkipFigure("no cost rows (run the `scaling` preset)")
    return rows


def _length_rows(results: pd.DataFrame) -> pd.DataFrame:
    """The cost rows of cells measured at two or more lengths (not a width sweep's)."""
    rows = _length_series(_cost_rows(results))
    if rows.empty:
        raise SkipFigure("no cost rows at two or more lengths (run the `scaling` preset)")
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
    rows = _length_rows(results)
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
    rows = _length_rows(results)
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


# --------------------------------------------------------------------------- counted FLOPs


def _length_series(rows: pd.DataFrame) -> pd.DataFrame:
    """Cost rows of the cells measured at two or more lengths (a width sweep has one)."""
    if rows.empty or "variant" not in rows.columns:
        return rows
    keys = ["architecture", "variant"]
    lengths = rows.groupby(keys, dropna=False)["seq_len"].transform("nunique")
    return rows[lengths >= 2]


def flops_vs_length(results: pd.DataFrame, curves: pd.DataFrame | None = None) -> Figure:
    rows = _length_series(results[results["row_kind"] == "cost"])
    metrics = [
        ("flops_forward_per_token", "forward"),
        ("flops_train_per_token", "training step (forward + backward)"),
    ]
    metrics = [(c, t) for c, t in metrics if c in rows.columns and rows[c].gt(0).any()]
    if rows.empty or not metrics:
        raise SkipFigure("no counted FLOPs at two or more lengths (run the `scaling` preset)")
    order = architecture_order(rows["architecture"])
    variant = variant_labels(rows, ["architecture"])
    rows = rows.assign(variant=variant) if variant is not None else rows
    variants = variant_levels(rows) if variant is not None else None
    fig, axes = panel_grid(len(metrics))
    for ax, (column, title) in zip(axes, metrics, strict=True):
        data = rows[rows[column] > 0]  # counted at every length, out of memory or not
        lineplot(ax, data, "seq_len", column, order, variants, estimator="median", errorbar=None)
        log_axis(ax, "y", data[column], format_count, binary=False)
        length_axis(ax, rows["seq_len"])
        ax.set_title(title)
        ax.set_xlabel("sequence length (tokens)")
        ax.set_ylabel("FLOPs per token")
    handles = architecture_handles(order, markers=variant is None)
    add_legend(fig, handles + (variant_handles(variants) if variant is not None else []))
    fig.suptitle("Counted FLOPs per token vs sequence length (exact: no device, no noise)")
    return fig


def _width_rows(results: pd.DataFrame) -> pd.DataFrame:
    """Cost rows of the blocks measured at ≥ 3 widths at one length, labelled by their MLP
    (Monarch runs with M2's block-diagonal MLP and with Monarch matrices of ~√d blocks)."""
    rows = results[results["row_kind"] == "cost"]
    if rows.empty or "d_model" not in rows.columns:
        return rows.iloc[:0]
    kind = rows["model.mlp"] if "model.mlp" in rows.columns else pd.Series("", index=rows.index)
    kind = kind.where(kind.notna(), "")
    label = kind.map(lambda k: {"monarch": "Monarch MLP, ~√d blocks"}.get(k, ""))
    monarch = rows["architecture"] == "monarch"
    label = label.where(~monarch | (label != ""), "block-diagonal MLP, 4 blocks")
    rows = rows.assign(variant=label.where(monarch, ""))
    widths = rows.groupby(["architecture", "variant", "seq_len"])["d_model"].transform("nunique")
    return rows[widths >= 3]


def cost_vs_width(results: pd.DataFrame, curves: pd.DataFrame | None = None) -> Figure:
    rows = _width_rows(results)
    if rows.empty:
        raise SkipFigure("no cost rows at three or more widths (run the `width` preset)")
    rows = rows.copy()
    if "measure.batch_size" in rows.columns and "prefill_tokens_per_s" in rows.columns:
        per_call = rows["measure.batch_size"] * rows["seq_len"]
        rows["prefill_s"] = per_call / pd.to_numeric(rows["prefill_tokens_per_s"], errors="coerce")
    metrics = [
        ("prefill_s", "prefill time per call (timed)", "seconds", _seconds),
        ("flops_blocks_forward_per_token", "blocks, forward FLOPs (counted)", "FLOPs per token", format_count),
        ("flops_mlp_forward_per_token", "channel mixer (MLP), forward FLOPs", "FLOPs per token", format_count),
    ]  # fmt: skip
    metrics = [m for m in metrics if m[0] in rows.columns and rows[m[0]].gt(0).any()]
    order = architecture_order(rows["architecture"])
    levels = [v for v in sorted(rows["variant"].unique()) if v]
    variants = ["", *levels] if levels else None
    fig, axes = panel_grid(len(metrics))
    for ax, (column, title, unit, formatter) in zip(axes, metrics, strict=True):
        data = rows[rows[column] > 0]
        if column == "prefill_s":
            data = ok_rows(data)
        lineplot(ax, data, "d_model", column, order, variants, estimator="median", errorbar=None)
        log_axis(ax, "y", data[column], formatter, binary=False)
        length_axis(ax, rows["d_model"])
        ax.set_title(title)
        ax.set_xlabel("model width d_model")
        ax.set_ylabel(unit)
    handles = architecture_handles(order, markers=not levels)
    if levels:
        handles += variant_handles(variants)[1:]  # the default line of every block is solid
    add_legend(fig, handles)
    length = format_length(rows["seq_len"].iloc[0])
    fig.suptitle(f"Cost vs model width at L={length}{device_note(rows)}")
    return fig


def _seconds(value: float, _pos: object = None) -> str:
    if value >= 1:
        return f"{value:.1f} s"
    ms = value * 1000
    return f"{ms:.0f} ms" if ms >= 1 else f"{ms:.1g} ms"
