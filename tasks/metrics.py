"""Task-side metrics, pure torch.

Accuracy on scored positions (docs/design.md): token accuracy and exact match per
example. For language modelling (the ``text`` task): per-token cross-entropy, bits per
byte, loss by position and the associative-recall slice.
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import IGNORE, TaskConfigError, is_int


def score(logits_or_predictions: Tensor, targets: Tensor) -> tuple[float, float]:
    """``(token accuracy, exact match)`` over the positions where ``targets != -100``.

    ``logits_or_predictions``: logits ``(n, L, V)`` (argmax is the prediction) or
    predicted tokens ``(n, L)``. Token accuracy is the fraction of scored positions
    predicted right; exact match the fraction of examples (with at least one scored
    position) whose scored positions are all right.
    """
    predictions = logits_or_predictions
    if predictions.dim() == 3:
        predictions = predictions.argmax(dim=-1)  # (n, L)
    if predictions.shape != targets.shape:
        raise TaskConfigError(
            f"predictions of shape {tuple(predictions.shape)} must match targets of shape "
            f"{tuple(targets.shape)} (logits: (n, L, V))"
        )
    scored = targets != IGNORE  # (n, L)
    n_scored = int(scored.sum())
    if n_scored == 0:
        raise TaskConfigError("targets has no scored position (all -100); nothing to score")
    wrong = (predictions.to(targets.device) != targets) & scored  # (n, L)
    token_accuracy = 1.0 - int(wrong.sum()) / n_scored
    has_scored = scored.any(dim=1)  # (n,)
    all_right = ~wrong.any(dim=1) & has_scored
    exact_match = int(all_right.sum()) / int(has_scored.sum())
    return token_accuracy, exact_match


# --- language-modelling metrics: per-token losses, bits per byte, slices ----------------------


def token_nats(logits: Tensor, targets: Tensor) -> Tensor:
    """``(n, L)`` cross-entropy of each target in nats, 0 where ``targets == -100``.

    ``logits``: ``(n, L, V)``; float64 stays float64, lower precisions are computed in
    float32.
    """
    if logits.shape[:-1] != targets.shape:
        raise TaskConfigError(
            f"logits of shape {tuple(logits.shape)} must be (n, L, V) for targets of shape "
            f"{tuple(targets.shape)}"
        )
    logits = logits if logits.dtype == torch.float64 else logits.float()
    targets = targets.to(logits.device)
    return F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=IGNORE, reduction="none")


def bits_per_byte(nats: Tensor, targets: Tensor, n_bytes: int | None = None) -> float:
    """Sum of ``nats`` over scored positions / ln 2 / ``n_bytes``.

    ``nats``: per-token cross-entropy in nats, shaped like ``targets`` (``token_nats``).
    ``n_bytes``: how many bytes of text the scored targets stand for; by default one
    per scored target, right for byte-level tasks (a tokenizer's tasks pass the byte
    length of their targets, so models with different vocabularies compare).
    """
    scored = targets.to(nats.device) != IGNORE
    n_bytes = int(scored.sum()) if n_bytes is None else n_bytes
    if n_bytes <= 0:
        raise TaskConfigError("targets has no scored position (all -100); nothing to score")
    return float(nats.double()[scored].sum()) / math.log(2) / n_bytes


def position_buckets(seq_len: int) -> list[tuple[int, int]]:
    """``[start, stop)`` target positions: 0–63, 64–255, 256–1023, … (×4), the last clipped."""
    edges, stop = [0], 64
    while stop < seq_len:
        edges.append(stop)
        stop *= 4
    edges.append(seq_len)
    return list(itertools.pairwise(edges))


def loss_by_position(nats: Tensor, targets: Tensor) -> tuple[list[str], list[float]]:
    """Mean of ``nats`` over the scored targets in each ``position_buckets`` bucket.

    Returns the labels (``"0-63"``, ``"64-255"``, …) and the means, in the unit of
    ``nats`` (NaN for a bucket with nothing scored). A model that uses its context has
    a loss that falls with position.
    """
    seq_len = targets.shape[-1]
    buckets = position_buckets(seq_len)
    scored = (targets.to(nats.device) != IGNORE).reshape(-1, seq_len)  # (n, L)
    sums = (nats.double().reshape(-1, seq_len) * scored).sum(dim=0)  # (L,)
    counts = scored.sum(dim=0)  # (L,)
    labels, values = [], []
    for start, stop in buckets:
        count = int(counts[start:stop].sum())
        labels.append(f"{start}-{stop - 1}")
        values.append(float(sums[start:stop].sum()) / count if count else math.nan)
    return labels, values


def _gram_ids(x: Tensor, k: int, memo: dict[int, Tensor]) -> Tensor:
    """``(n, L)`` int64 ids, equal at ``[b, j]`` and ``[c, i]`` exactly when the k-grams
    ending there, ``x[b, j-k+1 : j+1]`` and ``x[c, i-k+1 : i+1]``, are equal (ids of grams
    that start before position 0 are never equal to those of whole grams).

    Built by doubling: a k-gram is the pair (its first k - k//2 tokens, its last k//2),
    and pairs are renumbered densely with ``unique``, so nothing overflows or collides.
    """
    if k not in memo:
        h = k // 2
        head, tail = _gram_ids(x, k - h, memo), _gram_ids(x, h, memo)
        head = F.pad(head + 1, (h, 0))[:, : x.shape[1]]  # head-gram ending at j - h; 0 = none
        pair = head * (int(tail.max()) + 1) + tail
        memo[k] = torch.unique(pair, return_inverse=True)[1].view_as(x)
    return memo[k]


def recall_mask(
    inputs: Tensor, targets: Tensor, n: int = 8, ignore: Tensor | None = None
) -> Tensor:
    """``(n, L)`` bool: the scored targets that complete an n-gram seen earlier in context.

    Zoology's "associative recall hits" (Arora et al. 2023, §3): ``targets[t]`` is a hit
    when the n-gram ``inputs[t-n+2 : t+1] + targets[t]`` already occurs whole within
    ``inputs[: t+1]``, so the model could copy it from its context. Zoology counts token
    bigrams; a BPE token of English or code is 3-4 bytes, so at byte level ``n = 8`` is
    about two tokens, where a shorter n-gram repeats by chance (``n = 2`` marks three
    bytes in four of a 1024-byte window of code).

    ``ignore``: tokens that alone make no hit: an n-gram made only of them does not
    count (the ``text`` task passes whitespace: a third of 8-byte repeats in code are
    indentation, predictable without looking back). Zoology instead keeps bigrams rare
    in the training data, which needs training counts.

    Exact: n-grams are numbered densely (``unique``), never hashed.
    """
    if inputs.shape != targets.shape or inputs.dim() != 2:
        raise TaskConfigError(
            f"inputs {tuple(inputs.shape)} and targets {tuple(targets.shape)} must be (n, L)"
        )
    if not (is_int(n) and n >= 1):
        raise TaskConfigError(f"n={n!r} must be an integer >= 1")
    rows, length = inputs.shape
    inputs, targets = inputs.long(), targets.to(inputs.device).long()
    time = torch.arange(length, device=inputs.device).expand(rows, length)  # (n, L)
    row = torch.arange(rows, device=inputs.device)[:, None].expand(rows, length)
    grams = {0: torch.zeros_like(inputs), 1: inputs}  # the empty gram, single tokens
    prefix = _gram_ids(inputs, n - 1, grams)  # (n, L): the (n-1)-gram ending at t
    base = max(int(inputs.max()), int(targets.max())) + 1
    # Candidates: the n-grams of inputs ending at j >= n - 1 (their prefix ends at j - 1);
    # queries: the n-gram each scored target completes, from t >= n - 2.
    cand = F.pad(prefix, (1, 0))[:, :length] * base + inputs  # (n, L)
    query = prefix * base + targets.clamp(min=0)  # (n, L)
    is_cand = time >= n - 1
    is_query = (targets != IGNORE) & (time >= n - 2)
    if ignore is not None:  # some token of the n-gram must be outside ``ignore``
        ignore = ignore.to(inputs.device)
        kept = F.pad(torch.isin(inputs, ignore).logical_not().cumsum(1), (1, 0))  # (n, L + 1)
        start = (time - n + 2).clamp(min=0)  # the prefix is inputs[start : t + 1]
        in_prefix = kept.gather(1, time + 1) - kept.gather(1, start)
        is_query &= (in_prefix > 0) | ~torch.isin(targets, ignore)
    hits = torch.zeros_like(is_query)
    if not (is_query.any() and is_cand.any()):
        return hits
    values = torch.cat([cand[is_cand], query[is_query]])  # row-major, candidates first
    dense = torch.unique(values, return_inverse=True)[1]
    key = torch.cat([row[is_cand], row[is_query]]) * (int(dense.max()) + 1) + dense
    ids = torch.unique(key, return_inverse=True)[1]  # one id per (row, n-gram)
    n_cand = int(is_cand.sum())
    # The earliest end of each (row, n-gram) among the candidates; queries compare to it.
    first = torch.full((int(ids.max()) + 1,), length, device=inputs.device)
    first.scatter_reduce_(0, ids[:n_cand], time[is_cand], "amin")
    hits[is_query] = first[ids[n_cand:]] <= time[is_query]  # an occurrence ending at j <= t
    return hits
