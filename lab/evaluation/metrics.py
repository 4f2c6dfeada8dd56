"""Scoring runs against graded judgments: ranx's measures, vectorised (plus judged@k, which ranx lacks)."""

from __future__ import annotations

from typing import Iterable, Sequence

import pandas as pd

from ..errors import LabError
from .measures import MEASURES, judged_rankings, parse_measure

DEFAULT_METRICS = ("mrr@10", "map@10", "ndcg@10", "ndcg@100", "recall@100", "precision@10", "judged@10")
PRIMARY_METRIC = "ndcg@10"

Qrels = dict[str, dict[str, int]]
Ranking = dict[str, list[str]]
"""query id → document ids in the order the backend ranked them."""


def evaluate_ranking(qrels: Qrels, ranking: Ranking,
                     metrics: Iterable[str] = DEFAULT_METRICS) -> pd.DataFrame:
    """Per-query metric values (one row per judged query, one column per metric).

    Metrics are computed on the ranking exactly as the backend returned it, so documents with
    equal scores keep the engine's order, as a user would see them. A judged query with no hits
    scores 0 everywhere. Values are ranx's (see :mod:`lab.evaluation.measures`).
    """
    metrics = list(metrics)
    parsed = []
    for name in metrics:
        measure = parse_measure(name)
        if measure is None:
            check_metric(name, [f"{family}@k" for family in MEASURES])
        parsed.append(measure)
    query_ids = sorted(qrels)
    depth = max((k for _, k in parsed), default=1)
    table = judged_rankings(qrels, [ranking.get(q, []) for q in query_ids], query_ids, depth)
    frame = pd.DataFrame({name: measure(table, k) for name, (measure, k) in zip(metrics, parsed)},
                         index=pd.Index(query_ids, name="query_id", dtype=object), columns=metrics)
    return frame.astype(float)


def mean_metrics(per_query: pd.DataFrame) -> dict[str, float]:
    """The mean of each metric over queries."""
    return {m: float(per_query[m].mean()) if len(per_query) else 0.0 for m in per_query.columns}


def check_metric(name: str, known: Sequence[str] = DEFAULT_METRICS) -> str:
    """``name`` if it is one of ``known`` (default: the lab's metrics), else a LabError listing them."""
    if name not in known:
        raise LabError(f"unknown metric '{name}' (known: {', '.join(known)})")
    return name
