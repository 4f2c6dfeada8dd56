"""Vector arithmetic shared by every exact cosine computation of the lab."""

from __future__ import annotations

import numpy as np


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), so a dot product is the cosine."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


def top_columns(scores: np.ndarray, k: int) -> np.ndarray:
    """Per row, the columns of the ``k`` highest scores, best first, equal scores in column order (as a
    stable engine ranks ties); ``k`` at most the number of columns."""
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    part_scores = np.take_along_axis(scores, part, axis=1)
    nearest = np.take_along_axis(part, np.lexsort((part, -part_scores), axis=1), axis=1)
    kth = part_scores.min(axis=1, keepdims=True)
    # where the k-th score is tied with columns the partition left out, pick the tied columns in order
    straddling = np.flatnonzero((scores == kth).sum(axis=1) > (part_scores == kth).sum(axis=1))
    for row in straddling:
        nearest[row] = np.argsort(-scores[row], kind="stable")[:k]
    return nearest
