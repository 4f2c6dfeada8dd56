"""The ``rerank`` second stage of a strategy (``"rerank": {"ltr": NAME, "window": 100}``): the first stage's
top ``window`` hits of each query get the LTR model's scores and are reordered by them; hits below the window
keep their order after them."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..backends.base import SearchResult
from ..context import Lab
from ..progress import ProgressFactory
from .training import check_models, current_feature_set, load_model, predict
from .values import feature_values


def rerank_results(lab: Lab, rerank: dict[str, Any], texts: list[str], results: list[SearchResult],
                   progress: ProgressFactory) -> tuple[list[SearchResult], dict[str, Any]]:
    """``results`` with each query's top ``rerank["window"]`` hits reordered by the LTR model ``rerank["ltr"]``
    (scores: the model's), and what the run manifest records of the second stage (model, window, seconds, the
    embedding models its features read, its cost)."""
    started = time.perf_counter()
    model = load_model(lab, rerank["ltr"])
    feature_set = current_feature_set(model.card["feature_set"], f"LTR model '{model.name}'")
    models = check_models(lab, feature_set, model.card.get("model_fingerprints"), f"LTR model '{model.name}'")
    window = rerank["window"]
    candidates = [result.doc_ids[:window] for result in results]
    scores = predict(model, feature_values(lab, feature_set, texts, candidates, progress))
    ends = np.cumsum([len(ids) for ids in candidates])
    reranked = [result.reordered(own) for result, own in zip(results, np.split(scores, ends[:-1]))]
    record = {"ltr": model.name, "window": window, "fingerprint": model.card["fingerprint"],
              "feature_set": feature_set.record(), "models": feature_set.models, "model_fingerprints": models,
              "cost": {"kind": "ltr", "train_seconds": model.card["train_seconds"], "reindex_seconds": 0.0,
                       "reindex_basis": "none needed"},
              "seconds": round(time.perf_counter() - started, 3)}
    return reranked, record
