"""Each task family's format: what it writes, where it scores, in worked examples."""

import pytest
import torch
from test_tasks import gen

import tasks
from tasks import IGNORE, TaskConfigError

# --- each family's format ------------------------------------------------------------------


def test_copy_repeats_the_string_and_scores_the_copy():
    task = tasks.create("copy", alphabet=5)
    batch = task.sample(3, 12, gen(1))
    assert task.render(batch.inputs[0]) == "BOS a e e d d SEP a e e d d"
    x = batch.inputs[:, 1:6]
    assert (batch.inputs[:, 0] == task.bos).all() and (batch.inputs[:, 6] == task.sep).all()
    assert torch.equal(batch.inputs[:, 7:], x)
    expected = torch.full((3, 12), IGNORE)
    expected[:, 6:11] = x  # SEP predicts x1, x_i predicts x_(i+1); the last x is unscored
    assert torch.equal(batch.targets, expected)
    odd = task.sample(2, 13, gen(1))
    assert (odd.inputs[:, -1] == task.pad).all() and (odd.targets[:, -1] == IGNORE).all()


def test_copy_with_min_len_varies_and_pads_each_string():
    task = tasks.create("copy", alphabet=5, min_len=2)
    assert task.min_seq_len == 6
    batch = task.sample(400, 22, gen(2))  # n in [2, 10]
    n = (batch.targets != IGNORE).sum(dim=1)
    assert n.min() == 2 and n.max() == 10
    for i in range(20):
        k, row, target = int(n[i]), batch.inputs[i], batch.targets[i]
        assert row[0] == task.bos and row[k + 1] == task.sep
        assert torch.equal(row[1 : k + 1], row[k + 2 : 2 * k + 2])
        assert (row[2 * k + 2 :] == task.pad).all() and (row[1 : 2 * k + 2] != task.pad).all()
        assert torch.equal(target[k + 1 : 2 * k + 1], row[1 : k + 1])
    assert task.render(batch.inputs[3]) == "BOS a b b b b a e b SEP a b b b b a e b PAD PAD PAD PAD"


def test_selective_copy_scatters_data_in_noise_then_asks_with_markers():
    task = tasks.create("selective_copy", n_tokens=3, vocab_size=10)
    batch = task.sample(64, 14, gen(1))
    assert task.render(batch.inputs[0]) == "· · 6 4 · · · 5 · · · ▸ ▸ ▸"
    region, markers = batch.inputs[:, :11], batch.inputs[:, 11:]
    assert (markers == task.marker).all()
    data_mask = region != task.noise
    assert (data_mask.sum(dim=1) == 3).all()
    data = region[data_mask].view(64, 3)  # in order of position
    assert ((data >= 1) & (data <= 8)).all()
    assert (batch.targets[:, :11] == IGNORE).all() and torch.equal(batch.targets[:, 11:], data)
    # All data tokens adjacent at the shortest length.
    assert (task.sample(4, 6, gen()).inputs[:, :3] != task.noise).all()


def test_mqar_pairs_then_queries_every_key_once():
    task = tasks.create("mqar", vocab_size=64, n_pairs=4)
    batch = task.sample(200, 40, gen(3))
    keys, values = batch.inputs[:, 0:8:2], batch.inputs[:, 1:8:2]
    assert ((keys >= 1) & (keys < 32)).all() and ((values >= 32) & (values < 64)).all()
    assert (keys.sort(dim=1).values.diff(dim=1) > 0).all(), "keys distinct"
    assert (values.sort(dim=1).values.diff(dim=1) > 0).all(), "values distinct"
    scored = batch.targets != IGNORE
    assert (scored.sum(dim=1) == 4).all() and not scored[:, :8].any()
    positions = scored.nonzero()[:, 1].view(200, 4)
    assert ((positions - 8) % 2 == 0).all(), "queries sit at even offsets after the pairs"
    queried = batch.inputs[scored].view(200, 4)
    answers = batch.targets[scored].view(200, 4)
    assert torch.equal(queried.sort(dim=1).values, keys.sort(dim=1).values)
    # The target at each query is the value bound to that key.
    lookup = torch.zeros(200, 64, dtype=torch.long).scatter_(1, keys, values)
    assert torch.equal(answers, lookup.gather(1, queried))


def test_mqar_defaults_follow_the_zoology_sweep_and_power_law():
    task = tasks.create("mqar")
    for seq_len, k in [(64, 4), (128, 8), (256, 16), (1024, 64)]:
        assert ((task.sample(2, seq_len, gen()).targets != IGNORE).sum(dim=1) == k).all()

    # a = 0.01: most queries come soon after the pairs; a = 1 spreads them uniformly.
    def mean_gap(power_a):
        batch = tasks.create("mqar", vocab_size=512, n_pairs=4, power_a=power_a).sample(
            500, 512, gen()
        )
        positions = (batch.targets != IGNORE).nonzero()[:, 1]
        return ((positions - 8) // 2).float().mean().item()

    # 252 slots: the power law's mean gap is ≈ 252 / H(252) ≈ 41; uniform's is 125.5.
    assert 30 < mean_gap(0.01) < 60 and 115 < mean_gap(1.0) < 135
    with pytest.raises(TaskConfigError, match=r"seq_len=1024 gives n_pairs=64.*seq_len <= 511"):
        tasks.create("mqar", vocab_size=64).sample(2, 1024, gen())


def test_induction_ends_with_the_trigger_and_scores_only_the_last_token():
    task = tasks.create("induction")
    batch = task.sample(300, 12, gen(1))
    assert task.render(batch.inputs[0]) == "◆ 14 9 8 13 13 11 11 14 12 8 ◆"
    is_trigger = batch.inputs == task.trigger
    assert (is_trigger.sum(dim=1) == 2).all() and is_trigger[:, -1].all()
    first = is_trigger.int().argmax(dim=1)
    assert first.max() <= 9 and first.min() == 0
    assert (batch.targets[:, :-1] == IGNORE).all()
    assert torch.equal(batch.targets[:, -1], batch.inputs[torch.arange(300), first + 1])


def test_needle_places_the_passkey_at_the_requested_depth():
    task = tasks.create("needle", n_digits=3, filler_vocab=3)
    assert task.min_seq_len == 7
    L, m = 20, 3  # haystack = 17 positions, needle starts in [0, 13]
    for depth, start in [(0.0, 0), (0.5, 7), (1.0, 13), (0.25, 3)]:
        batch = task.sample(4, L, gen(), depth=depth)
        assert (batch.inputs[:, start] == task.key).all()
        assert (batch.inputs == task.key).sum() == 4
        digits = batch.inputs[:, start + 1 : start + 1 + m]
        assert (batch.inputs[:, L - m] == task.query).all()
        assert torch.equal(batch.inputs[:, L - m + 1 :], digits[:, :-1])
        assert (batch.targets[:, : L - m] == IGNORE).all()
        assert torch.equal(batch.targets[:, L - m :], digits)
    row = task.sample(1, L, gen(1), depth=1.0).inputs[0]
    assert task.render(row) == "f f f f f f f f f f f f f K 0 3 6 Q 0 3"
    random_starts = (task.sample(500, L, gen()).inputs == task.key).int().argmax(dim=1)
    assert random_starts.min() == 0 and random_starts.max() == 13
    with pytest.raises(TaskConfigError, match=r"depth=1.5 must be a number in \[0, 1\]"):
        task.sample(2, L, gen(), depth=1.5)


def test_mqar_zero_filler_leaves_only_pairs_and_queries():
    task = tasks.create("mqar", vocab_size=64, random_filler=False)
    batch = task.sample(4, 64, torch.Generator().manual_seed(0))
    scored = batch.targets != -100
    k = task.n_pairs(64)
    assert (batch.inputs[:, : 2 * k] != 0).all()  # the pairs
    rest = batch.inputs[:, 2 * k :]
    assert ((rest == 0) | scored[:, 2 * k :]).all()  # filler is 0 except at the queried keys
    assert int(scored.sum()) == 4 * k
    with pytest.raises(tasks.TaskConfigError, match="random_filler='no' must be true or false"):
        tasks.create("mqar", random_filler="no")
