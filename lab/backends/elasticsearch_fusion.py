"""Hybrid fusion done by the lab for Elasticsearch: each sub-query's hits from the cluster, fused with the
embedded engine's own search-pipeline code (lab/engine/pipelines.py), as neural-search fuses them."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..engine.pipelines import parse_pipeline
from .base import Hit

SubHits = Sequence[tuple[str, int, float]]
"""One sub-query's hits as (id, catalogue position, score), best first."""


def fuse(pipeline: dict[str, Any], subs: Sequence[SubHits], size: int, start: int = 0) -> list[Hit]:
    """The fused page ``[start, start + size)``: equal fused scores in catalogue order, as in the engine."""
    ids: dict[int, str] = {}
    lists = []
    for hits in subs:
        for doc_id, position, _score in hits:
            ids[position] = doc_id
        lists.append((np.array([p for _, p, _ in hits], dtype=np.int64),
                      np.array([s for _, _, s in hits], dtype=np.float32)))
    docs, scores = parse_pipeline(pipeline).fuse(lists)
    page = slice(start, start + size)
    return [Hit(ids[d], float(np.float32(s))) for d, s in zip(docs[page].tolist(), scores[page])]
