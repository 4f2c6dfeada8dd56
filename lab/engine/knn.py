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

import numpy as np

from .fields import VectorField
from .matches import DOC, EMPTY, Matches
from .similarity import F32, ONE

HALF = F32(0.5)
BLOCK_CELLS = 1 << 23
"""Query rows per block are chosen so one block of scores holds about this many floats."""
L2_MARGIN = 16
"""Extra l2 candidates rescored exactly beyond k."""

FORMULAS = {"cosinesimil": "score = (1 + cosine) / 2", "l2": "score = 1 / (1 + squared l2 distance)",
            "innerproduct": "score = dot < 0 ? 1 / (1 - dot) : dot + 1"}


def query_matrix(field: VectorField, vectors: list[tuple[float, ...]]) -> np.ndarray:
    """The query vectors as float32 rows (unit length for cosinesimil)."""
    q = np.asarray(vectors, dtype=np.float32)
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


def search(field: VectorField, vectors: list[tuple[float, ...]], ks: list[int],
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
    rows_per_block = max(1, min(len(vectors), BLOCK_CELLS // max(n_docs, 1)))
    results: list[Matches] = []
    for lo in range(0, len(vectors), rows_per_block):
        hi = min(lo + rows_per_block, len(vectors))
        block = queries[lo:hi]
        products = block @ matrix.T
        if space == "l2":
            scores = scores_from_products(space, products, np.einsum("ij,ij->i", block, block), field.square_norms())
        else:
            scores = scores_from_products(space, products)
        scores[:, ~field.present] = -np.inf
        for row in range(hi - lo):
            mask = allowed[lo + row]
            if mask is not None:
                keep = np.zeros(n_docs, dtype=bool)
                keep[mask] = True
                scores[row, ~keep] = -np.inf
        wanted = [ks[i] + (L2_MARGIN if space == "l2" else 0) for i in range(lo, hi)]
        for row, chosen in enumerate(top_rows(scores, wanted)):
            i = lo + row
            if space == "l2":
                exact = exact_l2_scores(field, queries[i], chosen)
                best = _best(chosen, exact, ks[i])
                results.append(_ascending(chosen[best], exact[best]))
            else:
                results.append(_ascending(chosen, scores[row, chosen]))
    return results


def _best(docs: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    order = np.lexsort((docs, -scores))
    return order[:k]


def _ascending(docs: np.ndarray, scores: np.ndarray) -> Matches:
    order = np.argsort(docs)
    return Matches(docs[order].astype(DOC), scores[order].astype(np.float32))


def top_rows(scores: np.ndarray, ks: list[int]) -> list[np.ndarray]:
    """Per row, the doc positions of its ``k`` best finite scores (ties: lower doc first)."""
    n = scores.shape[1]
    widest = min(max(ks), n)
    part = np.argpartition(scores, n - widest, axis=1)[:, n - widest:]
    out = []
    for row, k in enumerate(ks):
        values = scores[row]
        cand = part[row]
        cand = cand[np.isfinite(values[cand])]
        k = min(k, len(cand))
        if k == 0:
            out.append(np.zeros(0, dtype=np.int64))
            continue
        order = np.lexsort((cand, -values[cand]))
        kth = values[cand[order[k - 1]]]
        boundary_ties = np.count_nonzero(values == kth)
        if boundary_ties > np.count_nonzero(values[cand] == kth):
            above = np.flatnonzero(values > kth)
            ties = np.flatnonzero(values == kth)[:k - len(above)]
            chosen = np.concatenate([above, ties])
            out.append(chosen[np.lexsort((chosen, -values[chosen]))])
        else:
            out.append(cand[order[:k]])
    return out

