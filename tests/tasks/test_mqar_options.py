"""MQAR's options: the question first (JRT), K drawn per example, and defaults unchanged."""

import hashlib
import json
import tomllib

import pytest
import torch

import tasks
from tasks import IGNORE, Batch, TaskConfigError, mqar, score


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def digest(batch: Batch) -> str:
    data = batch.inputs.numpy().tobytes() + batch.targets.numpy().tobytes()
    return hashlib.sha256(data).hexdigest()[:16]


def example(config: dict, n: int, seq_len: int, seed: int) -> Batch:
    return tasks.create("mqar", **config).sample(n, seq_len, gen(seed))


# --- the defaults make today's batches, bit for bit ------------------------------------------

# (config, n, seq_len, seed, digest), the digests computed with tasks/mqar.py as it was
# before question_first and ranges of n_pairs (commit b00be7d); the first is test_tasks'.
BEFORE = [
    ({}, 16, 128, 0, "ff3006a2fe1c19d2"),
    ({}, 4, 1024, 5, "409ca3f7ea40c1ee"),
    ({"vocab_size": 64, "n_pairs": 4}, 32, 40, 3, "569a414445bb9518"),
    ({"vocab_size": 64, "n_pairs": 4}, 8, 257, 1, "c6e36bb9dee91348"),
    ({"vocab_size": 512, "n_pairs": 8, "power_a": 1.0}, 16, 300, 2, "2c5fe39102737be2"),
    ({"vocab_size": 64, "random_filler": False}, 8, 64, 0, "0d77e1c881d9d773"),
    ({"n_pairs": 3}, 64, 12, 7, "6f6ebf6be7951f32"),
    ({"vocab_size": 16, "n_pairs": 7}, 64, 28, 9, "1fb7f5442e0e7471"),
]


@pytest.mark.parametrize(
    ("config", "n", "seq_len", "seed", "expected"),
    BEFORE,
    ids=[
        f"{'-'.join(f'{k}={v}' for k, v in c.items()) or 'defaults'}-L={L}"
        for c, _, L, *_ in BEFORE
    ],
)
def test_default_options_reproduce_the_batches_made_before_them(config, n, seq_len, seed, expected):
    assert digest(example(config, n, seq_len, seed)) == expected
    assert digest(example({**config, "question_first": False}, n, seq_len, seed)) == expected
    k = config.get("n_pairs")
    if k is not None:  # a range of one K is that K
        assert digest(example({**config, "n_pairs": [k, k]}, n, seq_len, seed)) == expected


# --- question_first -------------------------------------------------------------------------


@pytest.mark.parametrize("random_filler", [True, False])
@pytest.mark.parametrize("seq_len", [20, 21, 40, 129])
def test_question_first_states_exactly_the_queried_keys_in_query_order(seq_len, random_filler):
    n, k = 300, 4
    task = tasks.create(
        "mqar", vocab_size=64, n_pairs=k, question_first=True, random_filler=random_filler
    )
    assert task.min_seq_len == 5 * k
    batch = task.sample(n, seq_len, gen(seq_len))
    prefix = batch.inputs[:, :k]
    keys, values = batch.inputs[:, k : 3 * k : 2], batch.inputs[:, k + 1 : 3 * k : 2]
    assert ((keys >= 1) & (keys < 32)).all() and ((values >= 32) & (values < 64)).all()
    assert (keys.sort(dim=1).values.diff(dim=1) > 0).all(), "keys distinct"
    assert (values.sort(dim=1).values.diff(dim=1) > 0).all(), "values distinct"
    scored = batch.targets != IGNORE
    assert (scored.sum(dim=1) == k).all() and not scored[:, : 3 * k].any()
    positions = scored.nonzero()[:, 1].view(n, k)  # increasing along each row
    assert ((positions - 3 * k) % 2 == 0).all(), "queries at even offsets after the pairs"
    queried = batch.inputs[scored].view(n, k)  # in query order
    assert torch.equal(prefix, queried), "the prefix is the queries, in their order"
    lookup = torch.zeros(n, 64, dtype=torch.long).scatter_(1, keys, values)
    assert torch.equal(batch.targets[scored].view(n, k), lookup.gather(1, queried))
    if not random_filler:
        rest = batch.inputs[:, 3 * k :]
        assert ((rest == 0) | scored[:, 3 * k :]).all()


def test_question_first_needs_five_tokens_a_pair():
    task = tasks.create("mqar", n_pairs=8, question_first=True)
    assert task.min_seq_len == 40 and tasks.create("mqar", n_pairs=8).min_seq_len == 32
    with pytest.raises(TaskConfigError, match="seq_len=39 must be an integer >= 40"):
        task.sample(2, 39, gen())
    default = tasks.create("mqar", question_first=True)  # K = L // 16 fits at any length
    assert default.min_seq_len == 16
    for seq_len in (16, 17, 64, 1024):
        batch = default.sample(2, seq_len, gen())
        k = seq_len // 16
        assert ((batch.targets != IGNORE).sum(dim=1) == k).all()


def test_question_first_keeps_the_query_gaps():
    """The pairs and queries after the prefix are drawn as without it: the same power law."""

    def mean_gap(question_first):
        task = tasks.create("mqar", vocab_size=512, n_pairs=4, question_first=question_first)
        batch = task.sample(500, 512 + 4 * question_first, gen())
        positions = (batch.targets != IGNORE).nonzero()[:, 1]
        return ((positions - (12 if question_first else 8)) // 2).float().mean().item()

    assert 30 < mean_gap(False) < 60 and 30 < mean_gap(True) < 60


# --- n_pairs as a range --------------------------------------------------------------------


def check_pairs_and_queries(batch: Batch, vocab: int, question_first: bool) -> list[int]:
    """Each row holds K pairs (K its scored count), each key queried once; returns the Ks."""
    ks = []
    for inputs, targets in zip(batch.inputs, batch.targets, strict=True):
        scored = targets != IGNORE
        k = int(scored.sum())
        start = k if question_first else 0
        keys, values = inputs[start : start + 2 * k : 2], inputs[start + 1 : start + 2 * k : 2]
        assert ((keys >= 1) & (keys < vocab // 2)).all() and (values >= vocab // 2).all()
        assert keys.unique().numel() == k and values.unique().numel() == k
        positions = scored.nonzero()[:, 0]
        context = start + 2 * k
        assert (positions >= context).all() and ((positions - context) % 2 == 0).all()
        queried = inputs[positions]
        assert sorted(queried.tolist()) == sorted(keys.tolist())
        bound = dict(zip(keys.tolist(), values.tolist(), strict=True))
        assert targets[positions].tolist() == [bound[key] for key in queried.tolist()]
        if question_first:
            assert inputs[:k].tolist() == queried.tolist()
        ks.append(k)
    return ks


@pytest.mark.parametrize("question_first", [False, True])
def test_a_range_of_n_pairs_draws_each_examples_k_and_covers_both_ends(question_first):
    task = tasks.create("mqar", vocab_size=64, n_pairs=[2, 6], question_first=question_first)
    assert task.min_seq_len == (5 if question_first else 4) * 6
    for seq_len in (task.min_seq_len, 64):
        batch = task.sample(600, seq_len, gen(seq_len))
        ks = torch.tensor(check_pairs_and_queries(batch, 64, question_first))
        counts = torch.bincount(ks, minlength=7)[2:]  # K = 2 … 6
        assert (counts > 0.7 * 600 / 5).all() and (counts < 1.3 * 600 / 5).all()
        assert ks.min() == 2 and ks.max() == 6


def test_a_range_leaves_no_pair_past_an_examples_k():
    task = tasks.create("mqar", vocab_size=64, n_pairs=[1, 5], random_filler=False)
    batch = task.sample(400, 48, gen())
    k = (batch.targets != IGNORE).sum(dim=1, keepdim=True)  # (n, 1)
    after_pairs = torch.arange(48) >= 2 * k  # (n, L)
    scored = batch.targets != IGNORE
    assert ((batch.inputs == 0) | scored | ~after_pairs).all(), "zero filler after K pairs"
    assert (batch.inputs[~after_pairs] != 0).all(), "the K pairs fill the first 2K tokens"


def test_each_k_of_a_range_keeps_the_fixed_k_power_law():
    mixed = tasks.create("mqar", vocab_size=512, n_pairs=[2, 6]).sample(3000, 512, gen())
    scored = mixed.targets != IGNORE
    k = scored.sum(dim=1)
    for fixed_k in (2, 6):
        rows = k == fixed_k
        positions = scored[rows].nonzero()[:, 1]
        mixed_gap = ((positions - 2 * fixed_k) // 2).float().mean().item()
        fixed = tasks.create("mqar", vocab_size=512, n_pairs=fixed_k).sample(600, 512, gen(1))
        positions = (fixed.targets != IGNORE).nonzero()[:, 1]
        fixed_gap = ((positions - 2 * fixed_k) // 2).float().mean().item()
        assert abs(mixed_gap - fixed_gap) < 0.25 * fixed_gap


def test_ranges_are_deterministic_and_vary_with_the_seed():
    task = tasks.create("mqar", vocab_size=256, n_pairs=[1, 8], question_first=True)
    a, b, c = (task.sample(32, 64, gen(seed)) for seed in (5, 5, 6))
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)
    assert not torch.equal(a.inputs, c.inputs)
    assert a.inputs.is_contiguous() and a.targets.is_contiguous()


# --- configs from TOML and JSON ------------------------------------------------------------


def test_a_range_from_toml_is_accepted_hashable_and_serialisable():
    settings = tomllib.loads("[task.mqar]\nn_pairs = [4, 16]\nquestion_first = true\n")
    config = settings["task"]["mqar"]
    task = tasks.create("mqar", **config)
    assert task.config.n_pairs == (4, 16) and hash(task.config)
    as_json = json.dumps(task.config.to_dict())
    again = tasks.create("mqar", **json.loads(as_json))
    assert again.config == task.config
    assert torch.equal(task.sample(4, 80, gen()).inputs, again.sample(4, 80, gen()).inputs)
    assert "n_pairs=(4, 16)" in repr(task)
    assert task.pair_range(80) == (4, 16) and task.n_pairs(80) == 16
    assert tasks.config_fields("mqar")["question_first"] is False


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"n_pairs": [5, 3]}, r"n_pairs=\(5, 3\) must be an integer >= 1, None, or a \[min, max\]"),
        ({"n_pairs": [0, 3]}, r"n_pairs=\(0, 3\) must be"),
        ({"n_pairs": [1, 2, 3]}, r"n_pairs=\(1, 2, 3\) must be"),
        ({"n_pairs": [1.0, 2]}, r"n_pairs=\(1.0, 2\) must be"),
        ({"n_pairs": [True, 2]}, r"n_pairs=\(True, 2\) must be"),
        ({"n_pairs": "4"}, "n_pairs='4' must be"),
        ({"n_pairs": 0}, "n_pairs=0 must be"),
        ({"n_pairs": [2, 40], "vocab_size": 64}, r"n_pairs=\(2, 40\) must be at most 31"),
        ({"question_first": "yes"}, "question_first='yes' must be true or false"),
    ],
    ids=["reversed", "zero-min", "three", "float", "bool", "string", "zero", "too-many", "flag"],
)
def test_bad_options_name_field_value_and_rule(config, message):
    with pytest.raises(TaskConfigError, match=message):
        tasks.create("mqar", **config)


# --- the worked examples of the docstring ----------------------------------------------------


def rendered(values: list[int]) -> str:
    return " ".join(" _" if v == IGNORE else f"{v:>2}" for v in values)


def test_worked_examples_in_the_docstring():
    doc = mqar.__doc__
    batch = example({"vocab_size": 16, "n_pairs": [1, 3], "random_filler": False}, 4, 14, 0)
    for row, k in [(0, 3), (1, 1)]:
        assert int((batch.targets[row] != IGNORE).sum()) == k
        assert f"K={k}   inputs   {rendered(batch.inputs[row].tolist())}" in doc
        assert f"targets  {rendered(batch.targets[row].tolist())}" in doc
    config = {"vocab_size": 16, "n_pairs": 3, "random_filler": False, "question_first": True}
    batch = example(config, 1, 16, 0)
    assert f"inputs   {rendered(batch.inputs[0].tolist())}" in doc
    assert f"targets  {rendered(batch.targets[0].tolist())}" in doc


# --- the task contract, with the new options ---------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        {"vocab_size": 64, "n_pairs": 4, "question_first": True},
        {"vocab_size": 64, "n_pairs": [1, 4]},
        {"vocab_size": 64, "n_pairs": [2, 4], "question_first": True},
    ],
    ids=["question-first", "range", "range-question-first"],
)
def test_new_options_keep_the_contract(config):
    task = tasks.create("mqar", **config)
    m = task.min_seq_len
    for seq_len in (m, m + 3, 64, 256):
        batch = task.sample(8, seq_len, gen())
        for t in (batch.inputs, batch.targets):
            assert t.shape == (8, seq_len) and t.dtype == torch.long
        assert batch.inputs.min() >= 0 and batch.inputs.max() < task.vocab_size
        scored = batch.targets != IGNORE
        assert (scored.sum(dim=1) >= 1).all()
        assert score(batch.targets, batch.targets) == (1.0, 1.0)
    with pytest.raises(TaskConfigError, match=f"seq_len={m - 1} must be an integer >= {m}"):
        task.sample(2, m - 1, gen())
