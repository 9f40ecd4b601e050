"""Drawing pieces the figures share (``bench.plots.accuracy``, ``bench.plots.cost``).

    panel_grid(n) -> (Figure, axes)                    one panel per task, metric or architecture
    lineplot(ax, data, x, y, order, variants)          one line per architecture (and cell)
    architecture_handles, variant_handles, add_legend  the key, outside on the right
    mark_oom(ax, rows), mark_run_ends(ax, rows, x)     crosses and dots on the lines

Lines take an architecture's colour and marker from ``bench.plots.style``; when one
architecture has several cells (``bench.store.cells``: model size, training length ...), the
cell label ("variant") sets the marker and dashes instead. A builder that finds its data
missing raises `SkipFigure`; ``bench.plots`` records the reason and draws the rest.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bench.plots.style import architecture_color, architecture_colors, architecture_marker
from bench.store.formats import architecture_order


class SkipFigure(Exception):
    """Raised by a figure builder when its data is missing; the message is the reason."""


def need_columns(frame: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SkipFigure(f"results lack column(s) {', '.join(missing)}")


def ok_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["status"] == "ok"]


def device_note(frame: pd.DataFrame) -> str:
    """`` — <device>`` for a title when every row ran on one named device, else ""."""
    if "device_name" not in frame.columns:
        return ""
    names = sorted({str(v) for v in frame["device_name"].dropna() if str(v)})
    return f" — {names[0]}" if len(names) == 1 else ""


def panel_grid(n_panels: int, *, ncols: int = 3, panel: tuple[float, float] = (4.0, 3.2), **kwargs):
    ncols = min(ncols, n_panels)
    nrows = math.ceil(n_panels / ncols)
    fig = Figure(figsize=(panel[0] * ncols + 1.6, panel[1] * nrows + 0.6), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs).ravel()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, list(axes[:n_panels])


# --------------------------------------------------------------------------- variants

_VARIANT_MARKERS = ("o", "s", "D", "^", "v", "P", "X")
_VARIANT_DASHES = ("", (5, 2), (1.5, 1.5), (5, 2, 1.5, 2))


def variant_labels(frame: pd.DataFrame, group: Sequence[str]) -> pd.Series | None:
    """The cell label (``bench.store.cells``) when one architecture has several cells, else None."""
    if "variant" not in frame.columns:
        return None
    labels = frame["variant"].fillna("").astype(str)
    if not (labels != "").any():
        return None
    if not (frame.assign(_v=labels).groupby(list(group))["_v"].nunique() > 1).any():
        return None
    return labels.replace("", "default")


def _natural_key(text: str) -> list:
    """Sort "d_model=64" before "d_model=128"."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def variant_levels(frame: pd.DataFrame) -> list[str] | None:
    """The cell labels to style lines by, or None when there is only one (then each
    architecture keeps its own marker)."""
    if "variant" not in frame.columns:
        return None
    levels = sorted(frame["variant"].fillna("").astype(str).unique(), key=_natural_key)
    return levels if len(levels) > 1 else None


def lineplot(
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


# --------------------------------------------------------------------------- legends


def architecture_handles(names: Sequence[str], *, markers: bool = True) -> list[Line2D]:
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


def variant_handles(levels: Sequence[str] | None) -> list[Line2D]:
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


def add_legend(fig: Figure, handles: list, title: str | None = "architecture") -> None:
    fig.legend(handles=handles, loc="outside right upper", title=title, frameon=False)


def _cross_handle(label: str) -> Line2D:
    """The legend entry for a black-edged X: a run that failed or stopped short."""
    return Line2D(
        [],
        [],
        marker="X",
        color="0.3",
        markeredgecolor="black",
        linestyle="",
        markersize=8,
        label=label,
    )


OOM_HANDLE = _cross_handle("out of memory")
RUN_END_HANDLE = Line2D(
    [], [], marker="o", color="0.3", linestyle="", markersize=6, label="run ended (converged)"
)
UNCONVERGED_HANDLE = _cross_handle("run ended unconverged")


# --------------------------------------------------------------------------- marks


def mark_oom(ax, lengths: pd.DataFrame) -> bool:
    """An X at the bottom edge for each (architecture, length) that ran out of memory."""
    if lengths.empty:
        return False
    transform = ax.get_xaxis_transform()  # x in data, y in axes fraction
    archs = architecture_order(lengths["architecture"])
    for i, name in enumerate(archs):
        xs = sorted(lengths.loc[lengths["architecture"] == name, "seq_len"].unique())
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


def mark_run_ends(ax, rows: pd.DataFrame, x: str) -> bool:
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
