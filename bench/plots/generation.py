"""The figure of generation throughput, from the generate rows (the `generate` presets).

| figure | rows | shows |
|---|---|---|
| generation_throughput | generate | tokens/s vs batch size, and vs the generation's peak memory |

Lines are medians over the timed generations; a batch size that ran out of memory gets
an X at the panel's foot. Throughput = batch × generated tokens / (prefill + decode).
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


def generation_throughput(results: pd.DataFrame, curves: pd.DataFrame | None = None) -> Figure:
    rows = results[results["row_kind"] == "generate"]
    if rows.empty or "generate_tokens_per_s" not in rows.columns:
        raise SkipFigure("no generation rows (run the `generate` preset)")
    order = architecture_order(rows["architecture"])
    variant = variant_labels(rows, ["architecture"])
    rows = rows.assign(variant=variant) if variant is not None else rows
    variants = variant_levels(rows) if variant is not None else None
    data = ok_rows(rows)
    data = data[data["generate_tokens_per_s"] > 0]
    oom = rows[rows["status"] == "oom"].assign(seq_len=lambda r: r["batch_size"])
    fig, axes = panel_grid(3)
    panels = [
        ("batch_size", "generate_tokens_per_s", "prefill + decode"),
        ("batch_size", "generate_decode_tokens_per_s", "decode only"),
        ("peak_memory_generate_bytes", "generate_tokens_per_s", "against peak memory"),
    ]
    for ax, (x, y, title) in zip(axes, panels, strict=True):
        lineplot(ax, data, x, y, order, variants, estimator="median", errorbar=None)
        log_axis(ax, "y", data[y], format_count, binary=False, pad_below=0.15 if len(oom) else 0)
        if x == "batch_size":
            length_axis(ax, rows["batch_size"])
            mark_oom(ax, oom)
            ax.set_xlabel("batch size")
        else:
            log_axis(ax, "x", data[x], format_bytes, binary=True)
            ax.set_xlabel("peak memory of the generation")
        ax.set_title(title)
        ax.set_ylabel("generated tokens/s")
    handles = architecture_handles(order, markers=variant is None)
    if variant is not None:
        handles += variant_handles(variants)
    if len(oom):
        handles.append(OOM_HANDLE)
    add_legend(fig, handles)
    first = rows.iloc[0]
    fig.suptitle(
        f"Generation throughput: prompt {first['prompt_len']:.0f}, "
        f"{first['new_tokens']:.0f} generated{device_note(rows)}"
    )
    return fig
