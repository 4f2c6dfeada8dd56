"""Scoring runs against graded judgments with ranx (plus judged@k, which ranx lacks)."""

from __future__ import annotations

import os
from pathlib import Path
import warnings
from typing import Iterable

import numpy as np
import pandas as pd

from ..errors import LabError

DEFAULT_METRICS = ("mrr@10", "map@10", "ndcg@10", "ndcg@100", "recall@100", "precision@10", "judged@10")
PRIMARY_METRIC = "ndcg@10"

Qrels = dict[str, dict[str, int]]
Ranking = dict[str, list[str]]
"""query id → document ids in the order the backend ranked them."""


def _rank_scores(ranking: Ranking) -> dict[str, dict[str, float]]:
    """Scores that reproduce each ranking exactly (no tie reordering by ranx)."""
    return {q: {d: float(len(docs) - i) for i, d in enumerate(docs)} for q, docs in ranking.items()}


def _judged_at(qrels: Qrels, ranking: Ranking, k: int, query_ids: Iterable[str]) -> np.ndarray:
    values = []
    for q in query_ids:
        top = ranking.get(q, [])[:k]
        judged = qrels.get(q, {})
        values.append(sum(d in judged for d in top) / k)
    return np.asarray(values, dtype=float)


def numba_cache_dir() -> Path:
    """Where numba keeps the compiled ranx kernels between processes ($NUMBA_CACHE_DIR, else ~/.cache/numba)."""
    return Path(os.environ.get("NUMBA_CACHE_DIR") or Path.home() / ".cache" / "numba")


def metrics_compiled() -> bool:
    """Whether ranx's metric kernels are compiled and cached already (else the first scoring compiles them: ~40 s)."""
    return any(numba_cache_dir().glob("metrics_*/ndcg*.nbc"))


def evaluate_ranking(qrels: Qrels, ranking: Ranking,
                     metrics: Iterable[str] = DEFAULT_METRICS) -> pd.DataFrame:
    """Per-query metric values (one row per judged query, one column per metric).

    Metrics are computed on the ranking exactly as the backend returned it, so documents with
    equal scores keep the engine's order, as a user would see them. A judged query with no hits
    scores 0 everywhere.
    """
    os.environ.setdefault("NUMBA_CACHE_DIR", str(numba_cache_dir()))
    from ranx import Qrels as RanxQrels, Run, evaluate

    metrics = list(metrics)
    query_ids = sorted(qrels)
    frame = pd.DataFrame(index=pd.Index(query_ids, name="query_id", dtype=object))
    ranx_metrics = [m for m in metrics if not m.startswith("judged@")]
    if ranx_metrics:
        scores = _rank_scores({q: ranking.get(q, []) for q in query_ids})
        scored = {q: s for q, s in scores.items() if s}
        if scored:
            rq = RanxQrels.from_dict({q: qrels[q] for q in query_ids})
            run = Run.from_dict(scored)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # numba's uint64→int64 cast notices inside ranx
                values = evaluate(rq, run, ranx_metrics, return_mean=False, make_comparable=True)
            if len(ranx_metrics) == 1:
                values = {ranx_metrics[0]: values}
            order = list(rq.keys())
            for m in ranx_metrics:
                frame[m] = pd.Series(np.asarray(values[m], dtype=float), index=order).reindex(query_ids).fillna(0.0)
        else:
            for m in ranx_metrics:
                frame[m] = 0.0
    for m in metrics:
        if m.startswith("judged@"):
            frame[m] = _judged_at(qrels, ranking, int(m.split("@", 1)[1]), query_ids)
    return frame[metrics]


def mean_metrics(per_query: pd.DataFrame) -> dict[str, float]:
    """The mean of each metric over queries."""
    return {m: float(per_query[m].mean()) if len(per_query) else 0.0 for m in per_query.columns}


def check_metric(name: str) -> str:
    """``name`` if it is one of the lab's metrics, else a LabError listing them."""
    if name not in DEFAULT_METRICS:
        raise LabError(f"unknown metric '{name}' (known: {', '.join(DEFAULT_METRICS)})")
    return name
