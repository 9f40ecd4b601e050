"""Induction's distance option: the answer exactly `distance` back, defaults unchanged."""

import hashlib

import pytest
import torch

import tasks
from tasks import IGNORE, Batch, TaskConfigError, induction

EVAL_OFFSET, VAL_OFFSET = 1_000_003, 2_000_003  # bench/run/train.py, _SPLIT_SEEDS


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def digest(batch: Batch) -> str:
    data = batch.inputs.numpy().tobytes() + batch.targets.numpy().tobytes()
    return hashlib.sha256(data).hexdigest()[:16]


def test_without_a_distance_the_batches_are_the_pinned_ones():
    # The digest tests/tasks/test_tasks.py pins, from before the option existed.
    assert digest(tasks.create("induction").sample(16, 128, gen(0))) == "c43265f7945ccfa7"
    again = tasks.create("induction", distance=None).sample(16, 128, gen(0))
    assert digest(again) == "c43265f7945ccfa7"


@pytest.mark.parametrize("distance", [1, 2, 7, 30, 126])
@pytest.mark.parametrize("extra", [0, 1, 50], ids=lambda e: f"L=d+2+{e}")
def test_the_answer_lies_exactly_distance_before_the_final_trigger(distance, extra):
    task = tasks.create("induction", distance=distance)
    seq_len = distance + 2 + extra
    assert task.min_seq_len == distance + 2
    batch = task.sample(200, seq_len, gen(distance + extra))
    trigger = task.trigger
    is_trigger = batch.inputs == trigger
    assert (is_trigger.sum(dim=1) == 2).all(), "the trigger appears twice, nowhere else"
    assert is_trigger[:, -1].all() and is_trigger[:, seq_len - 2 - distance].all()
    answer_at = seq_len - 1 - distance  # distance t − s with t the last position
    assert torch.equal(batch.targets[:, -1], batch.inputs[:, answer_at])
    assert (batch.targets[:, :-1] == IGNORE).all()
    assert (batch.inputs[~is_trigger] < trigger).all()


def test_the_answer_and_the_gap_are_uniform_random_tokens():
    task = tasks.create("induction", distance=5)
    batch = task.sample(15_000, 12, gen())
    counts = torch.bincount(batch.targets[:, -1], minlength=15).float()
    assert counts.numel() == 15 and counts.min() > 0.85 * 1000 and counts.max() < 1.15 * 1000
    # A gap token equals the answer as often as chance says: no hint of where it is.
    gap = batch.inputs[:, 7:-1]  # the distance - 1 tokens between answer and final trigger
    same = (gap == batch.targets[:, -1:]).float().mean()
    assert abs(same.item() - 1 / 15) < 0.01


def test_worked_example_in_the_docstring():
    task = tasks.create("induction", distance=4)
    batch = task.sample(1, 10, gen(4))
    text = "10 9 1 8 ◆ 11 14 1 12 ◆"
    assert task.render(batch.inputs[0]) == text
    assert batch.targets[0].tolist() == [IGNORE] * 9 + [11]
    assert text in induction.__doc__


def test_longer_lengths_keep_the_distance_and_seeds_do_not_share_examples():
    task = tasks.create("induction", distance=6, vocab_size=64)
    for seq_len in (8, 64, 256):
        batch = task.sample(4, seq_len, gen())
        assert torch.equal(batch.targets[:, -1], batch.inputs[:, seq_len - 7])
    rows = torch.cat(
        [task.sample(3000, 24, gen(seed)).inputs for seed in (0, EVAL_OFFSET, VAL_OFFSET)]
    )
    assert rows.unique(dim=0).shape[0] == rows.shape[0]


@pytest.mark.parametrize(
    ("config", "seq_len", "message"),
    [
        ({"distance": 0}, 10, "distance=0 must be an integer >= 1 or None"),
        ({"distance": 2.0}, 10, "distance=2.0 must be an integer >= 1 or None"),
        ({"distance": 9}, 10, "seq_len=10 must be an integer >= 11"),
    ],
    ids=["zero", "float", "too-short"],
)
def test_bad_distances_name_the_value_and_the_rule(config, seq_len, message):
    with pytest.raises(TaskConfigError, match=message):
        tasks.create("induction", **config).sample(2, seq_len, gen())
