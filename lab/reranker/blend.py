"""A reranked window's scores blended with the first stage's: the lab's ``ext.rerank.first_stage_weight``."""

from __future__ import annotations

import numpy as np


def blend_first_stage(reranker_scores: np.ndarray, first_stage_scores: np.ndarray, weight: float) -> np.ndarray:
    """One query's window scored (1 - ``weight``) x the reranker's score + ``weight`` x the first stage's, each
    min-max scaled over the window (all equal: 0); ``weight`` 0 leaves the reranker's scores as they are."""
    if weight == 0:
        return reranker_scores

    def scaled(scores: np.ndarray) -> np.ndarray:
        scores = np.asarray(scores, dtype=np.float64)
        span = scores.max() - scores.min() if scores.size else 0.0
        return (scores - scores.min()) / span if span > 0 else np.zeros_like(scores)

    return (1 - weight) * scaled(reranker_scores) + weight * scaled(first_stage_scores)
