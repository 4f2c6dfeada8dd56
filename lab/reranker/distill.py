"""Labels from a teacher: a learning-to-rank model (`lab ltr train`) scores every training pair of the
cross-encoder — the judged ones and the mined unjudged ones — and its scores, min-max scaled within each query, are
the labels the cross-encoder learns (knowledge distillation). The grades say which few products of a query were
judged; the teacher ranks every candidate, unjudged ones included, with the lexical and embedding evidence its
features hold."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..ltr.rerank import score_candidates
from ..progress import ProgressFactory


def teacher_labels(lab: Any, teacher: str, pairs: pd.DataFrame,
                   progress: ProgressFactory) -> tuple[np.ndarray, dict[str, Any]]:
    """One label in [0, 1] per row of ``pairs`` (query_id, query, product_id): the LTR model ``teacher``'s score
    min-max scaled over the rows of the same query (0.5 for a query whose rows all score alike); and what the card
    records of the teacher. LabError when the model, its feature set or the models its features read changed."""
    rows = list(pairs.groupby("query_id", sort=False).indices.values())
    queries = [str(pairs["query"].iat[r[0]]) for r in rows]
    candidates = [pairs["product_id"].to_numpy()[r].astype(str).tolist() for r in rows]
    scored = score_candidates(lab, teacher, queries, candidates, progress, f"--teacher {teacher}")
    scores = scored.scores
    labels = np.empty(len(pairs), dtype=np.float64)
    offset = 0
    for r in rows:
        own = scores[offset:offset + len(r)].astype(np.float64)
        offset += len(r)
        low, high = own.min(), own.max()
        labels[r] = (own - low) / (high - low) if high > low else 0.5
    record = {"ltr_model": teacher, "fingerprint": scored.model.card["fingerprint"],
              "feature_set": scored.feature_set.record(), "model_fingerprints": scored.model_fingerprints,
              "scaling": "min-max within each query's training pairs"}
    return labels, record
