"""Exact k-NN: score every document with a vector, keep the best ``k`` (ties: lower doc first).

Scores follow the OpenSearch k-NN plugin (Lucene engine) in float32:

* ``cosinesimil``: ``(1 + cos) / 2`` (document and query vectors are unit-normalised once, so the
  cosine is one dot product);
* ``l2``: ``1 / (1 + squared distance)``;
* ``innerproduct``: ``1 / (1 - dot)`` when ``dot < 0``, else ``dot + 1``.

Queries on the same field are answered together, one matrix product per block of queries. l2
candidates are ranked by ``|q|^2 + |d|^2 - 2 q.d`` and then rescored by the exact squared distance.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .fields import VectorField
from .matches import DOC, EMPTY, Matches
from .similarity import F32, ONE

HALF = F32(0.5)
BLOCK_CELLS = 1 << 24
"""Query rows per block are chosen so one block of scores holds about this many floats."""
TOP_ROWS = 16
"""Rows per partition when selecting each query's top k."""
GROUP = 64
"""Documents per group whose maximum bounds a row's k-th best value from below."""
GROUP_MARGIN = 4
"""Groups are used when there are at least this many times more groups than hits wanted."""
L2_MARGIN = 16
"""Extra l2 candidates rescored exactly beyond k."""

FORMULAS = {"cosinesimil": "score = (1 + cosine) / 2", "l2": "score = 1 / (1 + squared l2 distance)",
            "innerproduct": "score = dot < 0 ? 1 / (1 - dot) : dot + 1"}


def query_matrix(field: VectorField, vectors: list[np.ndarray]) -> np.ndarray:
    """The query vectors as float32 rows (unit length for cosinesimil)."""
    q = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), field.spec.dimension)
    if field.spec.space_type == "cosinesimil":
        wide = q.astype(np.float64)
        q = (wide / np.linalg.norm(wide, axis=1, keepdims=True)).astype(np.float32)
    return q


def scores_from_products(space: str, products: np.ndarray, q_square: np.ndarray | None = None,
                         d_square: np.ndarray | None = None) -> np.ndarray:
    """Similarity scores from dot products (and squared norms, for l2)."""
    if space == "cosinesimil":
        return (ONE + products) * HALF
    if space == "innerproduct":
        with np.errstate(divide="ignore"):
            return np.where(products < 0, ONE / (ONE - products), products + ONE).astype(np.float32)
    assert q_square is not None and d_square is not None
    distance = np.maximum(q_square[:, None] + d_square[None, :] - F32(2) * products, F32(0))
    return ONE / (ONE + distance)


def exact_l2_scores(field: VectorField, query: np.ndarray, docs: np.ndarray) -> np.ndarray:
    assert field.matrix is not None
    diff = field.matrix[docs].astype(np.float64) - query.astype(np.float64)
    return (ONE / (ONE + np.einsum("ij,ij->i", diff, diff).astype(np.float32))).astype(np.float32)


def search(field: VectorField, vectors: list[np.ndarray], ks: list[int],
           allowed: list[np.ndarray | None]) -> list[Matches]:
    """For each query vector: its top ``k`` documents (ascending) with their similarity scores.

    ``allowed[i]`` restricts query i to those documents (a knn ``filter``); None means all.
    """
    if field.matrix is None or not field.present.any():
        return [EMPTY for _ in vectors]
    matrix = field.matrix
    n_docs = len(field.present)
    space = field.spec.space_type
    queries = query_matrix(field, vectors)
    absent = np.flatnonzero(~field.present)
    rows_per_block = max(1, min(len(vectors), BLOCK_CELLS // max(n_docs, 1)))
    results: list[Matches] = []
    for lo in range(0, len(vectors), rows_per_block):
        hi = min(lo + rows_per_block, len(vectors))
        block = queries[lo:hi]
        raw = block @ matrix.T
        if space == "l2":
            raw = scores_from_products(space, raw, np.einsum("ij,ij->i", block, block), field.square_norms())
        raw[:, absent] = -np.inf
        for row in range(hi - lo):
            mask = allowed[lo + row]
            if mask is not None:
                keep = np.zeros(n_docs, dtype=bool)
                keep[mask] = True
                raw[row, ~keep] = -np.inf
        wanted = [ks[i] + (L2_MARGIN if space == "l2" else 0) for i in range(lo, hi)]
        score = (lambda values: values) if space == "l2" else (lambda values: scores_from_products(space, values))
        for row, (chosen, values) in enumerate(top_rows(raw, wanted, score)):
            i = lo + row
            if space == "l2":
                exact = exact_l2_scores(field, queries[i], chosen)
                best = np.lexsort((chosen, -exact))[:ks[i]]
                chosen, values = chosen[best], exact[best]
            order = np.argsort(chosen)
            results.append(Matches(chosen[order].astype(DOC), values[order].astype(np.float32)))
    return results


def top_rows(raw: np.ndarray, ks: list[int], score: Callable[[np.ndarray], np.ndarray]
             ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per row, the ``k`` docs with the best finite ``score(raw)`` (ties: lower doc first) and their scores.

    ``score`` is non-decreasing, so one partition of the raw values finds each row's k-th best raw
    value; every doc whose raw value maps to at least that score is a candidate (k of them, more
    only on ties), and candidates are ordered by (-score, doc). Rows are handled a few at a time to
    keep the partition's copy small.
    """
    out = []
    for lo in range(0, len(ks), TOP_ROWS):
        out.extend(_top_rows(raw[lo:lo + TOP_ROWS], ks[lo:lo + TOP_ROWS], score))
    return out


def _top_rows(raw: np.ndarray, ks: list[int], score: Callable[[np.ndarray], np.ndarray]
              ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Candidates from group maxima: column j, j + span, … j + (GROUP - 1)·span form group j; the k-th best
    group maximum is a bound no higher than the row's k-th best value, and only the few groups whose
    maximum reaches it are read again. Falls back to a partition of whole rows when the rows are short
    or have fewer than k finite values."""
    rows, n = raw.shape
    widest = min(max(ks), n)
    span = n // GROUP
    if span < GROUP_MARGIN * widest:
        return _top_rows_partitioned(raw, ks, score)
    maxima = raw[:, :span * GROUP].reshape(rows, GROUP, span).max(axis=1)
    best = np.partition(maxima, span - widest, axis=1)[:, span - widest:]
    best.sort(axis=1)
    bound = best[np.arange(rows), widest - np.minimum(ks, n)]
    if not np.isfinite(bound).all():
        return _top_rows_partitioned(raw, ks, score)
    row_of, group = np.nonzero(maxima >= bound[:, None])
    columns = group[:, None] + np.arange(GROUP) * span
    keep = raw[row_of[:, None], columns] >= bound[row_of][:, None]
    row_of, columns = np.broadcast_to(row_of[:, None], columns.shape)[keep], columns[keep]
    tail = np.arange(span * GROUP, n)
    tail_rows, tail_at = np.nonzero(raw[:, tail] >= bound[:, None])
    row_of, columns = np.concatenate([row_of, tail_rows]), np.concatenate([columns, tail[tail_at]])
    order = np.argsort(row_of, kind="stable")
    row_of, columns = row_of[order], columns[order]
    edges = np.searchsorted(row_of, np.arange(rows + 1))
    candidates = [columns[edges[row]:edges[row + 1]] for row in range(rows)]
    kth = np.array([np.partition(raw[row, cand], len(cand) - min(k, n))[len(cand) - min(k, n)]
                    for row, (cand, k) in enumerate(zip(candidates, ks))], dtype=raw.dtype)
    lower = _lowest_with_same_score(kth, score)
    out = []
    for row, (cand, k) in enumerate(zip(candidates, ks)):
        if lower[row] < bound[row]:  # equal scores reach below the bound: read the whole row
            cand = np.flatnonzero(raw[row] >= lower[row])
        else:
            cand = cand[raw[row, cand] >= lower[row]]
        values = score(raw[row, cand])
        best_k = np.lexsort((cand, -values))[:k]
        out.append((cand[best_k], values[best_k]))
    return out


def _top_rows_partitioned(raw: np.ndarray, ks: list[int], score: Callable[[np.ndarray], np.ndarray]
              ) -> list[tuple[np.ndarray, np.ndarray]]:
    n = raw.shape[1]
    widest = min(max(ks), n)
    top_values = np.partition(raw, n - widest, axis=1)[:, n - widest:]
    top_values.sort(axis=1)
    kth = np.array([top_values[row, widest - min(k, n)] for row, k in enumerate(ks)], dtype=raw.dtype)
    lower = _lowest_with_same_score(np.where(np.isfinite(kth), kth, np.finfo(np.float32).min).astype(raw.dtype),
                                    score)
    rows, cols = np.nonzero(raw >= lower[:, None])
    bounds = np.searchsorted(rows, np.arange(len(ks) + 1))
    out = []
    for row, k in enumerate(ks):
        cand = cols[bounds[row]:bounds[row + 1]]
        values = score(raw[row, cand])
        best = np.lexsort((cand, -values))[:k]
        out.append((cand[best], values[best]))
    return out


def _lowest_with_same_score(values: np.ndarray, score: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """For each value, the smallest float32 whose score equals the value's score (scores round).

    A binary search over float32s in order (their bit patterns mapped to ordered integers).
    """
    target = score(values)
    low = np.full(len(values), _ordered(np.array([np.finfo(np.float32).min], dtype=np.float32))[0])
    high = _ordered(values)
    for _ in range(33):
        middle = (low + high) // 2
        same = score(_from_ordered(middle)) == target
        high = np.where(same, middle, high)
        low = np.where(same, low, middle + 1)
    return _from_ordered(high)


def _ordered(values: np.ndarray) -> np.ndarray:
    bits = values.astype(np.float32).view(np.int32).astype(np.int64)
    return np.where(bits < 0, -(bits & 0x7FFFFFFF), bits)


def _from_ordered(keys: np.ndarray) -> np.ndarray:
    bits = np.where(keys < 0, (-keys) | 0x80000000, keys)
    return bits.astype(np.uint32).view(np.float32)
