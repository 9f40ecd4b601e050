"""Language-model evaluation: which split a task's evaluation reads, and the metrics of
a language-model task (``text``) gathered over a whole evaluation set.

A task that holds real text has fixed splits by document (``tasks/text``) and says so by
accepting a ``split`` sampling argument. The harness's three streams then read:

    training batches     split="train"        (the task's default)
    validation set       split="validation"   (selection: ``val_bits_per_byte``)
    evaluation set       split="test"         (the reported numbers)

A synthetic task has no splits (every example is fresh) and takes no ``split``: its
streams are told apart by their generator seeds alone (``bench.run.train``).

A task with ``lm_metrics(nats, inputs, targets)`` is scored as a language model too:
``LMScores`` keeps each batch's per-token losses, inputs and targets on the CPU and
hands the whole set to the task at the end, so the recall slice and the position
buckets see whole sequences. The flat point fields it returns are the columns of
docs/results-schema.md (``bits_per_byte``, ``recall_bits_per_byte``,
``other_bits_per_byte``, ``recall_fraction``, ``position_buckets``,
``position_bits_per_byte``).
"""

from __future__ import annotations

from typing import Any

import torch

from tasks.metrics import token_nats

# The harness's stream -> the task's split, for tasks that have splits.
TASK_SPLITS = {"eval": "test", "val": "validation"}


def split_args(task: Any, stream: str) -> dict[str, str]:
    """``{"split": ...}`` for a task whose sampling takes a split, else ``{}``."""
    if "split" in getattr(task, "sample_arg_names", ()):
        return {"split": TASK_SPLITS[stream]}
    return {}


def is_language_model(task: Any) -> bool:
    """Whether the task scores models as language models (``lm_metrics``)."""
    return callable(getattr(task, "lm_metrics", None))


def corpus_identity(task: Any) -> dict[str, Any] | None:
    """The corpus a text task reads (name, sizes, SHA-256 of its splits), or None."""
    identity = getattr(task, "corpus_identity", None)
    return identity() if callable(identity) else None


_UNIGRAM: dict[str, float] = {}  # corpus sha256 -> entropy: one pass per corpus and process


def unigram_bits_per_byte(task: Any) -> float | None:
    """Bits per byte of the training split's byte frequencies, the score of a model that
    knows nothing but them: what a language model must beat. None without a corpus."""
    identity = corpus_identity(task)
    entropy = getattr(task, "unigram_entropy", None)
    if identity is None or not callable(entropy):
        return None
    if identity["sha256"] not in _UNIGRAM:
        _UNIGRAM[identity["sha256"]] = float(entropy("train"))
    return _UNIGRAM[identity["sha256"]]


def note_corpus(task: Any, record: dict[str, Any], metrics: dict[str, Any]) -> None:
    """For a task that reads a corpus: its identity into the run record (``corpus``) and
    the unigram baseline into the metrics; nothing for a synthetic task."""
    identity = corpus_identity(task)
    if identity is not None:
        record["corpus"] = identity
        metrics["unigram_bits_per_byte"] = unigram_bits_per_byte(task)


class LMScores:
    """Per-token losses of an evaluation set, batch by batch; ``result()`` is the task's
    ``lm_metrics`` flattened into point fields."""

    def __init__(self, task: Any) -> None:
        self.task = task
        self.nats: list[torch.Tensor] = []
        self.inputs: list[torch.Tensor] = []
        self.targets: list[torch.Tensor] = []

    def add(self, logits: torch.Tensor, inputs: torch.Tensor, targets: torch.Tensor) -> None:
        self.nats.append(token_nats(logits, targets).cpu())  # (n, L), float32
        self.inputs.append(inputs.cpu())
        self.targets.append(targets.cpu())

    def result(self) -> dict[str, Any]:
        metrics = self.task.lm_metrics(
            torch.cat(self.nats), torch.cat(self.inputs), torch.cat(self.targets)
        )
        by_position = metrics.pop("loss_by_position")
        return {
            **metrics,
            "position_buckets": list(by_position["positions"]),
            "position_bits_per_byte": list(by_position["bits_per_byte"]),
        }
