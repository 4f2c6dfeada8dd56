"""The documents a query matches with their float32 scores, and the set algebra that combines them.

Sums are accumulated in float64 and rounded to float32 once, as Lucene's disjunction and
conjunction scorers do (``double score += subScorer.score(); return (float) score``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DOC = np.int64
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


@dataclass(frozen=True)
class Union:
    """Documents matching any of several parts: their float64 score sums, match counts and max score."""

    docs: np.ndarray
    sums: np.ndarray
    counts: np.ndarray
    best: np.ndarray


class Accumulator:
    """Dense per-document buffers reused by every union of one batch (cleared after each use).

    A union whose parts hold few postings sorts them instead; both give the same float64 sums,
    added part by part in clause order.
    """

    def __init__(self, n_docs: int):
        self.n_docs = n_docs
        self._seen = np.zeros(0, dtype=bool)
        self._counts = np.zeros(0, dtype=np.uint16)
        self._sums = np.zeros(0)
        self._best = np.zeros(0, dtype=np.float32)

    def union(self, parts: list[Matches], sums: bool = True, best: bool = False, counts: bool = False) -> Union:
        """The union of ``parts``; the flags say which of float64 sums, maxima and counts are needed."""
        total = sum(len(p) for p in parts)
        if total == 0:
            return Union(EMPTY.docs, _NONE, _NO_COUNTS, _NONE)
        if len(parts) == 1:
            only = parts[0]
            wide = only.scores.astype(np.float64)
            return Union(only.docs, wide, np.ones(len(only), dtype=np.int64), wide)
        if total * DENSE_FRACTION <= self.n_docs:
            return _sorted_union(parts, sums, best, counts)
        if len(self._seen) != self.n_docs:
            self._seen = np.zeros(self.n_docs, dtype=bool)
            self._counts = np.zeros(self.n_docs, dtype=np.uint16)
            self._sums = np.zeros(self.n_docs)
            self._best = np.zeros(self.n_docs, dtype=np.float32)
        for part in parts:
            self._seen[part.docs] = True
            if counts:
                self._counts[part.docs] += ONE_COUNT
            if sums:
                self._sums[part.docs] += part.scores
            if best:
                self._best[part.docs] = np.maximum(self._best[part.docs], part.scores)
        docs = np.flatnonzero(self._seen)
        self._seen[docs] = False
        return Union(docs, _take_and_clear(self._sums, docs) if sums else _NONE,
                     _take_and_clear(self._counts, docs).astype(np.int64) if counts else _NO_COUNTS,
                     _take_and_clear(self._best, docs).astype(np.float64) if best else _NONE)


def _take_and_clear(buffer: np.ndarray, docs: np.ndarray) -> np.ndarray:
    values = buffer[docs]
    buffer[docs] = 0
    return values


ONE_COUNT = np.uint16(1)
_NONE = np.zeros(0)
_NO_COUNTS = np.zeros(0, dtype=np.int64)


def _sorted_union(parts: list[Matches], sums: bool, best: bool, counts: bool) -> Union:
    docs = np.concatenate([p.docs for p in parts])
    scores = np.concatenate([p.scores for p in parts])
    order = np.argsort(docs, kind="stable")
    sorted_docs = docs[order]
    starts = np.flatnonzero(np.concatenate(([True], sorted_docs[1:] != sorted_docs[:-1])))
    ordered = scores[order].astype(np.float64)
    return Union(sorted_docs[starts], np.add.reduceat(ordered, starts) if sums else _NONE,
                 np.diff(np.append(starts, len(docs))) if counts else _NO_COUNTS,
                 np.maximum.reduceat(ordered, starts) if best else _NONE)


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


def union(arrays: list[np.ndarray], n_docs: int) -> np.ndarray:
    """Sorted unique docs of several arrays (a sort for few docs, a dense mask for many)."""
    total = sum(len(a) for a in arrays)
    if total == 0:
        return EMPTY.docs
    if len(arrays) == 1:
        return arrays[0].astype(DOC)
    if total * DENSE_FRACTION <= n_docs:
        docs = np.sort(np.concatenate(arrays))
        return docs[np.concatenate(([True], docs[1:] != docs[:-1]))].astype(DOC)
    mask = np.zeros(n_docs, dtype=bool)
    for array in arrays:
        mask[array] = True
    return np.flatnonzero(mask)


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
        chosen = np.flatnonzero(scores >= kth)
        if len(chosen) > k:  # more ties at the k-th score than places left: the first of them (lowest positions)
            tie = scores[chosen] == kth
            chosen = chosen[~tie | (np.cumsum(tie) <= k - (len(chosen) - np.count_nonzero(tie)))]
    else:
        chosen = np.arange(n)
    return chosen[np.argsort(-scores[chosen], kind="stable")]
