"""Negative mining for triplet data: for each anchor, candidates ranked by cosine similarity.

``lowest``: the least similar candidates. ``hard``: the most similar candidates that are neither a
positive of the anchor nor a near-duplicate of one (cosine to any of its positives at least
``max_positive_similarity``). An anchor with several positives gets its ranked candidates dealt in
turn (first positive row → best candidate, second → next, …). Ties are broken by candidate
position, so the result depends only on the vectors: deterministic, no randomness involved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from ..embeddings.vectors import normalise, top_columns
from ..errors import LabError
from ..progress import ProgressFactory, silent

MINING_RULES: tuple[str, ...] = ("lowest", "hard")
DEFAULT_MAX_POSITIVE_SIMILARITY = 0.95
ANCHOR_CHUNK = 512
SHORTLIST_MARGIN = 16


@dataclass(frozen=True)
class Mining:
    """How to mine: the rule, the model's encode function (texts → vectors) and what identifies it."""

    rule: str
    encode: Callable[[list[str]], np.ndarray]
    model: str
    fingerprint: str
    max_positive_similarity: float = DEFAULT_MAX_POSITIVE_SIMILARITY

    def describe(self) -> dict[str, object]:
        """What the dataset's meta records about the mining."""
        rule = ("least similar candidate" if self.rule == "lowest" else
                "most similar candidate that is not a positive of the anchor")
        return {"rule": self.rule, "description": f"{rule}; candidates with cosine ≥ "
                f"{self.max_positive_similarity:g} to one of the anchor's positives are skipped",
                "model": self.model, "model_fingerprint": self.fingerprint,
                "max_positive_similarity": self.max_positive_similarity, "similarity": "cosine"}


def _ranked(scores: np.ndarray, rule: str, size: int) -> np.ndarray:
    """The ``size`` best candidate positions under ``rule`` (hard: highest score), ties by position."""
    key = scores if rule == "hard" else -scores
    return top_columns(key[None, :], min(size, len(key)))[0]


def _eligible(order: np.ndarray, positives: Sequence[int], candidates: np.ndarray, threshold: float) -> np.ndarray:
    """``order`` without the positives and without near-duplicates of a positive."""
    if not len(positives):
        return order
    keep = ~np.isin(order, positives)
    near = (candidates[order] @ candidates[list(positives)].T).max(axis=1) >= threshold
    return order[keep & ~near]


def mine_negatives(anchor_vectors: np.ndarray, candidate_vectors: np.ndarray, positives: Sequence[Sequence[int]],
                   wanted: Sequence[int], rule: str,
                   max_positive_similarity: float = DEFAULT_MAX_POSITIVE_SIMILARITY) -> list[list[int]]:
    """Per anchor ``i``: ``wanted[i]`` candidate positions (fewer only when no candidate is eligible,
    then none), ``positives[i]`` being the positions of its positives among the candidates."""
    if rule not in MINING_RULES:
        raise ValueError(f"unknown mining rule '{rule}' (expected one of: {', '.join(MINING_RULES)})")
    anchors = normalise(np.asarray(anchor_vectors, dtype=np.float32))
    candidates = normalise(np.asarray(candidate_vectors, dtype=np.float32))
    out: list[list[int]] = []
    for start in range(0, len(anchors), ANCHOR_CHUNK):
        scores = anchors[start:start + ANCHOR_CHUNK] @ candidates.T
        for offset, row in enumerate(scores):
            i = start + offset
            need = int(wanted[i])
            size = need + len(positives[i]) + SHORTLIST_MARGIN
            eligible = _eligible(_ranked(row, rule, size), positives[i], candidates, max_positive_similarity)
            if len(eligible) < need and size < len(row):
                eligible = _eligible(_ranked(row, rule, len(row)), positives[i], candidates, max_positive_similarity)
            out.append([int(eligible[j % len(eligible)]) for j in range(need)] if len(eligible) else [])
    return out


def model_mining(lab: Any, rule: str, model: str, max_positive_similarity: float = DEFAULT_MAX_POSITIVE_SIMILARITY,
                 progress: ProgressFactory | None = None) -> Mining:
    """Mining with the lab's model ``model`` (a base model key or a fine-tuned model name), its vectors
    read from and added to the workspace's embedding cache."""
    from ..embeddings import encode_cached

    if rule not in MINING_RULES:
        raise LabError(f"--mine '{rule}': expected one of {', '.join(MINING_RULES)}")
    if not 0 < max_positive_similarity <= 1:
        raise LabError(f"--max-positive-similarity {max_positive_similarity}: expected a cosine in (0, 1]")
    encoder = lab.encoder(model)
    progress = progress or silent()

    def encode(texts: list[str]) -> np.ndarray:
        with progress(f"Encoding for negative mining ({model})", len(texts)) as advance:
            return encode_cached(encoder, texts, lab.embedding_cache, progress=advance)

    return Mining(rule, encode, model, encoder.fingerprint, max_positive_similarity)
