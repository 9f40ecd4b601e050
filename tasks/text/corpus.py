"""Corpora of real text for the ``text`` task: documents, fixed splits, identity.

A corpus is a set of *documents*, each with a stable key: its path relative to the
corpus folder, ``name#k`` for the k-th chunk of a file, ``pydoc_data.topics/<topic>``
for a topic of Python's reference prose, ``<split>/<row>`` for a dataset row.

**Splits, by document.** A document's split is read off the SHA-256 of its key, so it
never depends on the other documents, the machine or Python's salted ``hash()``:

    u = (first 8 bytes of sha256(key)) / 2^64     test: u < 0.1, validation: u < 0.2, train: rest

**Layout.** A split is its documents in order (by key; a file's chunks in file order),
each followed by one NUL byte (``SEPARATOR``): a window that crosses a boundary sees
where one document ends. NUL does not occur in text (a folder skips files with a NUL in
their first 8000 bytes as binary, git's rule), so it marks nothing else. A split is
sampled as one byte stream.

Files must not change while a task reads them: a new task sees new content (and a new
identity), a task already built would read the new bytes under the old identity.

**Streaming.** The default corpora (~10 MB) are held as one uint8 tensor per split. A
user's file or folder never is: each split keeps an index of (file, offset, length) per
document, and a batch reads only the bytes its windows cover, through memory maps. The
identity below is computed in one streamed pass (1 MiB at a time), once per process:
``load`` caches a corpus by its files' names, sizes and modification times.

**Identity** (``Corpus.identity``, JSON-able): name, kind, documents, bytes, and per
split its documents, bytes (separators included: what is sampled) and the SHA-256 of
its byte stream; ``sha256`` digests the three. Results from different ``sha256`` come
from different text and must never be grouped.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import platform
import sysconfig
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..base import require
from .streams import SEPARATOR, Document, FileSource, MemorySplit, RowSource, Split, StreamSplit

SPLITS = ("train", "validation", "test")
HELD_OUT = 0.10  # fraction of documents in each of validation and test
NAMES = ("stdlib", "stdlib-prose")
FILE_CHUNK_BYTES = 65536  # a single-file corpus: documents are 64 KiB chunks
_BINARY_PROBE = 8000  # git's rule: a NUL in the first 8000 bytes means binary
# Under the standard library: test suites, third-party packages and build files.
_STDLIB_SKIP_DIRS = {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"}


def split_of(key: str) -> str:
    """The split of the document with this key (the rule in the module docstring)."""
    u = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64
    return "test" if u < HELD_OUT else "validation" if u < 2 * HELD_OUT else "train"


# --- corpora -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Corpus:
    name: str
    kind: str  # "stdlib", "stdlib-prose", "folder", "file", "hf"
    splits: dict[str, Split]
    identity: dict[str, Any]

    @property
    def streamed(self) -> bool:
        return all(isinstance(s, StreamSplit) for s in self.splits.values())

    @property
    def smallest(self) -> str:
        """The split with the fewest bytes (it bounds the sequence length)."""
        return min(SPLITS, key=lambda s: self.splits[s].n_bytes)


def check_spec(spec: str) -> None:
    """One-line error unless ``spec`` names a corpus, a dataset or an existing path."""
    if spec in NAMES or spec.startswith("hf:"):
        require(spec != "hf:", "corpus", spec, "must name a dataset: 'hf:NAME[:CONFIG][@SPLIT]'")
        return
    path = Path(spec).expanduser()
    if path.is_file() or path.is_dir():
        return
    looks_like_path = any(c in spec for c in "/\\.~")
    rule = (
        "must be an existing text file or folder (not found)"
        if looks_like_path
        else f"is not a corpus name ({', '.join(NAMES)}, hf:NAME) nor an existing file or folder"
    )
    require(False, "corpus", spec, rule)


def load(spec: str, chunk_bytes: int | None = None) -> Corpus:
    """The corpus ``spec`` names, built once per content (see the module docstring)."""
    check_spec(spec)
    if spec in NAMES:
        return _stdlib(spec, _stdlib_files())
    if spec.startswith("hf:"):
        return _dataset(spec)
    path = Path(spec).expanduser().resolve()
    return _user(spec, chunk_bytes, _scan(path))


def _identity(name: str, kind: str, splits: dict[str, Split], **extra: Any) -> dict[str, Any]:
    per_split = {
        split: {"documents": len(s.documents), "bytes": s.n_bytes, "sha256": s.sha256}
        for split, s in splits.items()
    }
    n_docs = sum(v["documents"] for v in per_split.values())
    identity = {
        "name": name,
        "kind": kind,
        **extra,
        "documents": n_docs,
        "bytes": sum(v["bytes"] for v in per_split.values()) - n_docs,  # documents alone
        "splits": per_split,
    }
    identity["sha256"] = hashlib.sha256(
        json.dumps({s: v["sha256"] for s, v in per_split.items()}, sort_keys=True).encode()
    ).hexdigest()
    return identity


def _check_splits(spec: str, splits: dict[str, Split], hint: str) -> None:
    n_docs = sum(len(s.documents) for s in splits.values())
    require(n_docs > 0, "corpus", spec, "must hold at least one non-empty text document")
    for name in SPLITS:
        require(
            len(splits[name].documents) > 0,
            "corpus",
            spec,
            f"must give every split a document; its {name} split is empty "
            f"({n_docs} documents in all: {hint})",
        )


def _assign(documents: list, keys: list[str]) -> dict[str, list]:
    """The documents of each split, in the order given."""
    by_split: dict[str, list] = {s: [] for s in SPLITS}
    for doc, key in zip(documents, keys, strict=True):
        by_split[split_of(key)].append(doc)
    return by_split


# --- the standard library ---------------------------------------------------------------------


def _stdlib_files() -> tuple[str, tuple[tuple[str, int, int], ...]]:
    """The stdlib folder and its source files kept as documents: (relative path, size, mtime).

    Kept: ``.py`` files. Left out: test suites, site-packages, build folders (config-*),
    ``_sysconfigdata*`` (this machine's build paths), ``pydoc_data/topics.py`` (its text
    is the prose documents) and, later by content, the generated charmap codecs.
    """
    root = sysconfig.get_paths()["stdlib"]
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(
            d for d in dirs if d not in _STDLIB_SKIP_DIRS and not d.startswith((".", "config-"))
        )
        for name in sorted(files):
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            if not name.endswith(".py") or name.startswith("_sysconfigdata"):
                continue
            if rel == "pydoc_data/topics.py":
                continue
            st = os.stat(path)
            found.append((rel, st.st_size, st.st_mtime_ns))
    return root, tuple(found)


@lru_cache(maxsize=4)
def _stdlib(spec: str, files: tuple[str, tuple[tuple[str, int, int], ...]]) -> Corpus:
    root, listing = files
    try:
        from pydoc_data.topics import topics
    except ImportError:  # a stripped Python; the emptiness check below names the corpus
        topics = {}
    documents = [(f"pydoc_data.topics/{k}", v.encode("utf-8")) for k, v in topics.items()]
    if spec == "stdlib":
        for rel, _, _ in listing:
            text = Path(root, rel).read_bytes()
            # 65 codecs generated from mapping tables (encodings/cp1252.py …): near-copies
            # of each other, which would put the same text in every split.
            if b"gencodec.py" not in text[:400] and text:
                documents.append((rel, text))
    documents.sort()
    splits = {
        s: MemorySplit(docs) for s, docs in _assign(documents, [k for k, _ in documents]).items()
    }
    _check_splits(spec, splits, "this Python ships without its sources; pass a path")
    python = f"{platform.python_implementation()} {platform.python_version()}"
    return Corpus(spec, spec, splits, _identity(spec, spec, splits, python=python))


# --- a user's file or folder ------------------------------------------------------------------


def _scan(path: Path) -> tuple[str, bool, tuple[tuple[str, int, int], ...]]:
    """The corpus files under ``path`` (relative path, size, mtime): its cache key."""
    if path.is_file():
        st = path.stat()
        return str(path), True, ((path.name, st.st_size, st.st_mtime_ns),)
    found = []
    for folder, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            full = Path(folder, name)
            if name.startswith(".") or not full.is_file():
                continue
            st = full.stat()
            if st.st_size > 0:
                rel = full.relative_to(path).as_posix()
                found.append((rel, st.st_size, st.st_mtime_ns))
    return str(path), False, tuple(sorted(found))


@lru_cache(maxsize=16)
def _user(spec: str, chunk_bytes: int | None, scan: tuple) -> Corpus:
    root, single, listing = scan
    chunk = chunk_bytes or (FILE_CHUNK_BYTES if single else None)
    paths, documents, binary = [], [], 0
    for rel, size, _ in listing:
        path = Path(root) if single else Path(root, rel)
        with open(path, "rb") as f:
            if SEPARATOR in f.read(_BINARY_PROBE) and not single:
                binary += 1
                continue
        unit = len(paths)
        paths.append(path)
        if chunk is None or size <= chunk:
            documents.append(Document(rel, unit, 0, size))
        else:  # consecutive fixed-size chunks: exact, and found without reading the file
            for k, start in enumerate(range(0, size, chunk)):
                documents.append(Document(f"{rel}#{k}", unit, start, min(chunk, size - start)))
    source = FileSource(paths)
    by_split = _assign(documents, [d.key for d in documents])  # in file order, then offset
    splits = {s: StreamSplit(source, docs) for s, docs in by_split.items()}
    hint = "add documents or cut files into chunks with chunk_bytes"
    _check_splits(spec, splits, hint)
    kind = "file" if single else "folder"
    extra = {"chunk_bytes": chunk}
    if binary:
        extra["skipped_binary_files"] = binary
    return Corpus(spec, kind, splits, _identity(spec, kind, splits, **extra))


# --- a Hugging Face dataset ---------------------------------------------------------------------


@lru_cache(maxsize=4)
def _dataset(spec: str) -> Corpus:
    """``hf:NAME[:CONFIG][@SPLIT]``: the rows of one split of a dataset (its ``text``
    column), each a document, split again by the rule above (the row index is the key)."""
    try:
        import datasets
    except ImportError:
        require(False, "corpus", spec, "needs the datasets package: pip install datasets")
    body, _, hf_split = spec[3:].partition("@")
    name, _, config = body.partition(":")
    hf_split = hf_split or "train"
    dataset = datasets.load_dataset(name, config or None, split=hf_split)
    require("text" in dataset.column_names, "corpus", spec, "must have a 'text' column")
    source = RowSource(dataset, "text")
    documents = []
    for row in range(len(dataset)):
        length = len(source.text(row))
        if length:
            documents.append(Document(f"{hf_split}/{row}", row, 0, length))
    by_split = _assign(documents, [d.key for d in documents])
    splits = {s: StreamSplit(source, docs) for s, docs in by_split.items()}
    _check_splits(spec, splits, "the dataset has too few rows")
    return Corpus(spec, "hf", splits, _identity(spec, "hf", splits))


def identity(corpus: Corpus) -> dict[str, Any]:
    """A copy of the corpus identity (callers may keep or change it)."""
    return copy.deepcopy(corpus.identity)
