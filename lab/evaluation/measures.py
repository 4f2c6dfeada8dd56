"""Ranking measures over graded judgments, vectorised over queries with numpy, defined as ranx defines them.

A document is relevant when its grade is at least 1 (ranx's ``rel_lvl``); unjudged documents count as
grade 0. With ``R`` the query's relevant documents and ``rel_i`` the grade at rank ``i``:

* ``ndcg@k``: Σ rel_i / log2(i + 1) over the top k of relevant grades, divided by the same sum over
  the judgments sorted by grade (Järvelin's linear gains); 0 when nothing is relevant;
* ``mrr@k``: 1 / the rank of the first relevant document in the top k;
* ``map@k``: Σ precision@i over the relevant ranks i ≤ k, divided by |R| (all relevant documents);
* ``recall@k``: relevant documents in the top k / |R|;
* ``precision@k``: relevant documents in the top k / k (a shorter list still divides by k);
* ``judged@k``: judged documents (any grade) in the top k / k, which ranx lacks.

Every value equals ranx's (``tests/test_evaluation_measures.py`` checks them against ranx on random runs)
without compiling ranx's numba kernels in every process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

RELEVANT = 1
"""The lowest relevant grade (ranx's rel_lvl)."""


@dataclass(frozen=True)
class Judged:
    """The judgments met by each query's ranking: one row per query, one column per rank."""

    grades: np.ndarray
    """Grade of the document at each rank (0: unjudged, or past the end of the list)."""
    judged: np.ndarray
    """Whether the document at each rank is judged (any grade)."""
    ideal: np.ndarray
    """The query's relevant grades, best first, zero-padded."""
    relevant: np.ndarray
    """Number of relevant documents per query."""


def judged_rankings(qrels: dict[str, dict[str, int]], rankings: Sequence[Sequence[str]],
                    query_ids: Sequence[str], depth: int) -> Judged:
    """The grades each ranking meets in its top ``depth`` (``rankings[i]`` ranks ``query_ids[i]``).

    A document listed twice counts at its first rank only.
    """
    n = len(query_ids)
    grades = np.zeros((n, depth))
    judged = np.zeros((n, depth), dtype=bool)
    ideal = np.zeros((n, depth))
    relevant = np.zeros(n)
    for row, (query, ranking) in enumerate(zip(query_ids, rankings)):
        grading = qrels.get(query, {})
        top = list(dict.fromkeys(ranking))[:depth]
        found = [grading.get(doc) for doc in top]
        grades[row, :len(found)] = [0 if g is None else g for g in found]
        judged[row, :len(found)] = [g is not None for g in found]
        good = sorted((g for g in grading.values() if g >= RELEVANT), reverse=True)
        ideal[row, :min(len(good), depth)] = good[:depth]
        relevant[row] = len(good)
    return Judged(grades, judged, ideal, relevant)


def _hits(table: Judged, k: int) -> np.ndarray:
    return table.grades[:, :k] >= RELEVANT


def _per_relevant(counts: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    return np.divide(counts, relevant, out=np.zeros_like(counts, dtype=float), where=relevant > 0)


def ndcg(table: Judged, k: int) -> np.ndarray:
    """nDCG@k with linear gains."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    gains = np.where(_hits(table, k), table.grades[:, :k], 0.0)
    dcg = gains @ discounts[:gains.shape[1]]
    ideal = table.ideal[:, :k] @ discounts[:min(k, table.ideal.shape[1])]
    return np.divide(dcg, ideal, out=np.zeros_like(dcg), where=ideal > 0)


def reciprocal_rank(table: Judged, k: int) -> np.ndarray:
    """1 / rank of the first relevant document in the top k (0 if none)."""
    hits = _hits(table, k)
    first = hits.argmax(axis=1)
    return np.where(hits.any(axis=1), 1.0 / (first + 1), 0.0)


def average_precision(table: Judged, k: int) -> np.ndarray:
    """Σ precision@i at relevant ranks i ≤ k, over all relevant documents."""
    hits = _hits(table, k)
    precision = np.cumsum(hits, axis=1) / np.arange(1, hits.shape[1] + 1)
    return _per_relevant((precision * hits).sum(axis=1), table.relevant)


def recall(table: Judged, k: int) -> np.ndarray:
    """Relevant documents in the top k over all relevant documents."""
    return _per_relevant(_hits(table, k).sum(axis=1).astype(float), table.relevant)


def precision(table: Judged, k: int) -> np.ndarray:
    """Relevant documents in the top k over k."""
    return _hits(table, k).sum(axis=1) / k


def judged_share(table: Judged, k: int) -> np.ndarray:
    """Judged documents (any grade) in the top k over k."""
    return table.judged[:, :k].sum(axis=1) / k


MEASURES: dict[str, Callable[[Judged, int], np.ndarray]] = {
    "ndcg": ndcg, "mrr": reciprocal_rank, "map": average_precision, "recall": recall,
    "precision": precision, "judged": judged_share}
"""Measure families by the name before ``@k``."""


def parse_measure(name: str) -> tuple[Callable[[Judged, int], np.ndarray], int] | None:
    """The measure function and cutoff of a name such as ``ndcg@10``; None when it is not one."""
    family, _, cutoff = name.partition("@")
    if family not in MEASURES or not cutoff.isdigit() or int(cutoff) < 1:
        return None
    return MEASURES[family], int(cutoff)
