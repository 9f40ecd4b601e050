"""A language model in the results: selection on validation bits per byte, corpus digests
that never share a cell, the leaderboard in bits per byte, and the recall slice's gap."""

import _synthetic_results as synthetic
import pytest

from bench.analysis import lm, tables
from bench.report.markdown import main_job_table, markdown_summary
from bench.store import cells


@pytest.fixture(scope="module")
def text():
    return synthetic.text_results()


def test_selection_keeps_the_lr_with_the_lowest_validation_bits_per_byte(text):
    frame = text.copy()
    # make the validation score and the test score disagree: validation must decide
    low_lr = frame["train.lr"] == 1e-3
    frame.loc[low_lr, "val_bits_per_byte"] = 1.0
    frame.loc[low_lr, "val_accuracy"] = 0.0  # accuracy would pick the other one
    prepared = cells.prepare(frame)
    assert set(prepared["selected"]) == {"lr=0.001"}
    table = cells.selections(frame)
    assert set(table["metric"]) == {"val_bits_per_byte"}
    chosen = table[table["chosen"]]
    assert (chosen["score"] == 1.0).all() and len(chosen) == 5
    assert "val bpb 1.000" in markdown_summary(frame)


def test_runs_that_read_different_corpora_are_never_one_cell(text):
    frame = text[text["architecture"] == "mamba"].copy()
    frame.loc[frame["seed"] == 2, "corpus_sha256"] = "f" * 64
    board = tables.leaderboard(frame)["text"]
    assert len(board) == 2
    assert set(board["variant"]) == {f"corpus={synthetic.CORPUS_SHA256[:7]}", "corpus=fffffff"}
    assert sorted(board["seeds"]) == ["1/1", "2/2"]


def test_the_leaderboard_ranks_text_by_bits_per_byte(text):
    board = tables.leaderboard(text)["text"]
    assert list(board["architecture"]) == ["transformer", "mamba", "rwkv", "monarch", "lstm"]
    assert board["bpb_train"].is_monotonic_increasing
    assert set(board["selected"]) == {"lr=0.003"}
    assert (board["last_bucket"] == "256-511").all()
    assert (board["first_bucket_bpb"] > board["last_bucket_bpb"]).all()
    shown = tables.board_display(board)
    for column in ("bpb @ train L", "bpb @ L=2K", "recall-slice bpb", "other bpb"):
        assert column in shown
    assert "bpb @ pos 0-63" in shown and "bpb @ pos 256-511" in shown
    assert "exact match @ train L" not in shown
    assert "bpb" in main_job_table(text)


def test_the_gap_to_attention_splits_exactly_into_its_two_slices(text):
    gaps = lm.recall_gap(cells.prepare(text)).set_index("architecture")
    assert gaps.loc["transformer", "gap"] == pytest.approx(0.0)
    for arch in ("lstm", "rwkv", "monarch", "mamba"):
        row = gaps.loc[arch]
        board = tables.leaderboard(text)["text"].set_index("architecture")
        expected = board.loc[arch, "bpb_train"] - board.loc["transformer", "bpb_train"]
        assert row["gap"] == pytest.approx(expected)
        assert row["recall_gap"] + row["other_gap"] == pytest.approx(row["gap"])
        assert 0 < row["recall_share"] < 1


def test_position_table_is_long_form_with_bucket_bounds(text):
    table = lm.position_table(cells.prepare(text))
    at_long = table[table["eval_seq_len"] == 2048]
    assert sorted(at_long["bucket"].unique()) == ["0-63", "1024-2047", "256-1023", "64-255"]
    first = at_long[at_long["bucket"] == "1024-2047"].iloc[0]
    assert (first["bucket_start"], first["bucket_stop"]) == (1024, 2048)
    assert lm.position_table(synthetic.results(cost=False)).empty  # no text, no rows


def test_rank_agreement_compares_the_text_order_with_the_synthetic_one(text):
    agreement = lm.rank_agreement(text, synthetic.results(cost=False))
    order = ["transformer", "mamba", "rwkv", "monarch", "lstm"]
    assert agreement["text_order"] == order == agreement["synthetic_order"]
    assert agreement["n"] == 5 and agreement["rho"] == pytest.approx(1.0)
    reversed_text = text.assign(bits_per_byte=-text["bits_per_byte"])
    assert lm.rank_agreement(reversed_text, synthetic.results(cost=False))["rho"] == pytest.approx(
        -1
    )
