"""Figures from the results table (docs/results-schema.md), drawn with seaborn.

    make_plots(results, curves, out_dir, formats=("png",)) -> PlotSummary
    figures(results, curves) -> (name -> Figure, name -> reason skipped)

`FIGURE_KINDS` below is the one list of figures: name -> title and builder. The builders
live by what they show: ``bench.plots.accuracy`` (accuracy vs length and vs state size,
needle heatmap, sample efficiency), ``bench.plots.cost`` (throughput, memory and counted
FLOPs vs length; cost vs width), ``bench.plots.generation`` (generation throughput),
``bench.plots.text`` (language models: loss by position, the recall slice) and
``bench.plots.behaviour`` (prompt order, reach by distance, accuracy vs distance),
drawn from the pieces in ``bench.plots.parts``.

A figure whose data is missing is skipped with the reason, never an error. Every figure
gives an architecture the same colour and marker, taken from the architecture registry
(`bench.plots.style`, with the number formats, axes and theme), so a reader learns the key
once. Figures are `matplotlib.figure.Figure` objects (no pyplot state);
`figures()` returns them unsaved for the report to embed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window

import pandas as pd
from matplotlib.figure import Figure

from bench.plots.accuracy import (
    accuracy_vs_length,
    accuracy_vs_state,
    needle_heatmap,
    sample_efficiency,
)
from bench.plots.behaviour import accuracy_vs_distance, order_gap, reach_by_distance
from bench.plots.cost import cost_vs_width, flops_vs_length, memory_vs_length, throughput_vs_length
from bench.plots.generation import generation_throughput
from bench.plots.parts import SkipFigure
from bench.plots.style import (
    THEME,
    PlotError,
    validate_formats,
)
from bench.plots.text import bpb_by_position, recall_slice
from bench.store import cells
from bench.store.formats import (
    check_results,
)

__all__ = [
    "FIGURE_KINDS",
    "TITLES",
    "FigureKind",
    "PlotError",
    "PlotSummary",
    "figures",
    "make_plots",
]

DPI = 150


@dataclass(frozen=True)
class FigureKind:
    """One figure: its title (in notes and the report), the function that draws it, and
    the caption the report shows under it."""

    title: str
    build: Callable[[pd.DataFrame, pd.DataFrame | None], Figure]
    caption: str


# Figure name (and file stem) -> kind, in the order figures are built and shown.
FIGURE_KINDS: dict[str, FigureKind] = {
    "accuracy_vs_length": FigureKind(
        "accuracy vs length",
        accuracy_vs_length,
        "Token accuracy against evaluation length, one panel per task, mean ± sd over seeds; "
        "the dotted line is the training length and the shaded side is extrapolation. Needle "
        "rows are averaged over depth.",
    ),
    "throughput_vs_length": FigureKind(
        "throughput vs length",
        throughput_vs_length,
        "Training, prefill and decode throughput against sequence length (log-log) from the "
        "cost rows; crosses on the bottom edge mark lengths that ran out of memory.",
    ),
    "memory_vs_length": FigureKind(
        "memory vs length",
        memory_vs_length,
        "Peak memory of a training step and an inference forward against sequence length "
        "(log-log).",
    ),
    "flops_vs_length": FigureKind(
        "FLOPs vs length",
        flops_vs_length,
        "Counted FLOPs per token of a forward and of a training step (forward + backward) "
        "against sequence length (log-log): FlopCounterMode on a meta copy of each model, "
        "the kernels it cannot see counted analytically (bench/run/flops.py). Exact counts, "
        "the same on every machine.",
    ),
    "cost_vs_width": FigureKind(
        "cost vs width",
        cost_vs_width,
        "Prefill time, and counted forward FLOPs per token of the blocks and of their "
        "channel mixers, against d_model at a fixed length (log-log; the `width` preset). "
        "Monarch runs with M2's block-diagonal MLP (4 blocks) and with Monarch matrices of "
        "about √d blocks.",
    ),
    "generation_throughput": FigureKind(
        "generation throughput",
        generation_throughput,
        "Tokens generated per second against batch size (prefill of the prompt + decode, "
        "and decode alone) and against the generation's peak memory; medians of the timed "
        "generations (the `generate` presets).",
    ),
    "accuracy_vs_state": FigureKind(
        "accuracy vs state size",
        accuracy_vs_state,
        "Accuracy at the training length against the recurrent state one sequence needs "
        "(Zoology's recall–memory trade-off); one point per run, dashed line the Pareto "
        "frontier.",
    ),
    "needle_heatmap": FigureKind(
        "needle heatmap",
        needle_heatmap,
        "Needle retrieval accuracy by context length and needle depth, one panel per architecture.",
    ),
    "sample_efficiency": FigureKind(
        "sample efficiency",
        sample_efficiency,
        "Training-batch accuracy against training examples seen (Jelassi et al. 2024), "
        "mean ± sd over seeds.",
    ),
    "bpb_by_position": FigureKind(
        "loss by position",
        bpb_by_position,
        "Text: bits per byte on the test split in each target-position bucket (0-63, 64-255, "
        "256-1023, …), one panel per evaluation length, mean ± sd over seeds; a loss that "
        "keeps falling with position is a block using its context. Dashed: the unigram "
        "entropy of the training split; shaded: positions past the training length.",
    ),
    "recall_slice": FigureKind(
        "recall slice",
        recall_slice,
        "Text, at the training length: bits per byte on the recall slice (bytes completing an "
        "8-byte n-gram already in the context, Zoology's associative-recall hits) and on the "
        "other bytes, mean ± sd over seeds; right, each block's gap to attention split into "
        "the two slices (weighted by their share of bytes), with the recall slice's percentage.",
    ),
    "order_gap": FigureKind(
        "prompt order",
        order_gap,
        "Accuracy at the training length in the easy order (small set or question first; "
        "circles) and the hard one (crosses), mean ± sd over seeds: a fixed state must keep "
        "what it reads before it knows the question (Just read twice), attention need not.",
    ),
    "reach_by_distance": FigureKind(
        "reach by distance",
        reach_by_distance,
        "Influence of the input s tokens back on the output at t (‖∂y_t/∂x_s‖, relative to "
        "distance 0, log scale), after training (left) and at initialisation (right), "
        "geometric mean over seeds; dotted: 1e-3, where the decay distance is read.",
    ),
    "accuracy_vs_distance": FigureKind(
        "accuracy vs distance",
        accuracy_vs_distance,
        "Token accuracy at the training length against the distance the answer lies back, "
        "one run per distance and seed, mean ± sd over seeds (Bahdanau et al. 2015, Fig. 2, "
        "for these blocks).",
    ),
}
# Figure name -> title, read from FIGURE_KINDS (the report and tests look titles up here).
TITLES = {name: kind.title for name, kind in FIGURE_KINDS.items()}


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


def figures(
    results: pd.DataFrame, curves: pd.DataFrame | None = None
) -> tuple[dict[str, Figure], dict[str, str]]:
    """Build every figure the data allows: (name -> Figure, name -> reason it was skipped).

    Runs are grouped by cell and declared selection is applied first (``bench.store.cells``);
    training curves follow the runs that stay.
    """
    check_results(results)
    results = cells.prepare(results)
    if curves is not None and "config_hash" in curves.columns:
        curves = curves[curves["config_hash"].isin(set(results["config_hash"]))]
    built: dict[str, Figure] = {}
    skipped: dict[str, str] = {}
    with matplotlib.rc_context(THEME):
        for name, kind in FIGURE_KINDS.items():
            try:
                built[name] = kind.build(results, curves)
            except SkipFigure as reason:
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
