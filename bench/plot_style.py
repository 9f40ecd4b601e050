"""What every figure shares: the architecture palette, number formats, axes and theme,
and the checks and slices of the results table the figures start from.

Colours and markers come from the architecture registry, not from a list of names:

    architecture_rank(names) -> built-ins, then plugins, then unregistered names
    architecture_color(name) -> LINE_PALETTE[rank]  (unregistered: a stable hash)

seqbench's own blocks (those in the ``architectures`` package) come first, in the order
the ``quick`` preset lists them (the line-up every table uses), then any other built-in
in registry order; plugins follow alphabetically, so the built-ins keep their colours
whatever is installed and a plugin takes the next free colour. A name that is not
registered here (results from a plugin installed elsewhere) hashes into the colours the
registry leaves free, so it too is the same in every figure and every run.
"""

from __future__ import annotations

import colorsys
import functools
import hashlib
import math
import tomllib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window; before seaborn imports pyplot

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import FuncFormatter, NullFormatter, NullLocator

FORMATS = ("png", "svg", "pdf")

# Columns every figure needs; the rest are checked per figure (missing -> figure skipped).
REQUIRED_COLUMNS = (
    "config_hash",
    "row_kind",
    "architecture",
    "task",
    "seed",
    "status",
    "train_seq_len",
    "eval_seq_len",
    "accuracy",
)

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

_LINEUP_PRESET = Path(__file__).parent / "presets" / "quick.toml"


class PlotError(ValueError):
    """A results table or option that cannot be plotted; the message is one line for people."""


# --------------------------------------------------------------------------- palette


@functools.cache
def _lineup() -> tuple[str, ...]:
    """The built-in order: the ``quick`` preset's architecture grid (empty if unreadable)."""
    try:
        grid = tomllib.loads(_LINEUP_PRESET.read_text()).get("grid", {})
    except (OSError, tomllib.TOMLDecodeError):
        return ()
    return tuple(str(name) for name in grid.get("architecture", ()))


@functools.cache
def _rank(registered: tuple[str, ...]) -> dict[str, int]:
    import architectures  # imports torch and every block: only when a colour is first needed

    built_in = [
        n for n in registered if architectures.get(n).__module__.startswith("architectures.")
    ]
    lineup = [n for n in _lineup() if n in built_in]
    ordered = lineup + [n for n in built_in if n not in lineup]
    ordered += sorted(n for n in registered if n not in ordered)
    return {name: i for i, name in enumerate(ordered)}


def architecture_rank() -> dict[str, int]:
    """Registered name -> its position: built-ins in line-up order, then plugins by name."""
    import architectures

    return _rank(tuple(architectures.names()))


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


def architecture_order(names: Iterable[str]) -> list[str]:
    """Built-ins in line-up order, then plugins, then unregistered names alphabetically."""
    names = set(names)
    ranks = architecture_rank()
    known = sorted((n for n in names if n in ranks), key=ranks.__getitem__)
    return known + sorted(names - set(known))


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


def check_results(results: pd.DataFrame) -> pd.DataFrame:
    """Raise PlotError unless `results` is a results table with at least one ok row."""
    if not isinstance(results, pd.DataFrame):
        raise PlotError(f"expected a pandas DataFrame of results, got {type(results).__name__}")
    if results.empty:
        raise PlotError("the results table is empty: no finished runs in this folder")
    missing = [col for col in REQUIRED_COLUMNS if col not in results.columns]
    if missing:
        raise PlotError(
            f"the results table lacks column(s) {', '.join(missing)} (see docs/results-schema.md)"
        )
    if not (results["status"] == "ok").any():
        counts = ", ".join(f"{k}={v}" for k, v in results["status"].value_counts().items())
        raise PlotError(f"no run finished with status ok ({counts}); nothing to plot")
    return results


# --------------------------------------------------------------------------- table slices


def ordered_tasks(tasks: Iterable[str]) -> list[str]:
    preferred = ("copy", "selective_copy", "mqar", "induction", "needle")
    tasks = set(tasks)
    return [t for t in preferred if t in tasks] + sorted(tasks - set(preferred))


def per_run_accuracy(results: pd.DataFrame, *, statuses: Sequence[str] = ("ok",)) -> pd.DataFrame:
    """Eval rows, one per (run, eval length): needle rows averaged over depth."""
    rows = results[(results["row_kind"] == "eval") & results["status"].isin(statuses)]
    keys = ["config_hash", "eval_seq_len"]
    carried = [
        c
        for c in (
            "architecture",
            "task",
            "seed",
            "train_seq_len",
            "d_model",
            "n_layers",
            "params",
            "state_bytes",
            "status",
            "variant",
            "selected",
            "stop_reason",
            "converged",
            "train_steps",
            "val_accuracy",
        )
        if c in rows.columns
    ]
    values = {c: "mean" for c in ("accuracy", "exact_match") if c in rows.columns}
    if rows.empty:
        return rows[keys + carried + list(values)].copy()
    agg = {**dict.fromkeys(carried, "first"), **values}
    return rows.groupby(keys, as_index=False, dropna=False).agg(agg)


# --------------------------------------------------------------------------- formatting


def format_length(value: float, _pos: object = None) -> str:
    """256, 512, 1K, 2K ... (K = 1024, as sequence lengths are powers of two)."""
    if not np.isfinite(value) or value <= 0:
        return ""
    value = round(value)
    if value >= 1024 and value % 1024 == 0:
        return f"{value // 1024}K"
    return str(value)


def format_bytes(value: float, _pos: object = None) -> str:
    if not np.isfinite(value) or value <= 0:
        return "0 B" if value == 0 else ""
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    power = min(int(math.log(value, 1024)), len(units) - 1)
    scaled = value / 1024**power
    text = f"{scaled:.0f}" if scaled >= 10 or scaled == int(scaled) else f"{scaled:.1f}"
    return f"{text} {units[power]}"


def format_count(value: float, _pos: object = None) -> str:
    """1.5k, 20M ... for tokens/s and example counts."""
    if not np.isfinite(value):
        return ""
    for threshold, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= threshold:
            scaled = value / threshold
            return (
                f"{scaled:.0f}{suffix}"
                if scaled >= 10 or scaled == int(scaled)
                else f"{scaled:.1f}{suffix}"
            )
    return f"{value:.0f}" if value == int(value) else f"{value:.2g}"


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
