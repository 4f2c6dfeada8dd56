"""`lab eval neighbors`: top-k same-class precision of several models on one split of labelled records,
side by side, with vectors from the embedding cache."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from ..data.labels import ALL_RECORDS, LabelledRecords
from ..errors import LabError
from .neighbors import (best_possible_precision, capped_ks, mean_precision, neighbor_precision,
                                   precision_by_label)
from ..progress import ProgressFactory, silent

POOLS = ("split", "all")
"""split: neighbours among the split's records only; all: among every labelled record."""
CEILING = "best possible"

Encode = Callable[[list[str]], np.ndarray]
"""Texts → vectors (one row per text)."""


@dataclass
class NeighborEvaluation:
    """Per-anchor precision of each model on one split (and the ceiling the labels allow)."""

    column: str
    split: str
    pool: str
    ks: list[int]
    anchors: int
    pool_size: int
    classes: int
    per_anchor: dict[str, pd.DataFrame] = field(default_factory=dict)
    ceiling: pd.DataFrame | None = None

    def summary(self) -> pd.DataFrame:
        """One row per model (then the ceiling): mean precision@k over the anchors."""
        rows = {name: mean_precision(frame) for name, frame in self.per_anchor.items()}
        if self.ceiling is not None:
            rows[CEILING] = mean_precision(self.ceiling)
        return pd.DataFrame.from_dict(rows, orient="index")

    def by_label(self, k: int) -> pd.DataFrame:
        """One row per label: anchors, then each model's mean precision@k (k capped like the others)."""
        column = f"precision@{min(k, self.ks[-1])}"
        frames = [precision_by_label(frame)[[column]].rename(columns={column: name})
                  for name, frame in self.per_anchor.items()]
        first = precision_by_label(next(iter(self.per_anchor.values())))[["anchors"]]
        return pd.concat([first, *frames], axis=1)

    def to_dict(self) -> dict[str, Any]:
        return {"label_column": self.column, "split": self.split, "pool": self.pool, "ks": self.ks,
                "anchors": self.anchors, "pool_size": self.pool_size, "classes": self.classes,
                "precision": {name: values for name, values in self.summary().to_dict(orient="index").items()}}


def pool_and_anchors(records: LabelledRecords, split: str, pool: str) -> tuple[LabelledRecords, np.ndarray]:
    """The records neighbours are searched among, and the positions in it of ``split``'s records."""
    if pool not in POOLS:
        raise LabError(f"--pool '{pool}': expected one of {', '.join(POOLS)}")
    anchors = records.split(split)
    if len(anchors) == 0:
        raise LabError(f"no labelled records in split '{split}' (label column '{records.column}')")
    if pool == "split" or split == ALL_RECORDS:
        return anchors, np.arange(len(anchors))
    return records, np.flatnonzero(np.isin(records.product_ids, anchors.product_ids))


def evaluate_encoders(encoders: dict[str, Encode], records: LabelledRecords, split: str, pool: str,
                      ks: Sequence[int]) -> NeighborEvaluation:
    """Precision@k of each named encoder on ``split``'s records (neighbours from ``pool``)."""
    searched, anchors = pool_and_anchors(records, split, pool)
    capped = capped_ks(ks, len(searched))
    result = NeighborEvaluation(column=records.column, split=split, pool=pool, ks=capped, anchors=len(anchors),
                                pool_size=len(searched), classes=len(set(searched.labels[anchors])),
                                ceiling=best_possible_precision(searched.labels, capped, anchors))
    texts = searched.texts.tolist()
    for name, encode in encoders.items():
        result.per_anchor[name] = neighbor_precision(encode(texts), searched.labels, capped, anchors)
    return result


def evaluate_models(lab: Any, models: Sequence[str], records: LabelledRecords, split: str, pool: str,
                    ks: Sequence[int], progress: ProgressFactory | None = None) -> NeighborEvaluation:
    """:func:`evaluate_encoders` for model keys of the workspace, vectors read from (or added to) the cache."""
    from ..embeddings import encode_cached

    progress = progress or silent()

    def cached(model: str) -> Encode:
        def encode(texts: list[str]) -> np.ndarray:
            encoder = lab.encoder(model)
            with progress(f"Encoding {len(texts):,} records ({model})", len(set(texts))) as advance:
                return encode_cached(encoder, texts, lab.embedding_cache, progress=advance)
        return encode

    return evaluate_encoders({model: cached(model) for model in dict.fromkeys(models)}, records, split, pool, ks)
