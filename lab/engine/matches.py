"""The documents a query matches with their float32 scores, and the set algebra that combines them.

Sums are accumulated in float64 and rounded to float32 once, as Lucene's disjunction and
conjunction scorers do (``double score += subScorer.score(); return (float) score``). A union
either sorts the concatenated postings or, when they cover a good part of the index, scatters
them into dense per-document arrays (``np.bincount``); both give the same float64 sums.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DOC = np.int32
DENSE_FRACTION = 16
"""Unions of more than n_docs / DENSE_FRACTION postings use dense per-document accumulators."""


@dataclass(frozen=True)
class Matches:
    """Matching documents (ascending, unique) and their scores."""

    docs: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.docs)

    def score_of(self, doc: int) -> float | None:
        i = int(np.searchsorted(self.docs, doc))
        return float(self.scores[i]) if i < len(self.docs) and self.docs[i] == doc else None


EMPTY = Matches(np.zeros(0, dtype=DOC), np.zeros(0, dtype=np.float32))


def constant(docs: np.ndarray, score: np.float32) -> Matches:
    return Matches(docs, np.full(len(docs), score, dtype=np.float32))


def group_sum(docs: np.ndarray, scores: np.ndarray, n_docs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique docs of (possibly repeated) ``docs``, the float64 sum of their scores, and their counts."""
    if len(docs) == 0:
        return docs.astype(DOC), np.zeros(0), np.zeros(0, dtype=np.int64)
    if len(docs) * DENSE_FRACTION > n_docs:
        counts = np.bincount(docs, minlength=n_docs)
        sums = np.bincount(docs, weights=scores.astype(np.float64), minlength=n_docs)
        unique = np.flatnonzero(counts).astype(DOC)
        return unique, sums[unique], counts[unique]
    order = np.argsort(docs, kind="stable")
    sorted_docs = docs[order]
    starts = np.flatnonzero(np.concatenate(([True], sorted_docs[1:] != sorted_docs[:-1])))
    sums = np.add.reduceat(scores[order].astype(np.float64), starts)
    counts = np.diff(np.append(starts, len(docs)))
    return sorted_docs[starts].astype(DOC), sums, counts


def group_max(docs: np.ndarray, scores: np.ndarray, n_docs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique docs, the float64 sum and the max of their scores (scores are >= 0)."""
    unique, sums, _counts = group_sum(docs, scores, n_docs)
    if len(docs) * DENSE_FRACTION > n_docs:
        best = np.zeros(n_docs, dtype=np.float32)
        np.maximum.at(best, docs, scores)
        return unique, sums, best[unique].astype(np.float64)
    order = np.lexsort((scores, docs))
    sorted_docs = docs[order]
    last = np.flatnonzero(np.append(sorted_docs[1:] != sorted_docs[:-1], True))
    return unique, sums, scores[order][last].astype(np.float64)


def concat(parts: list[Matches]) -> tuple[np.ndarray, np.ndarray]:
    if len(parts) == 1:
        return parts[0].docs, parts[0].scores
    return np.concatenate([p.docs for p in parts]), np.concatenate([p.scores for p in parts])


def member(docs: np.ndarray, of: np.ndarray) -> np.ndarray:
    """Boolean mask: which of ``docs`` are in the sorted array ``of``."""
    if len(of) == 0 or len(docs) == 0:
        return np.zeros(len(docs), dtype=bool)
    i = np.searchsorted(of, docs)
    i[i == len(of)] = len(of) - 1
    return of[i] == docs


def intersect(docs: np.ndarray, *others: np.ndarray) -> np.ndarray:
    """Sorted docs present in every array."""
    for other in sorted(others, key=len):
        if len(docs) > len(other):
            docs, other = other, docs
        docs = docs[member(docs, other)]
    return docs


def union(arrays: list[np.ndarray]) -> np.ndarray:
    if not arrays:
        return EMPTY.docs
    return np.unique(np.concatenate(arrays)).astype(DOC)


def restrict(matches: Matches, docs: np.ndarray, keep: bool = True) -> Matches:
    """The matches whose doc is (``keep``) or is not (``not keep``) in the sorted array ``docs``."""
    mask = member(matches.docs, docs)
    if not keep:
        mask = ~mask
    return Matches(matches.docs[mask], matches.scores[mask])


def scores_at(matches: Matches, docs: np.ndarray) -> np.ndarray:
    """Scores of ``docs`` (all of which match) in ``matches``."""
    return matches.scores[np.searchsorted(matches.docs, docs)]


def top(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` best scores: score descending, then position (= doc) ascending."""
    n = len(scores)
    if k <= 0 or n == 0:
        return np.zeros(0, dtype=np.int64)
    if k < n:
        kth = np.partition(scores, n - k)[n - k]
        above = np.flatnonzero(scores > kth)
        ties = np.flatnonzero(scores == kth)[:k - len(above)]
        chosen = np.sort(np.concatenate([above, ties]))
    else:
        chosen = np.arange(n)
    return chosen[np.argsort(-scores[chosen], kind="stable")]
