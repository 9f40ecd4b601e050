"""The behaviour claims and figures in the HTML report and the Markdown summary."""

from __future__ import annotations

import _synthetic_results as synthetic
import pytest

from bench.report.html import render_html
from bench.report.markdown import markdown_summary

RATES = {"rwkv": -0.05, "rwkv4": -0.08, "mamba": -0.1}


@pytest.fixture(scope="module")
def results():
    return synthetic.behaviour_results(rates=RATES)


def test_markdown_shows_each_behaviour_claim_with_verdict_boundary_and_interval(results):
    text = markdown_summary(results)
    for key, start in (
        ("j", "A fixed-state block's accuracy depends on the prompt order"),
        ("k", "Attention's influence does not decay with distance"),
        ("l", "The LSTM's accuracy falls with the distance bridged"),
    ):
        assert f"- ({key}) {start}" in text
    assert text.count("**holds**") == 3  # (j), (k) and (l)
    assert "set_disjointness, small set first − large set first: transformer" in text
    assert "- interval: t interval over seeds" in text


def test_an_inconclusive_behaviour_claim_says_what_would_decide_it():
    one_seed = synthetic.behaviour_results(rates=RATES, seeds=(0,))
    text = markdown_summary(one_seed)
    assert "**inconclusive (transformer: 1 seed, run ≥ 3; lstm: 1 seed, run ≥ 3" in text


def test_html_has_the_claims_and_the_three_figures(results):
    html = render_html(results, None, image_format="svg")
    for key in "efg":
        assert f"<td>({key})</td>" in html
    for name in ("order_gap", "reach_by_distance", "accuracy_vs_distance"):
        assert f"id='fig-{name}'" in html
