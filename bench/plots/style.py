"""What every figure shares: the architecture palette, axes and theme.

Colours and markers follow the order of ``bench.store.formats`` (built-ins in the
line-up, then plugins, then unregistered names):

    architecture_color(name) -> LINE_PALETTE[rank]  (unregistered: a stable hash)

so the built-ins keep their colours whatever is installed and a plugin takes the next
free colour. A name that is not registered here (results from a plugin installed
elsewhere) hashes into the colours the registry leaves free, so it too is the same in
every figure and every run.
"""

from __future__ import annotations

import colorsys
import hashlib
import math
from collections.abc import Callable, Iterable, Sequence

import matplotlib

matplotlib.use("Agg")  # files only, never a window; before seaborn imports pyplot

import numpy as np
import seaborn as sns
from matplotlib.ticker import FuncFormatter, NullFormatter, NullLocator

from bench.store.formats import TableError, architecture_rank, format_length

# A figure that cannot be drawn is the same mistake as a table that cannot be shown.
PlotError = TableError

FORMATS = ("png", "svg", "pdf")

# seaborn "colorblind" without its pale pink and yellow (too faint for a line on white)
# and its grey (the figures draw reference lines in grey), then tab10 purple and brown
# and Dark2 green, which differ from those seven. Every entry has a contrast of at least
# 2.2:1 on white (tests/test_plots.py checks it); the first five are the built-ins'.
LINE_PALETTE = (
    "#0173B2",
    "#DE8F05",
    "#029E73",
    "#D55E00",
    "#CC78BC",
    "#CA9161",
    "#56B4E9",
    "#9467BD",
    "#8C564B",
    "#66A61E",
)
# "X" is left out: the figures use it for OOM and unconverged runs.
MARKERS = ("o", "s", "D", "^", "v", "P", "*", "h", "<", ">", "p", "d")

THEME = {
    **sns.axes_style("whitegrid"),
    **sns.plotting_context("notebook", font_scale=0.85),
    "axes.titleweight": "bold",
    "figure.dpi": 100,
}

# --------------------------------------------------------------------------- palette


def _pick(name: str, choices: Sequence[str]) -> str:
    """Registered: the choice at the name's rank (wrapping past the end). Otherwise a stable
    hash into the choices the registry leaves unused (all of them if it uses every one)."""
    ranks = architecture_rank()
    if name in ranks:
        return choices[ranks[name] % len(choices)]
    free = choices[len(ranks) :] or choices
    return free[int(hashlib.sha1(name.encode()).hexdigest(), 16) % len(free)]


def architecture_color(name: str) -> str:
    """The colour of an architecture in every figure (see the module docstring)."""
    return _pick(name, LINE_PALETTE)


def architecture_marker(name: str) -> str:
    return _pick(name, MARKERS)


def architecture_colors(names: Iterable[str]) -> dict[str, str]:
    return {name: architecture_color(name) for name in names}


def contrast_on_white(colour: str) -> float:
    """WCAG contrast ratio of a ``#RRGGBB`` colour against white (1 = invisible, 21 = black)."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return 1.05 / (luminance + 0.05)


def saturation(colour: str) -> float:
    """HLS saturation of a ``#RRGGBB`` colour (0 = grey)."""
    return colorsys.rgb_to_hls(*(int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)))[2]


# --------------------------------------------------------------------------- validation


def validate_formats(formats: Sequence[str] | str) -> tuple[str, ...]:
    """Normalise ``["png", "svg"]`` or ``"png,svg"``; raise PlotError naming a bad value."""
    if isinstance(formats, str):
        formats = [formats]
    out: list[str] = []
    for item in formats:
        for fmt in str(item).split(","):
            fmt = fmt.strip().lower().lstrip(".")
            if not fmt:
                continue
            if fmt not in FORMATS:
                raise PlotError(f"unknown figure format {fmt!r}; choose from {', '.join(FORMATS)}")
            if fmt not in out:
                out.append(fmt)
    if not out:
        raise PlotError(f"no figure format given; choose from {', '.join(FORMATS)}")
    return tuple(out)


# --------------------------------------------------------------------------- axes


def length_axis(ax, lengths: Iterable[float]) -> None:
    """Log2 x axis with a labelled tick at each measured length (thinned when crowded)."""
    ticks = sorted({float(v) for v in lengths if np.isfinite(v) and v > 0})
    ax.set_xscale("log", base=2)
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    if ticks:
        step = max(1, math.ceil(len(ticks) / 7))
        ax.set_xticks(ticks[::step])
        ax.set_xlim(ticks[0] / 1.25, ticks[-1] * 1.25)
    ax.xaxis.set_major_formatter(FuncFormatter(format_length))


def _log_ticks(lo: float, hi: float, *, binary: bool, max_ticks: int = 6) -> list[float]:
    """Round log-spaced ticks covering [lo, hi]: powers of 2 (bytes) or 1-2-5 × 10^k (counts)."""
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo <= 0 or hi <= 0:
        return []
    if binary:
        ks = range(math.floor(math.log2(lo)), math.ceil(math.log2(hi)) + 1)
        candidates = [2.0**k for k in ks]
    else:
        ks = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
        candidates = [m * 10.0**k for k in ks for m in (1, 2, 5)]
    inside = [t for t in candidates if lo <= t <= hi]
    for step in range(1, len(inside) + 1):
        # keep every step-th tick, anchored on a "1 × 10^k" or 2^(multiple of step) value
        picked = [t for i, t in enumerate(inside) if i % step == 0]
        if len(picked) <= max_ticks:
            return picked
    return inside[:1]


def log_axis(
    ax,
    which: str,
    values: Iterable[float],
    formatter: Callable,
    *,
    binary: bool,
    pad_below: float = 0.0,
) -> None:
    """Log scale on `which` ("x" or "y") with readable round ticks spanning `values`.

    `pad_below` leaves that fraction of the (log) range free under the data, where OOM
    markers go without covering a line.
    """
    values = np.asarray([v for v in values if np.isfinite(v) and v > 0], dtype=float)
    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    axis.set_minor_locator(NullLocator())
    axis.set_minor_formatter(NullFormatter())
    axis.set_major_formatter(FuncFormatter(formatter))
    if values.size == 0:
        return
    lo, hi = values.min(), values.max()
    if lo == hi:
        lo, hi = lo / 2, hi * 2
    span = math.log(hi / lo)
    lo_lim, hi_lim = lo * math.exp(-span * (0.06 + pad_below)), hi * math.exp(span * 0.06)
    ticks = _log_ticks(lo_lim, hi_lim, binary=binary)
    if len(ticks) < 2:
        ticks = _log_ticks(lo_lim / 4, hi_lim * 4, binary=binary)
        lo_lim, hi_lim = min(lo_lim, ticks[0]), max(hi_lim, ticks[-1])
    axis.set_ticks(ticks)
    (ax.set_xlim if which == "x" else ax.set_ylim)(lo_lim, hi_lim)
