"""Set disjointness: one shared token, the order asked for, the answer at the end."""

import hashlib

import pytest
import torch

import tasks
from tasks import IGNORE, Batch, TaskConfigError, score, set_disjointness

# The seeds of the harness's evaluation and validation sets are the run's seed plus these
# offsets (bench/train.py, _SPLIT_SEEDS); the training batches use the run's seed itself.
EVAL_OFFSET, VAL_OFFSET = 1_000_003, 2_000_003

CONFIGS = [
    {},  # the defaults: 4 and 16 of 2048
    {"small_size": 1, "large_size": 1, "vocab_size": 5},  # the shared token is all there is
    {"small_size": 3, "large_size": 3, "vocab_size": 40, "small_first": False},
    {"small_size": 2, "large_size": 5, "vocab_size": 10},  # every set token in use
    {"small_size": 5, "large_size": 30, "vocab_size": 64, "small_first": False},
]


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def split(task, batch: Batch):
    """The two sets of every example, in the order they appear: (n, first), (n, second)."""
    small, large = task.config.small_size, task.config.large_size
    first_k, second_k = (small, large) if task.config.small_first else (large, small)
    start = batch.inputs.shape[1] - (small + large + 3)  # the BOS
    first = batch.inputs[:, start + 1 : start + 1 + first_k]
    second = batch.inputs[:, start + 2 + first_k : start + 2 + first_k + second_k]
    return start, first, second


def config_id(config: dict) -> str:
    return "-".join(f"{k}={v}" for k, v in config.items()) or "defaults"


@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_two_sets_share_exactly_one_token_and_it_is_the_target(config):
    task = tasks.create("set_disjointness", **config)
    for seq_len in (task.min_seq_len, task.min_seq_len + 5, 64):
        batch = task.sample(500, seq_len, gen(seq_len))
        start, first, second = split(task, batch)
        inputs = batch.inputs
        assert (inputs[:, :start] == task.pad).all(), "padding before BOS only"
        assert (inputs[:, start] == task.bos).all()
        assert (inputs[:, start + 1 + first.shape[1]] == task.sep).all()
        assert (inputs[:, -1] == task.ans).all()
        for members in (first, second):
            assert (members >= 4).all() and (members < task.vocab_size).all()
            assert (members.sort(dim=1).values.diff(dim=1) > 0).all(), "distinct in a set"
        same = first[:, :, None] == second[:, None, :]  # (n, first, second)
        assert (same.sum(dim=(1, 2)) == 1).all(), "exactly one shared token"
        shared = (first * same.any(dim=2)).sum(dim=1)  # the one member of first found in second
        assert torch.equal(batch.targets[:, -1], shared)
        assert (batch.targets[:, :-1] == IGNORE).all(), "only the answer is scored"


@pytest.mark.parametrize("small_first", [True, False])
def test_the_small_set_comes_first_iff_small_first(small_first):
    task = tasks.create("set_disjointness", small_size=3, large_size=7, small_first=small_first)
    batch = task.sample(50, 40, gen())
    sep_at = (batch.inputs == task.sep).int().argmax(dim=1)
    bos_at = (batch.inputs == task.bos).int().argmax(dim=1)
    first_size = 3 if small_first else 7
    assert (sep_at - bos_at - 1 == first_size).all()
    assert ((batch.inputs == task.sep).sum(dim=1) == 1).all()


def test_the_shared_token_sits_anywhere_in_either_set():
    task = tasks.create("set_disjointness", small_size=3, large_size=5)
    batch = task.sample(6000, task.min_seq_len, gen())
    _, first, second = split(task, batch)
    answer = batch.targets[:, -1:]
    for members in (first, second):
        where = (members == answer).int().argmax(dim=1)
        counts = torch.bincount(where, minlength=members.shape[1]).float()
        expected = 6000 / members.shape[1]
        assert counts.min() > 0.85 * expected and counts.max() < 1.15 * expected


def test_worked_examples_in_the_docstring():
    for small_first, seed, text, answer in [
        (True, 1, "· · BOS 9 7 SEP 4 8 7 ANS", 7),
        (False, 0, "· · BOS 11 9 4 SEP 8 11 ANS", 11),
    ]:
        task = tasks.create(
            "set_disjointness", small_size=2, large_size=3, vocab_size=12, small_first=small_first
        )
        batch = task.sample(1, 10, gen(seed))
        assert task.render(batch.inputs[0]) == text
        assert batch.targets[0].tolist() == [IGNORE] * 9 + [answer]
        assert text in set_disjointness.__doc__


# --- seeds: determinism and no leakage between the harness's sets ----------------------------


def test_sampling_is_deterministic_for_a_generator():
    task = tasks.create("set_disjointness")
    a, b, c = (task.sample(64, 40, gen(seed)) for seed in (3, 3, 4))
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)
    assert not torch.equal(a.inputs, c.inputs)


def digest(batch: Batch) -> str:
    data = batch.inputs.numpy().tobytes() + batch.targets.numpy().tobytes()
    return hashlib.sha256(data).hexdigest()[:16]


def test_batches_match_the_pinned_digest():
    """As tests/test_tasks.py pins every task: a change here changes published numbers."""
    assert digest(tasks.create("set_disjointness").sample(16, 128, gen(0))) == "c394fa5354769f09"


@pytest.mark.parametrize("run_seed", [0, 1])
def test_training_validation_and_evaluation_sets_share_no_example(run_seed):
    task = tasks.create("set_disjointness")
    streams = [run_seed, EVAL_OFFSET + run_seed, VAL_OFFSET + run_seed]
    for seq_len in (task.min_seq_len, 64):
        rows = torch.cat([task.sample(2000, seq_len, gen(seed)).inputs for seed in streams])
        assert rows.unique(dim=0).shape[0] == rows.shape[0], "an example repeats across sets"


# --- config, vocabulary and length ----------------------------------------------------------


def test_registered_with_the_papers_defaults():
    assert "set_disjointness" in tasks.names()
    assert tasks.config_fields("set_disjointness") == {
        "small_size": 4,
        "large_size": 16,
        "vocab_size": 2048,
        "small_first": True,
    }
    task = tasks.create("set_disjointness")
    assert task.vocab_size == 2048  # the 4 special tokens included
    assert task.min_seq_len == 4 + 16 + 3  # BOS, SEP, ANS
    assert task.sample_args() == {}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"small_size": 5, "large_size": 4}, "small_size=5 must be at most large_size=4"),
        ({"small_size": 0}, "small_size=0 must be an integer >= 1"),
        ({"large_size": 2.0}, "large_size=2.0 must be an integer >= 1"),
        ({"vocab_size": True}, "vocab_size=True must be an integer"),
        (
            {"small_size": 3, "large_size": 6, "vocab_size": 11},
            r"vocab_size=11 must be at least 12: 4 special tokens and the "
            r"small_size \+ large_size - 1 = 8 distinct set tokens",
        ),
        ({"small_first": "yes"}, "small_first='yes' must be true or false"),
    ],
    ids=["small>large", "empty-set", "float-size", "bool-vocab", "vocab-too-small", "flag"],
)
def test_bad_configs_name_field_value_and_rule(config, message):
    with pytest.raises(TaskConfigError, match=message):
        tasks.create("set_disjointness", **config)


def test_the_smallest_vocabulary_is_enough():
    """3 + 6 - 1 = 8 distinct tokens need the 8 members 4 … 11: each example uses them all."""
    task = tasks.create("set_disjointness", small_size=3, large_size=6, vocab_size=12)
    _, first, second = split(task, task.sample(200, task.min_seq_len, gen()))
    union = torch.cat([first, second], dim=1).sort(dim=1).values  # (n, 9): one token twice
    assert ((union[:, :, None] == torch.arange(4, 12)).any(dim=1)).all()


# --- the task contract of tests/test_tasks.py, for this task ----------------------------------


def test_batches_have_the_contract_shape_range_and_scored_positions():
    task = tasks.create("set_disjointness", small_size=2, large_size=4, vocab_size=16)
    m = task.min_seq_len
    for seq_len in (m, m + 3, 64, 256):
        batch = task.sample(8, seq_len, gen())
        for t in (batch.inputs, batch.targets):
            assert t.shape == (8, seq_len) and t.dtype == torch.long and t.is_contiguous()
        assert batch.inputs.min() >= 0 and batch.inputs.max() < task.vocab_size
        scored = batch.targets != IGNORE
        assert (scored.sum(dim=1) == 1).all()
        assert batch.targets[scored].min() >= 0
        assert batch.targets[scored].max() < task.vocab_size
        assert score(batch.targets, batch.targets) == (1.0, 1.0)


def test_lengths_are_checked_and_long_ones_keep_the_format():
    task = tasks.create("set_disjointness")
    with pytest.raises(TaskConfigError, match="seq_len=22 must be an integer >= 23"):
        task.sample(2, 22, gen())
    batch = task.sample(2, 2048, gen())
    assert ((batch.targets != IGNORE).sum(dim=1) == 1).all()
    assert (batch.inputs[:, : 2048 - 23] == task.pad).all()


def test_no_answer_leaks_to_trivial_predictors():
    task = tasks.create("set_disjointness")
    batch = task.sample(256, 128, gen())
    scored = batch.targets[batch.targets != IGNORE]
    majority = torch.full_like(batch.targets, int(scored.mode().values))
    for accuracy, exact in (score(batch.inputs, batch.targets), score(majority, batch.targets)):
        assert accuracy < 0.15 and exact < 0.15
