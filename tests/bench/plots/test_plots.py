"""Figures from a synthetic results table: every figure written, readable, skipped with a note."""

from __future__ import annotations

import _synthetic_results as synthetic
import numpy as np
import pandas as pd
import pytest

import architectures
from architectures import registry
from bench.plots import accuracy as accuracy_figures
from bench.plots import figures as plots
from bench.plots import style as plot_style
from bench.plots.figures import make_plots
from bench.plots.style import PlotError
from bench.store import formats

# The behaviour figures have synthetic data of their own (test_behaviour_plots.py).
BEHAVIOUR_SKIPPED = {
    "order_gap": "no runs of an order task in both orders",
    "reach_by_distance": "no runs with reach measured (a [reach] table)",
    "accuracy_vs_distance": "no runs at two or more distances (a task's distance setting)",
}
FIGURES = tuple(name for name in plots.TITLES if name not in BEHAVIOUR_SKIPPED)


@pytest.fixture(scope="module")
def results() -> pd.DataFrame:
    # the synthetic tasks with width and generation rows, and a language model on text for
    # its own figures
    synthetic_tasks = synthetic.results(width=True, generation=True)
    text = synthetic.text_results(select=False)
    return pd.concat([synthetic_tasks, text], ignore_index=True)


@pytest.fixture(scope="module")
def curves(results) -> pd.DataFrame:
    return synthetic.curves(results)


@pytest.fixture(scope="module")
def written(results, curves, tmp_path_factory):
    out = tmp_path_factory.mktemp("plots")
    return make_plots(results, curves, out, formats=("png", "svg")), out


def test_every_figure_is_written_in_every_format(written):
    summary, out = written
    assert summary.skipped == BEHAVIOUR_SKIPPED
    assert set(summary.written) == set(FIGURES)
    for name in FIGURES:
        assert [p.name for p in summary.written[name]] == [f"{name}.png", f"{name}.svg"]
        assert all(p.parent == out and p.exists() for p in summary.written[name])


@pytest.mark.parametrize("name", FIGURES)
def test_png_is_a_real_picture(written, name):
    import matplotlib.image as mpimg

    path = written[0].written[name][0]
    assert path.stat().st_size > 40_000
    image = mpimg.imread(path)
    height, width = image.shape[:2]
    assert width >= 1000 and height >= 400
    rgb = (image[..., :3] * 255).round().astype(np.int32).reshape(-1, 3)
    packed, counts = np.unique(rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2], return_counts=True)
    assert len(packed) > 200  # lines, fills and text, not a blank canvas
    assert counts.max() < 0.97 * counts.sum()  # not one colour with specks
    palette = np.stack([packed >> 16, packed >> 8 & 255, packed & 255], axis=1)
    # every architecture's colour is drawn: the fixed palette is used, not seaborn's default
    for arch in synthetic.ARCHITECTURES:
        hex_colour = plot_style.architecture_color(arch)
        target = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])
        near = np.abs(palette - target).sum(axis=1) < 12
        assert counts[near].sum() > 20, f"{arch} colour missing from {name}"


def test_svg_is_vector_text(written):
    svg = written[0].written["accuracy_vs_length"][1].read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and len(svg) > 50_000


def test_palette_is_fixed_and_stable_for_plugins():
    assert plot_style.architecture_color("transformer") == "#0173B2"
    assert plot_style.architecture_color("my-block") == plot_style.architecture_color("my-block")
    known = {plot_style.architecture_color(n) for n in synthetic.ARCHITECTURES}
    assert len(known) == 5 and plot_style.architecture_color("my-block") not in known
    assert formats.architecture_order(["zeta", "mamba", "alpha", "transformer"]) == [
        "transformer",
        "mamba",
        "alpha",
        "zeta",
    ]


@pytest.fixture
def plugin_registered(monkeypatch):
    """A block registered from outside the ``architectures`` package, as a plugin is."""
    architectures.names()  # load the real registry before adding to it
    plugin = type("Gru", (architectures.Block,), {"__module__": "seqbench_gru.block"})
    monkeypatch.setitem(registry.REGISTRY.entries, "gru", plugin)
    return "gru"


def test_a_plugin_gets_its_own_strong_colour_and_built_ins_keep_theirs(plugin_registered):
    built_in = [plot_style.architecture_color(n) for n in synthetic.ARCHITECTURES]
    assert built_in == list(plot_style.LINE_PALETTE[:5])  # unchanged by installing a plugin
    n_built_in = sum(architectures.built_in(n) for n in architectures.names())
    colour = plot_style.architecture_color(plugin_registered)
    assert colour == plot_style.LINE_PALETTE[n_built_in]  # the next unused palette colour
    assert colour == plot_style.architecture_color(plugin_registered)
    assert plot_style.architecture_marker(plugin_registered) not in {
        plot_style.architecture_marker(n) for n in synthetic.ARCHITECTURES
    }
    # an unregistered name (results from a plugin installed elsewhere) hashes into what is free
    assert plot_style.architecture_color("elsewhere") not in [*built_in, colour]
    assert formats.architecture_order(["zeta", plugin_registered, "lstm", "transformer"]) == [
        "transformer",
        "lstm",
        plugin_registered,
        "zeta",
    ]


@pytest.mark.parametrize("colour", plot_style.LINE_PALETTE)
def test_every_line_colour_is_strong_enough_on_white(colour):
    assert plot_style.contrast_on_white(colour) >= 2.2, "pale, like #ECE133 (1.4:1)"
    assert plot_style.saturation(colour) > 0.2, "grey, the colour of reference lines"


@pytest.fixture(scope="module")
def built(results, curves):
    return plots.figures(results, curves)[0]


def test_axes_are_labelled_with_units(built):
    for name, fig in built.items():
        for ax in fig.axes:
            if not ax.get_visible() or ax.get_label() == "<colorbar>":
                continue
            assert ax.get_xlabel(), f"{name}: x axis unlabelled"
        assert fig.get_suptitle()
    throughput = built["throughput_vs_length"].axes[0]
    assert "tokens/s" in throughput.get_ylabel() and throughput.get_yscale() == "log"
    assert throughput.get_xscale() == "log"
    memory = built["memory_vs_length"].axes[0]
    assert "GPU allocator peak" in memory.get_ylabel()
    state = built["accuracy_vs_state"].axes[0]
    assert state.get_xscale() == "log" and "bytes" in state.get_xlabel()


def test_training_length_and_oom_are_marked(built):
    copy_panel = built["accuracy_vs_length"].axes[0]
    assert any("train L=256" in t.get_text() for t in copy_panel.texts)
    throughput = built["throughput_vs_length"].axes[1]
    legend_labels = [t.get_text() for t in built["throughput_vs_length"].legends[0].get_texts()]
    assert "out of memory" in legend_labels
    # the OOM cross sits at the transformer's failed length, 8K
    offsets = np.concatenate(
        [c.get_offsets()[:, 0] for c in throughput.collections if c.get_offsets().size]
    )
    assert 8192 in offsets


def test_memory_kind_cpu_is_labelled(results):
    cpu = results[results["row_kind"] == "cost"].assign(memory_kind="cpu_rss")
    built, _ = plots.figures(cpu)
    assert "CPU peak RSS" in built["memory_vs_length"].axes[0].get_ylabel()


def test_pareto_frontier_keeps_only_undominated_points():
    points = pd.DataFrame({"state_bytes": [1, 2, 4, 8, 16], "accuracy": [0.2, 0.1, 0.6, 0.5, 0.9]})
    front = accuracy_figures.pareto_frontier(points, "state_bytes", "accuracy")
    assert list(front["state_bytes"]) == [1, 4, 16]


def test_missing_data_skips_figures_with_a_note(results, tmp_path):
    synthetic_only = ~results["task"].isin(["needle", "text"]) & (results["row_kind"] == "eval")
    summary = make_plots(results[synthetic_only], None, tmp_path)
    no_text = "no language-model rows (bits per byte come from the text task)"
    assert summary.skipped == {
        "bpb_by_position": no_text,
        "recall_slice": no_text,
        "needle_heatmap": "no needle rows",
        "throughput_vs_length": "no cost rows (run the `scaling` preset)",
        "memory_vs_length": "no cost rows (run the `scaling` preset)",
        "flops_vs_length": "no counted FLOPs at two or more lengths (run the `scaling` preset)",
        "cost_vs_width": "no cost rows at three or more widths (run the `width` preset)",
        "generation_throughput": "no generation rows (run the `generate` preset)",
        "sample_efficiency": "no training curves",
        **BEHAVIOUR_SKIPPED,
    }
    assert "needle heatmap: no needle rows" in summary.notes
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "accuracy_vs_length.png",
        "accuracy_vs_state.png",
    ]


def test_a_plugin_architecture_and_one_seed_still_plot(results, tmp_path):
    one = results[(results["seed"] == 0) & (results["architecture"] == "mamba")].copy()
    one["architecture"] = "my-block"
    summary = make_plots(one, None, tmp_path)
    assert "accuracy_vs_length" in summary.written and "needle_heatmap" in summary.written


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame(), "empty"),
        (
            pd.DataFrame({"architecture": ["lstm"], "status": ["ok"]}),
            r"lacks column\(s\) config_hash",
        ),
        ("not a frame", "expected a pandas DataFrame"),
    ],
    ids=["empty-table", "missing-columns", "not-a-dataframe"],
)
def test_bad_tables_raise_one_clear_plot_error(frame, message, tmp_path):
    with pytest.raises(PlotError, match=message) as info:
        make_plots(frame, None, tmp_path)
    assert "\n" not in str(info.value)
    assert not list(tmp_path.iterdir())


def test_no_ok_rows_is_an_error(results, tmp_path):
    failed = results.assign(status="oom")
    with pytest.raises(PlotError, match=r"no run finished with status ok \(oom=\d+\)"):
        make_plots(failed, None, tmp_path)


@pytest.mark.parametrize("formats", [("png", "jpeg"), ("",), ()], ids=["jpeg", "blank", "none"])
def test_bad_formats_are_named(formats, results, tmp_path):
    with pytest.raises(PlotError, match="png, svg, pdf") as info:
        make_plots(results, None, tmp_path, formats=formats)
    if "jpeg" in formats:
        assert "'jpeg'" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_formats_accept_comma_lists():
    assert plot_style.validate_formats(["png,SVG", "pdf", "png"]) == ("png", "svg", "pdf")


@pytest.mark.parametrize(
    ("value", "text"),
    [(256, "256"), (1024, "1K"), (8192, "8K"), (1000, "1000")],
)
def test_length_labels(value, text):
    assert formats.format_length(value) == text


def test_byte_and_count_labels():
    assert formats.format_bytes(8192) == "8 KiB"
    assert formats.format_bytes(1.5 * 2**20) == "1.5 MiB"
    assert formats.format_count(2_500_000) == "2.5M"
    assert formats.format_count(200_000) == "200k"


def test_one_cell_per_architecture_keeps_each_architectures_marker(results):
    # With a single cell per architecture the lines are told apart by their own marker
    # (the legend's), not by one shared "variant" marker.
    # (text is left out: its two unselected lrs are two cells per architecture)
    one_width = results[(results["d_model"] == 64) & (results["task"] != "text")]
    built, _ = plots.figures(one_width)  # as make_plots and the report build it (cells first)
    fig = built["accuracy_vs_length"]
    markers = {
        line.get_marker()
        for ax in fig.axes
        for line in ax.get_lines()
        if line.get_marker() not in (None, "None", "")
    }
    expected = {plot_style.architecture_marker(a) for a in one_width["architecture"].unique()}
    assert expected <= markers and len(markers) > 1
