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
    assert tasks.config_fields("induction") == {"vocab_size": 16, "distance": None}
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
