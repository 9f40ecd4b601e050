"""The behaviour figures (bench.plots.behaviour) from synthetic behaviour results."""

from __future__ import annotations

import _synthetic_results as synthetic
import numpy as np
import pytest

from bench.plots import behaviour as figures
from bench.plots import style as plot_style
from bench.plots.figures import make_plots

NAMES = ("order_gap", "reach_by_distance", "accuracy_vs_distance")


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("behaviour-plots")
    return make_plots(synthetic.behaviour_results(), None, out)


@pytest.mark.parametrize("name", NAMES)
def test_each_behaviour_figure_draws_every_architecture(written, name):
    import matplotlib.image as mpimg

    image = mpimg.imread(written.written[name][0])
    rgb = (image[..., :3] * 255).round().astype(np.int32).reshape(-1, 3)
    for arch in synthetic.BEHAVIOUR_ARCHITECTURES:
        hex_colour = plot_style.architecture_color(arch)
        target = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(rgb - target).sum(axis=1) < 12).sum() > 20, f"{arch} missing from {name}"


def test_reach_is_drawn_on_a_log_axis_with_both_models():
    fig = figures.reach_by_distance(synthetic.behaviour_results())
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["trained model", "at init model"]
    assert all(ax.get_yscale() == "log" for ax in axes)
    lstm = plot_style.architecture_color("lstm").lower()
    line = next(ln for ln in axes[0].lines if ln.get_color().lower() == lstm)
    x, y = line.get_data()
    # The LSTM's trained rate is -0.2 per token: a straight line in log space.
    assert x[0] == 1 and np.polyfit(x, np.log(y), 1)[0] == pytest.approx(-0.2, abs=0.01)


def test_distance_figure_has_the_distances_on_its_x_axis():
    fig = figures.accuracy_vs_distance(synthetic.behaviour_results())
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and list(ax.get_xticks()) == [4, 16, 64]
    assert ax.get_title() == "induction"


def test_without_their_data_the_figures_are_skipped(tmp_path):
    summary = make_plots(synthetic.results(cost=False), None, tmp_path)
    assert set(NAMES) <= set(summary.skipped)
