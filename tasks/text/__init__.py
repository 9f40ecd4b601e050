"""Text: next-byte prediction on real human-written text (language modelling, byte level).

The synthetic tasks isolate one skill each; this one asks whether it carries over to
text people wrote: the gap Zoology (Arora et al. 2023, §3) traced to recall, where a
token completes an n-gram the context already holds. Every position is scored:

    inputs   d e f ␣ f ( x ) : ⏎ ␣ ␣ r e t u r n ␣ x
    targets  e f ␣ f ( x ) : ⏎ ␣ ␣ r e t u r n ␣ x ⏎       (bytes[o+1 : o+L+1])

Windows start at uniformly random offsets of one split's byte stream (``tasks/text/corpus.py``:
documents split by a SHA-256 of their names, 80 / 10 / 10, each followed by a NUL).
``sample(..., split="train" | "validation" | "test")`` picks the split; training needs
no argument, evaluation must name its split.

**Corpus** (``corpus=``), offline and on every machine, nothing downloaded:

* ``"stdlib"`` (default): the Python standard library's own ``.py`` sources, test
  suites and generated tables left out, plus the reference prose of
  ``pydoc_data.topics`` (one document per topic): ~10.6 MB, ~740 documents. Chosen
  over prose alone for long contexts: source files are long (a median near 6 KB, 160
  past 20 KB) and refer back across thousands of bytes — names defined once and used
  again, imports, a class's methods — so the loss at positions beyond 1024 and the
  recall slice have something to measure; and at 10 MB with ~70 documents per held-out
  split, a small model's budget neither exhausts the training text nor rests its score
  on a handful of documents.
* ``"stdlib-prose"``: the topics alone (~466 KB, 79 documents), English; its held-out
  splits are ~20 KB of a few topics each — a check of prose, not a benchmark.
* a path: a text file (cut into ``chunk_bytes`` documents, 64 KiB by default) or a
  folder of text files (each file a document; ``chunk_bytes`` cuts long ones), read
  through memory maps, never whole.
* ``"hf:NAME[:CONFIG][@SPLIT]"``: a Hugging Face dataset's ``text`` rows (needs
  ``datasets``).

The standard library differs between Python versions, and so does the digest in
``corpus_identity()``, which the harness records with every run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..base import IGNORE, Task, TaskConfig, require
from ..metrics import bits_per_byte, loss_by_position, recall_mask
from ..registry import register
from . import corpus as corpora

RECALL_N = 8  # bytes in a repeated n-gram of the recall slice: about two BPE tokens
WHITESPACE = torch.tensor([9, 10, 11, 12, 13, 32])  # repeated indentation is no recall


@dataclass(frozen=True)
class TextConfig(TaskConfig):
    corpus: str = "stdlib"  # "stdlib" | "stdlib-prose" | a file or folder | "hf:NAME"
    chunk_bytes: int | None = None  # document size when cutting files; None: 64 KiB for a file

    def validate(self) -> None:
        require(
            isinstance(self.corpus, str) and self.corpus != "",
            "corpus",
            self.corpus,
            f"must be a corpus name ({', '.join(corpora.NAMES)}), a path or 'hf:NAME'",
        )
        self.require_int("chunk_bytes", 1, optional=True)
        corpora.check_spec(self.corpus)
        require(
            self.chunk_bytes is None or self.corpus not in corpora.NAMES,
            "chunk_bytes",
            self.chunk_bytes,
            f"applies to a file or folder corpus, not {self.corpus!r}",
        )


@register("text")
class Text(Task):
    Config = TextConfig
    sample_arg_names = ("split",)

    def __init__(self, config: TextConfig | None = None) -> None:
        super().__init__(config)
        # Built once per process and content (cached): errors surface here, not mid-run.
        self.corpus = corpora.load(self.config.corpus, self.config.chunk_bytes)

    @property
    def vocab_size(self) -> int:
        return 256

    @property
    def min_seq_len(self) -> int:
        return 1

    @property
    def max_seq_len(self) -> int:
        """Longest ``seq_len`` every split can produce (a window and its next byte)."""
        return self.corpus.splits[self.corpus.smallest].n_bytes - 1

    def corpus_identity(self) -> dict[str, Any]:
        """JSON-able: name, kind, sizes and SHA-256 digests of the splits (``tasks/text/corpus.py``)."""
        return corpora.identity(self.corpus)

    def _generate(
        self, n: int, seq_len: int, generator: torch.Generator, split: str = "train"
    ) -> tuple[Tensor, Tensor]:
        require(split in corpora.SPLITS, "split", split, f"must be one of {corpora.SPLITS}")
        # Bounded by the smallest split, not the one asked for: a length that trains
        # must also evaluate.
        require(
            seq_len <= self.max_seq_len,
            "seq_len",
            seq_len,
            f"must be at most {self.max_seq_len}: the {self.corpus.smallest} split of "
            f"corpus {self.config.corpus!r} holds {self.max_seq_len + 1} bytes",
        )
        window = self.corpus.splits[split].windows(n, seq_len + 1, generator).long()
        return window[:, :-1].contiguous(), window[:, 1:].contiguous()  # (n, L) each

    # -- for analysis -----------------------------------------------------------------------
    def byte_counts(self, split: str = "train") -> Tensor:
        """``(256,)`` occurrences of each byte in a split (streamed for a user corpus)."""
        require(split in corpora.SPLITS, "split", split, f"must be one of {corpora.SPLITS}")
        return self.corpus.splits[split].byte_counts()

    def unigram_entropy(self, split: str = "train") -> float:
        """Bits per byte of the split's byte frequencies: what a model must beat."""
        counts = self.byte_counts(split).double()
        p = counts[counts > 0] / counts.sum()
        return float(-(p * p.log2()).sum())

    def recall_mask(self, inputs: Tensor, targets: Tensor, n: int = RECALL_N) -> Tensor:
        """``metrics.recall_mask`` with this task's defaults: 8-byte n-grams, whitespace
        runs not counted."""
        return recall_mask(inputs, targets, n, ignore=WHITESPACE)

    def lm_metrics(self, nats: Tensor, inputs: Tensor, targets: Tensor) -> dict[str, Any]:
        """JSON-able language-model metrics of an evaluation set, in bits per byte.

        ``nats``: ``metrics.token_nats(logits, targets)`` of the whole set (batches
        concatenated), with its ``inputs`` and ``targets``. ``recall`` and ``other``
        split the bytes by ``recall_mask``; ``recall_fraction`` is the share that are hits.
        A slice with no byte reads None.
        """
        hits = self.recall_mask(inputs, targets)
        scored = targets != IGNORE
        labels, nats_by_position = loss_by_position(nats, targets)
        out: dict[str, Any] = {
            "bits_per_byte": bits_per_byte(nats, targets),
            "recall_fraction": int(hits.sum()) / int(scored.sum()),
            "loss_by_position": {
                "positions": labels,
                "bits_per_byte": [
                    None if math.isnan(v) else v / math.log(2) for v in nats_by_position
                ],
            },
        }
        for name, mask in (("recall", hits), ("other", scored & ~hits)):
            part = targets.masked_fill(~mask, IGNORE)
            out[f"{name}_bits_per_byte"] = bits_per_byte(nats, part) if mask.any() else None
        return out

    # -- for people -------------------------------------------------------------------
    def token_str(self, token: int) -> str:
        return chr(token) if 32 <= token < 127 else f"\\x{token:02x}"

    def render(self, tokens: Tensor) -> str:
        return bytes(tokens.tolist()).decode("utf-8", errors="backslashreplace")
