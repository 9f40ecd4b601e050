"""Accuracy on scored positions (docs/design.md): token accuracy and exact match per example."""

from __future__ import annotations

from torch import Tensor

from .base import IGNORE, TaskConfigError


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
