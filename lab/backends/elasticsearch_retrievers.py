"""Hybrid searches fused by Elasticsearch itself (``--server-fusion``): the lab's search pipeline as the node's
``rrf`` or ``linear`` retriever, wherever that is the same fusion; anything else refused in one line naming it.

Each hybrid sub-query becomes one child retriever: a plain ``knn`` sub-query the ``knn`` retriever, any other a
``standard`` retriever. ``pagination_depth`` becomes ``rank_window_size``, which Elasticsearch uses both as
each child's depth and as the number of fused hits it keeps, so the page asked for must fit in it.

* score-ranker RRF → ``rrf`` (``rank_constant``; weights, where the pipeline has them, as each child's
  ``weight``): Σ weight / (rank_constant + rank) on both sides (the lab rounds each term to 10 decimals first,
  as neural-search does);
* ``l2`` normalisation with ``arithmetic_mean`` → ``linear`` with ``normalizer: l2_norm`` per child and weight
  wᵢ / Σw (the mean divides by Σw; Elasticsearch sums);
* ``min_max`` is refused: Elasticsearch's ``minmax`` gives the lowest hit 0 (the lab's, neural-search's, 0.001)
  and equal scores their raw value (the lab's 1.0); ``z_score``, ``geometric_mean`` and ``harmonic_mean``
  have no Elasticsearch counterpart.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engine.pipelines import L2, RRFRanks, SearchPipeline, parse_pipeline
from ..errors import QueryError
from .elasticsearch_translate import hybrid_plan

FETCH_OPTIONS = ("_source", "docvalue_fields", "stored_fields", "fields")
"""Top-level keys of a hybrid body that only shape the returned hits, so they stay top-level keys."""
KNN_RETRIEVER_KEYS = ("field", "query_vector", "k", "num_candidates", "filter")


def _refuse(reason: str) -> QueryError:
    return QueryError(f"--server-fusion: {reason}; without --server-fusion the lab fuses the sub-queries itself")


def child_retriever(query: dict[str, Any]) -> dict[str, Any]:
    """One translated sub-query as a child retriever: ``knn`` for a plain knn query, else ``standard``."""
    knn = query.get("knn")
    if len(query) == 1 and isinstance(knn, dict) and set(knn) <= set(KNN_RETRIEVER_KEYS):
        return {"knn": knn}
    return {"standard": {"query": query}}


def fusion_retriever(pipeline: SearchPipeline, children: list[dict[str, Any]], depth: int) -> dict[str, Any]:
    """The ``rrf`` or ``linear`` retriever that fuses ``children`` as ``pipeline`` does; QueryError naming the
    normalisation or combination Elasticsearch cannot run exactly."""
    normalization, combination = pipeline.normalization, pipeline.combination
    combination.check(len(children))
    weights = (combination.weights if combination.weights is not None
               else np.ones(len(children), dtype=np.float32))
    if isinstance(normalization, RRFRanks):
        rrf: dict[str, Any] = {"retrievers": children, "rank_constant": normalization.rank_constant,
                               "rank_window_size": depth}
        if combination.weights is not None and any(w != 1 for w in weights):
            rrf["retrievers"] = [{"retriever": c, "weight": float(w)} for c, w in zip(children, weights)]
        return {"rrf": rrf}
    if not isinstance(normalization, L2):
        if normalization.name == "min_max":
            raise _refuse("normalization min_max differs on Elasticsearch (its minmax scores the lowest hit 0, not "
                          "0.001, and equal scores as their raw value, not 1.0)")
        raise _refuse(f"normalization {normalization.name} has no Elasticsearch counterpart (the linear retriever "
                      "normalizes with minmax or l2_norm)")
    if combination.name != "arithmetic_mean":
        raise _refuse(f"combination {combination.name} has no Elasticsearch counterpart (the linear retriever sums "
                      "weighted scores: arithmetic_mean)")
    total = np.float32(weights.sum(dtype=np.float32))
    return {"linear": {"retrievers": [{"retriever": c, "weight": float(np.float32(w) / total),
                                       "normalizer": "l2_norm"} for c, w in zip(children, weights)],
                       "rank_window_size": depth}}


def retriever_request(body: dict[str, Any], pipeline: dict[str, Any]) -> dict[str, Any]:
    """A hybrid search body (``query.hybrid``) and its pipeline as one Elasticsearch retriever search."""
    plan = hybrid_plan(body)
    if len(plan.subs) < 2:
        raise _refuse(f"query.hybrid has {len(plan.subs)} sub-quer{'y' if len(plan.subs) == 1 else 'ies'}; "
                      "Elasticsearch's rrf and linear retrievers fuse two or more")
    depth = plan.subs[0]["size"]
    if plan.start + plan.size > depth:
        raise _refuse(f"query.hybrid.pagination_depth {depth} is below from + size {plan.start + plan.size}: "
                      "Elasticsearch's rank_window_size is both each sub-query's depth and the most fused hits it "
                      f"returns, so raise pagination_depth to {plan.start + plan.size} or more")
    extra = [key for key in body if key not in ("query", "size", "from", "track_total_hits", *FETCH_OPTIONS)]
    if extra:
        raise _refuse(f"{extra[0]}: not translated into a retriever search")
    children = [child_retriever(sub["query"]) for sub in plan.subs]
    request: dict[str, Any] = {key: body[key] for key in FETCH_OPTIONS if key in body}
    request.update(size=plan.size, retriever=fusion_retriever(parse_pipeline(pipeline), children, depth))
    if plan.start:
        request["from"] = plan.start
    return request
