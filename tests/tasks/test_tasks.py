"""Tasks: the contract for every registered task, each family's format, metrics, errors."""

import hashlib
from dataclasses import dataclass

import pytest
import torch

import tasks
from tasks import IGNORE, Batch, Task, TaskConfig, TaskConfigError, score
from tasks.base import distinct

NAMES = tasks.available()
# Small configs keep examples hand-readable and the suite fast.
SMALL = {
    "copy": {"alphabet": 5},
    "selective_copy": {"n_tokens": 4, "vocab_size": 8},
    "mqar": {"vocab_size": 64, "n_pairs": 4},
    "set_disjointness": {"small_size": 2, "large_size": 4, "vocab_size": 16},
    "text": {},
    "induction": {},
    "needle": {"n_digits": 3, "filler_vocab": 4},
}


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def lengths_for(task: Task) -> list[int]:
    """The shortest length, an odd one, a training-like one and a 4x extrapolation."""
    m = task.min_seq_len
    return [m, m + 3, 64, 256]


# --- registry and configs ----------------------------------------------------------------


def test_the_task_families_are_registered():
    assert NAMES == [
        "copy",
        "induction",
        "mqar",
        "needle",
        "selective_copy",
        "set_disjointness",
        "text",
    ]
    for name in NAMES:
        assert tasks.get(name).name == name
        assert tasks.create(name).name == name


def test_defaults_are_the_papers_settings():
    assert tasks.config_fields("copy") == {"alphabet": 26, "min_len": None}
    assert tasks.config_fields("selective_copy") == {"n_tokens": 16, "vocab_size": 16}
    assert tasks.config_fields("mqar") == {
        "vocab_size": 8192,
        "n_pairs": None,
        "power_a": 0.01,
        "random_filler": True,
        "question_first": False,
    }
    assert tasks.config_fields("induction") == {"vocab_size": 16}
    assert tasks.config_fields("needle")["n_digits"] == 5
    assert tasks.create("copy").vocab_size == 29  # 26 letters + BOS, SEP, PAD
    assert tasks.create("selective_copy").vocab_size == 16
    assert tasks.create("mqar").vocab_size == 8192
    assert tasks.create("induction").vocab_size == 16


def test_unknown_task_lists_the_valid_names():
    with pytest.raises(TaskConfigError, match="unknown task 'cpy'") as error:
        tasks.create("cpy")
    assert all(name in str(error.value) for name in NAMES)
    assert isinstance(error.value, ValueError)


def test_unknown_setting_names_the_key_and_the_valid_ones():
    with pytest.raises(TaskConfigError, match=r"no setting 'n_keys'.*vocab_size, n_pairs, power_a"):
        tasks.create("mqar", n_keys=4)


@pytest.mark.parametrize(
    ("name", "config", "message"),
    [
        ("copy", {"alphabet": 1}, "alphabet=1 must be an integer >= 2"),
        ("copy", {"min_len": 0}, "min_len=0 must be an integer >= 1 or None"),
        ("copy", {"alphabet": True}, "alphabet=True must be"),
        ("selective_copy", {"n_tokens": 0}, "n_tokens=0 must"),
        ("selective_copy", {"vocab_size": 2}, "vocab_size=2 must be an integer >= 3"),
        ("mqar", {"n_pairs": 40, "vocab_size": 64}, "n_pairs=40 must be at most 31"),
        ("mqar", {"power_a": 0}, "power_a=0 must be a positive number"),
        ("mqar", {"vocab_size": 100.0}, "vocab_size=100.0 must be an integer"),
        ("induction", {"vocab_size": 2}, "vocab_size=2 must"),
        ("needle", {"n_digits": 0}, "n_digits=0 must"),
        ("needle", {"depths": [0.5, 1.5]}, r"depths=\(0.5, 1.5\) must be a non-empty list"),
        ("needle", {"depths": []}, "must be a non-empty list"),
    ],
    ids=lambda v: v if isinstance(v, str) and " " not in v else None,
)
def test_bad_values_name_field_value_and_rule(name, config, message):
    with pytest.raises(TaskConfigError, match=message):
        tasks.create(name, **config)


def test_configs_are_frozen_and_needle_depths_hashable():
    task = tasks.create("needle", depths=[0, 1])  # lists come from TOML / JSON
    assert task.config.depths == (0, 1)
    assert hash(task.config)
    with pytest.raises(AttributeError):
        task.config.n_digits = 7


def test_register_rejects_non_tasks_and_taken_names():
    with pytest.raises(TypeError, match="expects a Task subclass"):
        tasks.register("thing")(object)
    with pytest.raises(TaskConfigError, match="task name 'copy' is taken"):

        @tasks.register("copy")
        class Other(Task):
            pass


def test_a_new_task_is_one_registered_class():
    @dataclass(frozen=True)
    class CountConfig(TaskConfig):
        step: int = 1

    @tasks.register("_count_test")
    class Count(Task):
        Config = CountConfig
        vocab_size = 1000
        min_seq_len = 2

        def _generate(self, n, seq_len, generator):
            inputs = torch.arange(seq_len).repeat(n, 1) * self.config.step
            return inputs, torch.cat([inputs[:, 1:], torch.full((n, 1), IGNORE)], dim=1)

    try:
        batch = tasks.create("_count_test", step=2).sample(2, 5, gen())
        assert batch.inputs[0].tolist() == [0, 2, 4, 6, 8]
        assert "_count_test" in tasks.available()
    finally:
        tasks.registry.REGISTRY.entries.pop("_count_test")


# --- the contract, for every task ----------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_batches_have_the_contract_shape_range_and_scored_positions(name):
    task = tasks.create(name, **SMALL[name])
    for seq_len in lengths_for(task):
        batch = task.sample(8, seq_len, gen())
        assert isinstance(batch, Batch) and len(batch) == 8
        for t in (batch.inputs, batch.targets):
            assert t.shape == (8, seq_len) and t.dtype == torch.long
        assert batch.inputs.min() >= 0 and batch.inputs.max() < task.vocab_size
        scored = batch.targets != IGNORE
        assert (scored.sum(dim=1) >= 1).all(), "every example is scored somewhere"
        assert batch.targets[scored].min() >= 0
        assert batch.targets[scored].max() < task.vocab_size
        # An oracle scores 1; one wrong token per example breaks exact match.
        assert score(batch.targets, batch.targets) == (1.0, 1.0)


@pytest.mark.parametrize("name", NAMES)
def test_sampling_is_deterministic_for_a_seed(name):
    task = tasks.create(name)
    a, b, c = (task.sample(4, 300, gen(seed)) for seed in (7, 7, 8))
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)
    assert not torch.equal(a.inputs, c.inputs)


# The same seed must give the same batch on any machine: these digests pin the batches
# of torch's CPU generator (a change here changes every published number).
GOLDEN = {
    "copy": "e42e11b168e9585e",
    "induction": "c43265f7945ccfa7",
    "mqar": "ff3006a2fe1c19d2",
    "needle": "7d90f0cd4575da22",
    "selective_copy": "0deb8385320245ce",
    "set_disjointness": "c394fa5354769f09",
    # text: its default corpus is this Python's standard library, so its batches differ
    # between Python versions by design; tests/tasks/test_text.py pins a generated corpus.
}


def digest(batch: Batch) -> str:
    data = batch.inputs.numpy().tobytes() + batch.targets.numpy().tobytes()
    return hashlib.sha256(data).hexdigest()[:16]


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_batches_match_the_pinned_digest(name):
    assert digest(tasks.create(name).sample(16, 128, gen(0))) == GOLDEN[name]


@pytest.mark.parametrize("name", NAMES)
def test_too_short_a_sequence_names_the_length_and_the_limit(name):
    task = tasks.create(name)
    with pytest.raises(
        TaskConfigError,
        match=f"seq_len={task.min_seq_len - 1} must be an integer >= {task.min_seq_len}",
    ):
        task.sample(2, task.min_seq_len - 1, gen())


@pytest.mark.parametrize("name", NAMES)
def test_bad_sampling_requests_are_errors(name):
    task = tasks.create(name)
    with pytest.raises(TaskConfigError, match="no sampling argument 'speed'"):
        task.sample(2, 64, gen(), speed=1)
    with pytest.raises(TaskConfigError, match="n=0 must be a positive integer"):
        task.sample(0, 64, gen())
    with pytest.raises(TaskConfigError, match="must be a CPU torch\\.Generator"):
        task.sample(2, 64, None)


@pytest.mark.parametrize("name", [n for n in NAMES if n != "text"])
def test_no_answer_leaks_to_trivial_predictors(name):
    """Echoing the input token, or always the commonest target, scores near chance.
    (Not text: predicting the commonest byte, a space, is right 1 time in 5 in real text.)"""
    task = tasks.create(name)
    batch = task.sample(256, 128, gen())
    echo = score(batch.inputs, batch.targets)
    scored = batch.targets[batch.targets != IGNORE]
    majority = score(torch.full_like(batch.targets, int(scored.mode().values)), batch.targets)
    for accuracy, exact in (echo, majority):
        assert accuracy < 0.15 and exact < 0.15


def test_sample_args_are_the_needle_depth_grid_only():
    assert tasks.create("needle").sample_args() == {"depth": [0.0, 0.25, 0.5, 0.75, 1.0]}
    assert tasks.create("needle", depths=[0, 1]).sample_args() == {"depth": [0.0, 1.0]}
    assert all(tasks.create(name).sample_args() == {} for name in NAMES if name != "needle")


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


@pytest.mark.parametrize("name", NAMES)
def test_extrapolation_lengths_keep_the_format(name):
    """Long lengths use the same code path: the scored count follows the rule of the task."""
    task = tasks.create(name)
    batch = task.sample(2, 2048, gen())
    expected = {
        "copy": 1023,
        "selective_copy": 16,
        "mqar": 128,
        "induction": 1,
        "needle": 5,
        "set_disjointness": 1,
        "text": 2048,
    }
    assert ((batch.targets != IGNORE).sum(dim=1) == expected[name]).all()


# --- metrics and helpers -------------------------------------------------------------------


def test_score_counts_tokens_and_whole_examples():
    targets = torch.tensor([[IGNORE, 1, 2], [IGNORE, IGNORE, 3], [4, 4, IGNORE]])
    predictions = torch.tensor([[0, 1, 2], [9, 9, 0], [4, 0, 7]])
    assert score(predictions, targets) == (3 / 5, 1 / 3)
    logits = torch.nn.functional.one_hot(predictions, 10).float()  # (n, L, V)
    assert score(logits, targets) == (3 / 5, 1 / 3)
    with pytest.raises(TaskConfigError, match="must match targets"):
        score(predictions[:, :2], targets)
    with pytest.raises(TaskConfigError, match="no scored position"):
        score(predictions, torch.full_like(targets, IGNORE))


def test_distinct_draws_are_uniform_ordered_subsets():
    for population, k in [(6, 3), (5, 4)]:  # the redraw path, then the top-k path
        draws = distinct(60_000, population, k, gen())
        assert (draws.sort(dim=1).values.diff(dim=1) > 0).all()
        codes = (draws * population ** torch.arange(k)).sum(dim=1)
        counts = torch.bincount(codes)[torch.bincount(codes) > 0]
        n_outcomes = torch.arange(population - k + 1, population + 1).prod().item()
        assert counts.numel() == n_outcomes
        expected = 60_000 / n_outcomes
        assert counts.min() > 0.7 * expected and counts.max() < 1.3 * expected


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
