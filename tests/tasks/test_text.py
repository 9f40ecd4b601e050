"""The text task: splits, sampling, user corpora, identity, and the language-model metrics."""

import hashlib
import importlib.util
import json
import math

import pytest
import test_tasks as contract
import torch
import torch.nn.functional as F

import tasks
from tasks import IGNORE, TaskConfigError
from tasks.metrics import bits_per_byte, loss_by_position, recall_mask, token_nats
from tasks.text import corpus


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def stream_of(documents: list[bytes]) -> bytes:
    """A split as the task lays it out: each document followed by a NUL."""
    return b"".join(d + b"\0" for d in documents)


def words(n: int, seed: int) -> str:
    """Reproducible text made in the test (the project holds no copied text)."""
    vocab = ["alpha", "beta", "gamma", "delta", "state", "scan", "recall", "token", "\n"]
    picks = torch.randint(0, len(vocab), (n,), generator=gen(seed)).tolist()
    return " ".join(vocab[i] for i in picks)


@pytest.fixture
def folder(tmp_path):
    """Ten small text files (doc02 falls in validation, doc03 and doc07 in test) and
    three that a folder corpus skips: hidden, binary, empty."""
    root = tmp_path / "notes"
    (root / "sub").mkdir(parents=True)
    files = {f"doc{i:02d}.txt": words(40 + 30 * i, seed=i) for i in range(8)}
    files |= {"sub/doc00.txt": words(90, seed=100), "sub/doc01.txt": words(60, seed=101)}
    for rel, text in files.items():
        (root / rel).write_bytes(text.encode())  # bytes: no newline translation anywhere
    (root / ".hidden.txt").write_text("not a document")
    (root / "image.bin").write_bytes(b"\x89PNG\0\0\0binary")
    (root / "empty.txt").write_text("")
    return root, {rel: text.encode() for rel, text in files.items()}


# --- splits ----------------------------------------------------------------------------


def test_splits_are_disjoint_and_fixed_by_each_documents_name():
    task = tasks.create("text")
    splits = task.corpus.splits
    docs = {name: set(s.documents) for name, s in splits.items()}
    assert not (docs["train"] & docs["validation"] or docs["train"] & docs["test"])
    assert not docs["validation"] & docs["test"]
    assert sum(map(len, docs.values())) == task.corpus_identity()["documents"]
    for name, keys in docs.items():
        assert all(corpus.split_of(key) == name for key in keys)
        assert splits[name].documents == sorted(keys)
    # The rule is sha256 of the name alone: the same on every machine and run.
    digest = hashlib.sha256(b"json/decoder.py").digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    assert corpus.split_of("json/decoder.py") == (
        "test" if u < 0.1 else "validation" if u < 0.2 else "train"
    )
    # Rebuilt from scratch, the splits are the same.
    before = task.corpus_identity()
    corpus._stdlib.cache_clear()
    assert tasks.create("text").corpus_identity() == before


def test_default_corpus_holds_code_and_prose_but_no_tests():
    task = tasks.create("text")
    keys = [k for s in task.corpus.splits.values() for k in s.documents]
    assert any(k.startswith("pydoc_data.topics/") for k in keys)
    assert "json/decoder.py" in keys
    folders = {part for k in keys for part in k.split("/")[:-1]}
    assert not folders & {"test", "tests", "idle_test", "site-packages"}
    assert not any(k.startswith("_sysconfigdata") for k in keys)
    assert "pydoc_data/topics.py" not in keys and "encodings/cp1252.py" not in keys
    prose = tasks.create("text", corpus="stdlib-prose").corpus
    assert all(
        k.startswith("pydoc_data.topics/") for s in prose.splits.values() for k in s.documents
    )
    for name in corpus.SPLITS:  # the prose is the same documents in the same splits
        assert set(prose.splits[name].documents) <= set(task.corpus.splits[name].documents)


def test_adding_a_document_moves_no_other(folder):
    root, _ = folder
    before = {
        n: s.documents for n, s in tasks.create("text", corpus=str(root)).corpus.splits.items()
    }
    (root / "doc99.txt").write_bytes(words(50, seed=99).encode())
    after = tasks.create("text", corpus=str(root)).corpus.splits
    added = corpus.split_of("doc99.txt")
    for name, documents in before.items():
        expected = sorted([*documents, "doc99.txt"]) if name == added else documents
        assert after[name].documents == expected


# --- sampling --------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_batch_and_another_seed_or_split_another():
    task = tasks.create("text")
    a, b, c = (task.sample(4, 256, gen(seed)) for seed in (3, 3, 4))
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)
    assert not torch.equal(a.inputs, c.inputs)
    v1, v2 = (task.sample(4, 256, gen(3), split="validation") for _ in range(2))
    assert torch.equal(v1.inputs, v2.inputs) and not torch.equal(v1.inputs, a.inputs)


def test_windows_are_slices_of_the_split_and_every_byte_is_scored():
    task = tasks.create("text")
    split = task.corpus.splits["test"]
    batch = task.sample(6, 100, gen(5), split="test")
    offsets = torch.randint(0, split.n_bytes - 100, (6,), generator=gen(5))
    for row, o in enumerate(offsets.tolist()):
        assert torch.equal(batch.inputs[row], split.data[o : o + 100].long())
        assert torch.equal(batch.targets[row], split.data[o + 1 : o + 101].long())
    assert (batch.targets != IGNORE).all() and batch.inputs.max() < 256
    assert task.vocab_size == 256 and task.min_seq_len == 1


def test_the_contract_suite_picks_up_text_and_the_corpus_is_built_once():
    assert "text" in contract.NAMES, "tests/test_tasks.py parametrizes over the registry"
    assert tasks.create("text").corpus is tasks.create("text").corpus, "built once (cached)"


@pytest.mark.parametrize(
    "check",
    [
        "test_batches_have_the_contract_shape_range_and_scored_positions",
        "test_sampling_is_deterministic_for_a_seed",
        "test_too_short_a_sequence_names_the_length_and_the_limit",
        "test_bad_sampling_requests_are_errors",
    ],
)
def test_text_passes_the_contract_check(check, monkeypatch):
    monkeypatch.setitem(contract.SMALL, "text", {})
    getattr(contract, check)("text")


def test_long_lengths_score_every_position():
    batch = tasks.create("text").sample(2, 8192, gen())
    assert (batch.targets != IGNORE).sum() == 2 * 8192


def test_batches_from_a_made_corpus_match_the_pinned_digest(tmp_path):
    """The split rule and the window draw, pinned on text the test makes (the default
    corpus changes with the Python version)."""
    (tmp_path / "corpus.txt").write_bytes(words(20_000, seed=0).encode())
    task = tasks.create("text", corpus=str(tmp_path / "corpus.txt"), chunk_bytes=4000)
    batch = task.sample(16, 128, gen(0), split="validation")
    data = batch.inputs.numpy().tobytes() + batch.targets.numpy().tobytes()
    assert hashlib.sha256(data).hexdigest()[:16] == "a85d468ddddb9839"
    assert task.corpus_identity()["sha256"][:16] == "4e1fae0079313638"


# --- user corpora ------------------------------------------------------------------------


def test_a_folder_is_streamed_one_file_a_document(folder):
    root, files = folder
    task = tasks.create("text", corpus=str(root))
    assert task.corpus.streamed and not any(hasattr(s, "data") for s in task.corpus.splits.values())
    identity = task.corpus_identity()
    assert identity["kind"] == "folder" and identity["documents"] == len(files)
    assert identity["skipped_binary_files"] == 1
    assert identity["bytes"] == sum(map(len, files.values()))
    for name, split in task.corpus.splits.items():
        keys = sorted(rel for rel in files if corpus.split_of(rel) == name)
        assert split.documents == keys and keys, name
        expected = stream_of([files[k] for k in keys])
        assert split.n_bytes == len(expected)
        assert bytes(split.gather(torch.arange(split.n_bytes)).tolist()) == expected
        batch = task.sample(8, 50, gen(1), split=name)
        for x, y in zip(batch.inputs, batch.targets, strict=True):
            window = bytes(x.tolist()) + bytes(y[-1:].tolist())
            assert window in expected and torch.equal(x[1:], y[:-1])


def test_a_single_file_is_cut_into_fixed_size_chunks(tmp_path):
    text = words(6000, seed=7).encode()
    path = tmp_path / "book.txt"
    path.write_bytes(text)
    task = tasks.create("text", corpus=str(path), chunk_bytes=1000)
    identity = task.corpus_identity()
    n_chunks = math.ceil(len(text) / 1000)
    assert identity["kind"] == "file" and identity["documents"] == n_chunks
    assert task.corpus.streamed
    for name, split in task.corpus.splits.items():
        ks = [k for k in range(n_chunks) if corpus.split_of(f"book.txt#{k}") == name]
        assert split.documents == [f"book.txt#{k}" for k in ks]
        expected = stream_of([text[1000 * k : 1000 * (k + 1)] for k in ks])
        assert bytes(split.gather(torch.arange(split.n_bytes)).tolist()) == expected
        assert split.sha256 == hashlib.sha256(expected).hexdigest()
    counts = torch.bincount(torch.tensor(list(text)), minlength=256)
    total = sum(task.byte_counts(s) for s in corpus.SPLITS)
    assert torch.equal(total[1:], counts[1:]) and total[0] == n_chunks  # the separators
    path.write_bytes(text * 50)  # ~2 MB: 64 KiB chunks by default
    identity = tasks.create("text", corpus=str(path)).corpus_identity()
    assert identity["chunk_bytes"] == 65536
    assert identity["documents"] == math.ceil(50 * len(text) / 65536)


# --- identity ------------------------------------------------------------------------------


def test_the_identity_is_json_and_follows_the_content(folder, tmp_path):
    root, files = folder
    identity = tasks.create("text", corpus=str(root)).corpus_identity()
    assert json.loads(json.dumps(identity)) == identity
    assert set(identity["splits"]) == {"train", "validation", "test"}
    # The same text elsewhere has the same digest; changed text another.
    copy = tmp_path / "copy"
    for rel, data in files.items():
        (copy / rel).parent.mkdir(parents=True, exist_ok=True)
        (copy / rel).write_bytes(data)
    assert tasks.create("text", corpus=str(copy)).corpus_identity()["sha256"] == identity["sha256"]
    (root / "doc02.txt").write_bytes(words(70, seed=1234).encode())  # a validation document
    changed = tasks.create("text", corpus=str(root)).corpus_identity()
    assert changed["sha256"] != identity["sha256"]
    assert changed["splits"]["validation"]["sha256"] != identity["splits"]["validation"]["sha256"]
    assert changed["splits"]["train"] == identity["splits"]["train"]

    default = tasks.create("text").corpus_identity()
    assert json.loads(json.dumps(default)) == default
    assert default["name"] == "stdlib" and default["python"].split()[-1].count(".") == 2
    default["splits"].clear()  # a copy: the task's record is untouched
    assert tasks.create("text").corpus_identity()["splits"]


# --- errors --------------------------------------------------------------------------------


def test_bad_corpora_and_requests_are_one_line_errors(folder, tmp_path):
    root, _ = folder
    cases = [
        ({"corpus": str(tmp_path / "missing.txt")}, "missing.txt' must be an existing text file"),
        ({"corpus": "stdlb"}, "corpus='stdlb' is not a corpus name"),
        ({"corpus": ""}, "corpus='' must be a corpus name"),
        ({"chunk_bytes": 0}, "chunk_bytes=0 must be an integer >= 1 or None"),
        ({"chunk_bytes": 10}, "chunk_bytes=10 applies to a file or folder corpus, not 'stdlib'"),
    ]
    (tmp_path / "blank").mkdir()
    (tmp_path / "blank" / "empty.txt").write_text("")
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "doc00.txt").write_text("a train document")
    cases += [
        ({"corpus": str(tmp_path / "blank")}, "must hold at least one non-empty text document"),
        ({"corpus": str(tmp_path / "one")}, "its validation split is empty"),
    ]
    for config, message in cases:
        with pytest.raises(TaskConfigError, match=message) as error:
            tasks.create("text", **config)
        assert "\n" not in str(error.value)
    task = tasks.create("text", corpus=str(root))
    longest = task.max_seq_len
    assert longest == min(s.n_bytes for s in task.corpus.splits.values()) - 1
    assert task.sample(1, longest, gen()).inputs.shape == (1, longest)
    with pytest.raises(TaskConfigError, match=f"seq_len={longest + 1} must be at most {longest}"):
        task.sample(1, longest + 1, gen())
    with pytest.raises(TaskConfigError, match=r"split='val' must be one of \('train'"):
        task.sample(1, 8, gen(), split="val")


@pytest.mark.skipif(
    importlib.util.find_spec("datasets") is not None,
    reason="datasets is installed; only the error without it is tested",
)
def test_a_dataset_needs_the_datasets_package():
    with pytest.raises(TaskConfigError, match="corpus='hf:wikitext' needs the datasets package"):
        tasks.create("text", corpus="hf:wikitext")


# --- metrics -------------------------------------------------------------------------------


def test_uniform_predictions_score_exactly_8_bits_per_byte():
    targets = torch.randint(0, 256, (3, 40), generator=gen())
    targets[0, :5] = IGNORE  # unscored positions count for nothing
    logits = torch.zeros(3, 40, 256, dtype=torch.float64)
    exact = pytest.approx(8.0, rel=1e-15)  # float64: ln 256 / ln 2, up to summation
    assert bits_per_byte(token_nats(logits, targets), targets) == exact
    assert bits_per_byte(token_nats(logits.float(), targets), targets) == pytest.approx(8, rel=1e-7)
    # Per byte of text, not per token: 2 bytes a token halves it.
    halved = bits_per_byte(token_nats(logits, targets), targets, n_bytes=2 * 115)
    assert halved == pytest.approx(4.0, rel=1e-15)


@pytest.fixture
def one_thread():
    """Tiny ops run fastest on one thread, and many times so on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_a_tiny_model_beats_the_unigram_entropy_of_the_corpus(one_thread):
    task = tasks.create("text")
    unigram = task.unigram_entropy("train")
    assert 4.0 < unigram < 5.5  # code and English: ~4.6 bits per byte
    bigram = torch.nn.Embedding(256, 256)  # logits of the next byte given this one
    torch.nn.init.zeros_(bigram.weight)
    optimizer = torch.optim.Adam(bigram.parameters(), lr=0.1)
    generator = gen(0)
    for _ in range(100):  # ~0.3 s on one core: 3.5 bits per byte, the bigram entropy
        batch = task.sample(16, 64, generator)
        logits = bigram(batch.inputs)  # (16, 64, 256)
        loss = F.cross_entropy(logits.view(-1, 256), batch.targets.view(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        batch = task.sample(64, 256, gen(1), split="validation")
        bpb = bits_per_byte(token_nats(bigram(batch.inputs), batch.targets), batch.targets)
    assert bpb < unigram - 0.5


def test_loss_by_position_averages_buckets_that_grow_by_four():
    nats = torch.arange(300, dtype=torch.float32).repeat(2, 1)  # loss = position
    targets = torch.zeros(2, 300, dtype=torch.long)
    targets[1, 256:] = IGNORE  # one example unscored at the end
    labels, values = loss_by_position(nats, targets)
    assert labels == ["0-63", "64-255", "256-299"]
    assert values == [31.5, 159.5, 277.5]
    assert loss_by_position(nats[:, :64], targets[:, :64]) == (["0-63"], [31.5])
    labels, _ = loss_by_position(torch.zeros(1, 5000), torch.zeros(1, 5000, dtype=torch.long))
    assert labels == ["0-63", "64-255", "256-1023", "1024-4095", "4096-4999"]


def as_batch(text: str) -> tuple[torch.Tensor, torch.Tensor]:
    window = torch.tensor([list(text.encode())])
    return window[:, :-1], window[:, 1:]


def test_the_recall_slice_marks_the_bytes_that_complete_a_repeated_ngram():
    # n = 3: trigrams abc (ends at byte 2) and bcd (byte 3) come back ending at bytes 6
    # and 10; the byte at i is the target at position i - 1. No other trigram repeats.
    #        0123456789A
    inputs, targets = as_batch("abcdabcxbcd")
    expected = [0, 0, 0, 0, 0, 1, 0, 0, 0, 1]
    assert recall_mask(inputs, targets, n=3)[0].int().tolist() == expected
    # n = 8 (the task's): the second "hello world" repeats 8-grams from its 8th byte on
    # (bytes 19–22 end "hello wo", "ello wor", "llo worl", "lo world"); the 8-grams
    # across the middle space are new.
    #        0         1         2
    #        01234567890123456789012
    inputs, targets = as_batch("hello world hello world")
    expected = [0] * 18 + [1, 1, 1, 1]
    task = tasks.create("text")
    assert task.recall_mask(inputs, targets)[0].int().tolist() == expected
    # A run of 8 spaces repeats, but the task leaves whitespace-only n-grams out.
    inputs, targets = as_batch("x        y        z")  # 8 spaces twice: byte 17 repeats
    assert recall_mask(inputs, targets, n=8)[0].int().tolist() == [0] * 16 + [1, 0]
    assert not task.recall_mask(inputs, targets).any()
    # Unscored targets are never hits.
    targets[0, -2] = IGNORE
    assert not recall_mask(inputs, targets, n=8).any()


def test_lm_metrics_split_bits_per_byte_by_the_recall_slice():
    inputs, targets = as_batch("hello world hello world")  # hits: targets 18-21
    nats = torch.full(targets.shape, math.log(2))  # 1 bit a byte …
    nats[0, 18:] = 0.0  # … and none for the recalled bytes
    metrics = tasks.create("text").lm_metrics(nats, inputs, targets)
    assert json.loads(json.dumps(metrics)) == metrics
    assert metrics["recall_fraction"] == 4 / 22
    assert metrics["recall_bits_per_byte"] == 0.0
    assert metrics["other_bits_per_byte"] == pytest.approx(1.0)
    assert metrics["bits_per_byte"] == pytest.approx(18 / 22)
    assert metrics["loss_by_position"]["positions"] == ["0-21"]


def test_the_recall_slice_matches_a_direct_search():
    def direct(x, y, n):
        out = torch.zeros_like(x, dtype=torch.bool)
        for b, (xs, ys) in enumerate(zip(x.tolist(), y.tolist(), strict=True)):
            for t in range(max(n - 2, 0), len(xs)):
                gram = [*xs[t - n + 2 : t + 1], ys[t]] if n > 1 else [ys[t]]
                found = any(xs[j - n + 1 : j + 1] == gram for j in range(n - 1, t + 1))
                out[b, t] = ys[t] != IGNORE and found
        return out

    g = gen(2)
    for n in (1, 2, 3, 5):
        x = torch.randint(0, 3, (4, 24), generator=g)
        y = torch.cat([x[:, 1:], torch.randint(0, 3, (4, 1), generator=g)], dim=1)
        y[torch.rand(4, 24, generator=g) < 0.2] = IGNORE
        assert torch.equal(recall_mask(x, y, n), direct(x, y, n)), n
