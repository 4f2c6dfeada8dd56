"""The ``rerank`` second stage of a strategy (``"rerank": {"ltr": NAME, "window": 100}``): the first stage's
top ``window`` hits of each query get the LTR model's scores and are reordered by them; hits below the window
keep their order after them."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..backends.base import Hit, SearchResult
from ..context import Lab
from ..progress import ProgressFactory
from .training import current_feature_set, load_model, predict
from .values import feature_values


def rerank_results(lab: Lab, rerank: dict[str, Any], texts: list[str], results: list[SearchResult],
                   progress: ProgressFactory) -> tuple[list[SearchResult], dict[str, Any]]:
    """``results`` with each query's top ``rerank["window"]`` hits reordered by the LTR model ``rerank["ltr"]``
    (scores: the model's), and what the run manifest records of the second stage (model, window, seconds, the
    embedding models its features read, its cost)."""
    started = time.perf_counter()
    model = load_model(lab, rerank["ltr"])
    feature_set = current_feature_set(model.card["feature_set"], f"LTR model '{model.name}'")
    window = rerank["window"]
    candidates = [[hit.doc_id for hit in result.hits[:window]] for result in results]
    scores = predict(model, feature_values(lab, feature_set, texts, candidates, progress))
    reranked, offset = [], 0
    for result, ids in zip(results, candidates):
        own = scores[offset:offset + len(ids)]
        offset += len(ids)
        order = np.argsort(-own, kind="stable")
        hits = [Hit(ids[i], float(own[i])) for i in order]
        floor = float(own.min()) if len(ids) else 0.0
        hits += [Hit(hit.doc_id, floor - k) for k, hit in enumerate(result.hits[window:], start=1)]
        reranked.append(SearchResult(hits, result.total))
    record = {"ltr": model.name, "window": window, "fingerprint": model.card["fingerprint"],
              "feature_set": feature_set.record(), "models": feature_set.models,
              "cost": {"kind": "ltr", "train_seconds": model.card["train_seconds"], "reindex_seconds": 0.0,
                       "reindex_basis": "none needed"},
              "seconds": round(time.perf_counter() - started, 3)}
    return reranked, record
