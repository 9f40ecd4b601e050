"""The HTML report and Markdown summary from a synthetic results table."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess

import _synthetic_results as synthetic
import numpy as np
import pandas as pd
import pytest

from bench.analysis import tables
from bench.analysis.verdicts import FAILS, HOLDS, UNKNOWN
from bench.plots import figures as plots
from bench.plots.style import PlotError
from bench.report.html import check_claims, write_report
from bench.report.markdown import markdown_summary

IMAGE = re.compile(r"src='data:image/(png|svg\+xml);base64,([A-Za-z0-9+/=]+)'")


@pytest.fixture(scope="module")
def results() -> pd.DataFrame:
    return synthetic.results()


@pytest.fixture(scope="module")
def everything() -> pd.DataFrame:
    """Every kind of row, so the report has data for every figure and claim but (i): the
    synthetic tasks with a `width` and a `generate` sweep, a language model on text, and a
    behaviour sweep."""
    synthetic_tasks = synthetic.results(width=True, generation=True)
    text = synthetic.text_results(select=False)
    behaviour = synthetic.behaviour_results(rates={"rwkv": -0.05, "rwkv4": -0.08, "mamba": -0.1})
    return pd.concat([synthetic_tasks, text, behaviour], ignore_index=True)


@pytest.fixture(scope="module")
def html_path(everything, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "nested" / "report.html"
    assert write_report(everything, synthetic.curves(everything), out) == out
    return out


@pytest.fixture(scope="module")
def html(html_path) -> str:
    return html_path.read_text(encoding="utf-8")


def test_report_embeds_every_figure_as_png(html):
    images = IMAGE.findall(html)
    assert len(images) == len(plots.TITLES)
    for kind, data in images:
        assert kind == "png"
        raw = base64.b64decode(data)
        assert raw.startswith(b"\x89PNG") and len(raw) > 30_000
    for name in plots.TITLES:
        assert f"id='fig-{name}'" in html


def test_report_needs_no_network(html):
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.IGNORECASE)
    assert "<script" not in html.lower()
    assert "<link" not in html.lower()
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", html)


def test_report_has_every_section(html, everything):
    for anchor in ("leaderboard", "claims", "figures", "cost", "environment", "configs"):
        assert f"id='{anchor}'" in html
    for task in synthetic.TASKS:
        assert f"<h3>{task}</h3>" in html
    assert "NVIDIA H100 80GB HBM3" in html and "2.5.1" in html and "88e7c66" in html
    env = html[html.index("id='environment'") : html.index("id='configs'")]
    assert "<td>transformer, rwkv, mamba</td>" in env  # backend per architecture group
    # exact configs, deduplicated: one <details> per distinct config, each hash shown
    configs = everything["config_json"].unique()
    assert html.count("<details>") == len(configs)
    assert f"{len(configs)} distinct configs" in html
    for config_hash in everything["config_hash"].unique()[:10]:
        assert config_hash in html


def test_report_shows_each_claim_with_its_interval_boundary_and_method(html):
    claims = html[html.index("id='claims'") : html.index("id='figures'")]
    assert "whole 95 % interval" in claims
    assert re.search(
        r"transformer prefill time ∝ L\^[\d.]+ \([\d.]+–[\d.]+\) over L=1K, 2K, 4K", claims
    )
    assert "passes 1.5 exactly where the L² term equals the linear layers" in claims
    assert "t interval over the seeds" in claims
    assert re.search(r"×4\.9\d \(4\.\d+–5\.\d+\)", claims)  # (f) Mamba's generation gain
    assert "nblocks ≈ √d" in claims  # (g) Monarch's MLP in width
    # (a)-(g) hold on the synthetic sweep, (h) does not, (i) has no kernel rows, and the
    # behaviour claims (j)-(l) hold on the behaviour sweep
    assert claims.count("<td class='holds'>holds</td>") == 10


def test_leaderboard_ranks_and_marks_oom(results):
    boards = tables.leaderboard(results)
    assert list(boards) == list(synthetic.TASKS)
    copy = boards["copy"]
    assert list(copy["rank"]) == [1, 2, 3, 4, 5]
    assert copy["acc_train"].is_monotonic_decreasing
    assert copy.iloc[0]["architecture"] == "transformer"
    top = copy.iloc[0]
    expected = synthetic.results().query(
        "task == 'copy' and architecture == 'transformer' and eval_seq_len == 256"
    )["accuracy"]
    assert top["acc_train"] == pytest.approx(expected.mean())
    assert top["acc_train_sd"] == pytest.approx(expected.std(ddof=1))
    needle = boards["needle"].set_index("architecture")
    assert needle.loc["transformer", "longest_status"] == "oom"
    assert np.isnan(needle.loc["transformer", "acc_longest"])
    # the diverged seed is counted, not averaged in
    selective = boards["selective_copy"].set_index("architecture")
    assert selective.loc["lstm", "seeds"] == "2/3"
    assert len(boards["mqar"]) == 10  # two widths per architecture


def test_cost_table_uses_the_longest_length_everyone_finished(results):
    table, source = tables.cost_table(results)
    assert "L=4K" in source
    table = table.set_index("architecture")
    assert list(table.index) == list(synthetic.ARCHITECTURES)
    assert table.loc["transformer", "first_failure"] == "8K"
    assert table.loc["transformer", "max_ok_len"] == 4096
    assert table.loc["lstm", "state_bytes"] == synthetic.state_bytes("lstm", 4096, 256, 4)


def test_cost_table_falls_back_to_eval_runs(results):
    table, source = tables.cost_table(results[results["row_kind"] == "eval"])
    assert "training length" in source and len(table) == 5


def _verdicts(frame: pd.DataFrame) -> dict[str, str]:
    return {claim.key: claim.verdict for claim in check_claims(frame)}


def test_claims_hold_on_the_synthetic_sweep(results):
    claims = {claim.key: claim for claim in check_claims(results)}
    # (f)-(i) need the generate, width and attention-memory sweeps (tests/bench/analysis)
    assert {k: c.verdict for k, c in claims.items()} == {
        **dict.fromkeys("abcde", HOLDS),
        **dict.fromkeys("fghi", UNKNOWN),
    }
    slope = re.search(r"L\^([\d.]+) \(([\d.]+)–([\d.]+)\)", claims["a"].evidence)
    value, low, high = (float(v) for v in slope.groups())
    assert 1.5 <= low <= value <= high  # decided by the whole interval
    assert "over L=1K, 2K, 4K (10 repeats each)" in claims["a"].evidence
    assert "out of memory from L=8K" in claims["a"].evidence
    assert "bootstrap over repeats" in claims["a"].method
    assert "transformer 2 MiB → 32 MiB (×16) over L=256→4K" in claims["c"].evidence
    assert "d_model=64" in claims["d"].evidence and "mamba" in claims["d"].evidence
    assert "3 seeds" in claims["d"].evidence


def _set_prefill(frame: pd.DataFrame, mask: pd.Series, seconds_at) -> None:
    """Prefill calls costing seconds_at(L) (2 % noise), and the throughput from them."""
    rng = np.random.default_rng(1)
    for index in frame.index[mask]:
        length = frame.at[index, "seq_len"]
        calls = seconds_at(length) * rng.lognormal(0.0, 0.02, 10)
        frame.at[index, "prefill_times_s"] = list(calls)
        frame.at[index, "prefill_tokens_per_s"] = 8 * length / np.median(calls)


def test_claims_fail_when_the_data_says_so(results):
    frame = results.copy()
    ok_cost = (frame["row_kind"] == "cost") & (frame["status"] == "ok")
    transformer, lstm = frame["architecture"] == "transformer", frame["architecture"] == "lstm"
    _set_prefill(frame, ok_cost & transformer, lambda length: 1e-6 * length)  # linear attention
    _set_prefill(
        frame, ok_cost & (frame["architecture"] == "rwkv"), lambda length: 1e-9 * length**2
    )
    # a recurrent block whose state grows
    length = frame["seq_len"].fillna(frame["eval_seq_len"])  # a cost row's, an eval row's
    frame.loc[lstm, "state_bytes"] = length[lstm] * 64.0
    # an attention-free block that solves MQAR at the small width
    mqar_mamba = (frame["task"] == "mqar") & (frame["architecture"] == "mamba")
    frame.loc[mqar_mamba, "accuracy"] = 0.99
    verdicts = _verdicts(frame)
    assert {k: verdicts[k] for k in "abcd"} == dict.fromkeys("abcd", FAILS)
    assert verdicts["e"] == HOLDS  # counted FLOPs, untouched by the timings changed here
    mqar = next(c for c in check_claims(frame) if c.key == "d")
    assert "attention solves it, and so does mamba" in mqar.evidence


def test_claims_from_results_without_per_call_times_say_so(results):
    old = results.drop(columns=["train_times_s", "prefill_times_s", "decode_times_s"])
    claims = {claim.key: claim for claim in check_claims(old)}
    assert "(medians only)" in claims["a"].evidence
    assert "no per-call times" in claims["a"].method
    assert "regression interval" in claims["b"].method


def test_claims_without_data_say_so(results):
    no_cost = results[(results["row_kind"] == "eval") & (results["task"] == "copy")]
    no_cost = no_cost[no_cost["eval_seq_len"] == 256]
    assert _verdicts(no_cost) == dict.fromkeys("abcdefghi", UNKNOWN)


def test_markdown_summary_has_leaderboards_and_claims(results):
    text = markdown_summary(results)
    for task in synthetic.TASKS:
        assert f"## {task}" in text
    assert "| rank | architecture |" in text
    assert "| 1 | transformer |" in text
    assert text.count("**holds**") == 5  # (a)-(e); (f)-(i) have no data here
    assert "- boundary: slope ≥ 1.5 at the longest lengths" in text
    assert "- interval: bootstrap over repeats" in text
    assert "OOM" in text  # transformer needle at 2K
    assert "±" in text


def test_report_with_missing_data_notes_what_was_skipped(results, tmp_path):
    subset = results[(results["task"] == "copy") & (results["seed"] < 2)]
    html = write_report(subset, None, tmp_path / "r.html", image_format="svg").read_text()
    images = IMAGE.findall(html)
    assert {kind for kind, _ in images} == {"svg+xml"} and len(images) == 2
    assert "Skipped needle heatmap: no needle rows." in html
    assert "Skipped sample efficiency: no training curves." in html
    assert "unknown (no data)" in html


@pytest.mark.parametrize("call", ["write_report", "markdown_summary"])
def test_empty_results_raise_plot_error(call, tmp_path):
    with pytest.raises(PlotError, match="empty"):
        if call == "write_report":
            write_report(pd.DataFrame(), None, tmp_path / "r.html")
        else:
            markdown_summary(pd.DataFrame())
    assert not (tmp_path / "r.html").exists()


def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if path := shutil.which(name):
            return path
    return None


@pytest.mark.skipif(_browser() is None, reason="no headless Chromium installed")
def test_report_renders_in_a_headless_browser(html_path, tmp_path):
    import matplotlib.image as mpimg

    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            _browser(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=1280,2400",
            f"--screenshot={shot}",
            html_path.resolve().as_uri(),
        ],
        check=True,
        timeout=60,
        capture_output=True,
    )
    image = mpimg.imread(shot)[..., :3]
    assert image.shape[0] >= 1000
    assert image.std() > 0.05  # text, tables and figures, not a blank page
    colours = np.unique((image * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 100
