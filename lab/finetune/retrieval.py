"""Exact dense retrieval over the catalogue (cosine top-k), scored with the lab's metrics."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ..embeddings.vectors import normalise, top_columns
from ..evaluation.metrics import DEFAULT_METRICS, Qrels, evaluate_ranking, mean_metrics

QUERY_CHUNK = 512


def top_k(queries: np.ndarray, corpus: np.ndarray, k: int) -> np.ndarray:
    """Row i: indices of the ``k`` corpus vectors most cosine-similar to query i, best first."""
    queries, corpus = normalise(queries), normalise(corpus)
    k = min(k, len(corpus))
    out = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), QUERY_CHUNK):
        out[start:start + QUERY_CHUNK] = top_columns(queries[start:start + QUERY_CHUNK] @ corpus.T, k)
    return out


def dense_ranking(query_ids: Sequence[str], query_vectors: np.ndarray, product_ids: Sequence[str],
                  product_vectors: np.ndarray, k: int = 100) -> dict[str, list[str]]:
    """query id → the ``k`` nearest product ids."""
    hits = top_k(query_vectors, product_vectors, k)
    ids = np.asarray(product_ids, dtype=object)
    return {qid: ids[row].tolist() for qid, row in zip(query_ids, hits)}


def dense_metrics(qrels: Qrels, ranking: dict[str, list[str]]) -> tuple[dict[str, float], pd.DataFrame]:
    """Mean and per-query leaderboard metrics (graded, ranx) of a dense ranking."""
    per_query = evaluate_ranking(qrels, ranking, DEFAULT_METRICS)
    return mean_metrics(per_query), per_query
