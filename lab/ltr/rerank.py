"""The ``rerank`` second stage of a strategy (``"rerank": {"ltr": NAME, "window": 100}``): the first stage's
top ``window`` hits of each query get the LTR model's scores and are reordered by them; hits below the window
keep their order after them."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backends.base import SearchResult
from ..context import Lab
from ..progress import ProgressFactory
from .features import FeatureSet
from .training import TrainedModel, check_models, current_feature_set, load_model, predict
from .values import feature_values


@dataclass(frozen=True)
class CandidateScores:
    """An LTR model's scores of candidates (flat, query after query), with the model and feature set as checked."""

    scores: np.ndarray
    model: TrainedModel
    feature_set: FeatureSet
    model_fingerprints: dict[str, str]


def score_candidates(lab: Lab, name: str, texts: list[str], candidates: list[list[str]], progress: ProgressFactory,
                     what: str) -> CandidateScores:
    """The LTR model ``name``'s score of each query's candidates; a LabError naming ``what`` when its feature set or
    the models its features read changed since it was trained."""
    model = load_model(lab, name)
    feature_set = current_feature_set(model.card["feature_set"], what)
    fingerprints = check_models(lab, feature_set, model.card.get("model_fingerprints"), what)
    scores = predict(model, feature_values(lab, feature_set, texts, candidates, progress))
    return CandidateScores(scores, model, feature_set, fingerprints)


def rerank_results(lab: Lab, rerank: dict[str, Any], texts: list[str], results: list[SearchResult],
                   progress: ProgressFactory) -> tuple[list[SearchResult], dict[str, Any]]:
    """``results`` with each query's top ``rerank["window"]`` hits reordered by the LTR model ``rerank["ltr"]``
    (scores: the model's), and what the run manifest records of the second stage (model, window, seconds, the
    embedding models its features read, its cost)."""
    started = time.perf_counter()
    window = rerank["window"]
    candidates = [result.doc_ids[:window] for result in results]
    scored = score_candidates(lab, rerank["ltr"], texts, candidates, progress, f"LTR model '{rerank['ltr']}'")
    model, feature_set = scored.model, scored.feature_set
    ends = np.cumsum([len(ids) for ids in candidates])
    reranked = [result.reordered(own) for result, own in zip(results, np.split(scored.scores, ends[:-1]))]
    record = {"ltr": model.name, "window": window, "fingerprint": model.card["fingerprint"],
              "feature_set": feature_set.record(), "models": feature_set.models,
              "model_fingerprints": scored.model_fingerprints,
              "cost": {"kind": "ltr", "train_seconds": model.card["train_seconds"], "reindex_seconds": 0.0,
                       "reindex_basis": "none needed"},
              "seconds": round(time.perf_counter() - started, 3)}
    return reranked, record
