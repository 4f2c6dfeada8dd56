"""Labels from a teacher: a learning-to-rank model (`lab ltr train`) scores every training pair of the
cross-encoder — the judged ones and the mined unjudged ones — and the cross-encoder learns its scores (knowledge
distillation): min-max scaled within each query as pointwise labels, or raw as listwise targets. The grades say which few products of a query were
judged; the teacher ranks every candidate, unjudged ones included, with the lexical and embedding evidence its
features hold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..ltr.rerank import score_candidates
from ..progress import ProgressFactory


@dataclass
class TeacherLabels:
    """The teacher's verdict on each training pair."""

    scaled: np.ndarray
    """The score min-max scaled over the rows of the same query, in [0, 1] (0.5 where a query's rows all score
    alike): the pointwise label."""
    scores: np.ndarray
    """The raw score: the listwise target (its softmax within a query is the teacher's distribution)."""
    record: dict[str, Any]
    """What the card records of the teacher."""


def teacher_labels(lab: Any, teacher: str, pairs: pd.DataFrame, progress: ProgressFactory) -> TeacherLabels:
    """The LTR model ``teacher``'s labels for each row of ``pairs`` (query_id, query, product_id). LabError when the
    model, its feature set or the models its features read changed."""
    rows = list(pairs.groupby("query_id", sort=False).indices.values())
    queries = [str(pairs["query"].iat[r[0]]) for r in rows]
    candidates = [pairs["product_id"].to_numpy()[r].astype(str).tolist() for r in rows]
    scored = score_candidates(lab, teacher, queries, candidates, progress, f"--teacher {teacher}")
    labels, raw = np.empty(len(pairs), dtype=np.float64), np.empty(len(pairs), dtype=np.float64)
    offset = 0
    for r in rows:
        own = scored.scores[offset:offset + len(r)].astype(np.float64)
        offset += len(r)
        low, high = own.min(), own.max()
        labels[r] = (own - low) / (high - low) if high > low else 0.5
        raw[r] = own
    record = {"ltr_model": teacher, "fingerprint": scored.model.card["fingerprint"],
              "feature_set": scored.feature_set.record(), "model_fingerprints": scored.model_fingerprints,
              "scaling": "min-max within each query's training pairs"}
    return TeacherLabels(labels, raw, record)
