"""Top-k same-class precision: the share of a record's k nearest neighbours (cosine, the record itself
excluded) that carry its label — the "top_1k" metric of Kern AI's label-similarity study.

Neighbours are searched exactly in a pool of records; anchors are positions in that pool. Ties in
similarity (to 6 decimals) are broken by pool position, so results are deterministic.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ..embeddings.vectors import normalise, top_columns
from ..errors import LabError

DEFAULT_KS: tuple[int, ...] = (1, 10, 100)
ANCHOR_CHUNK = 512
SCORE_DECIMALS = 6
"""Cosines are compared at this precision, so float noise never orders equal vectors."""


def precision_column(k: int) -> str:
    return f"precision@{k}"


def capped_ks(ks: Sequence[int], pool_size: int) -> list[int]:
    """``ks`` sorted and deduplicated, each capped at the number of candidates (pool size − 1)."""
    if pool_size < 2:
        raise LabError(f"neighbour precision needs at least 2 records in the pool, got {pool_size}")
    bad = [k for k in ks if k < 1]
    if bad or not ks:
        raise LabError(f"--k: give positive neighbour counts (got {', '.join(map(str, ks)) or 'none'})")
    return sorted({min(k, pool_size - 1) for k in ks})


def _anchor_positions(anchors: np.ndarray | None, pool_size: int) -> np.ndarray:
    positions = np.arange(pool_size) if anchors is None else np.asarray(anchors, dtype=np.int64)
    if len(positions) and (positions.min() < 0 or positions.max() >= pool_size):
        raise LabError(f"anchor positions must lie in the pool of {pool_size} records")
    return positions


def neighbor_precision(vectors: np.ndarray, labels: Sequence[object], ks: Sequence[int],
                       anchors: np.ndarray | None = None) -> pd.DataFrame:
    """One row per anchor: ``position`` (in the pool), ``label`` and ``precision@k`` for each k.

    ``vectors`` and ``labels`` describe the pool; ``anchors`` are pool positions (default: every
    record). ks are capped at the pool size − 1 (see :func:`capped_ks`).
    """
    if len(vectors) != len(labels):
        raise LabError(f"{len(vectors)} vectors but {len(labels)} labels")
    ks = capped_ks(ks, len(vectors))
    positions = _anchor_positions(anchors, len(vectors))
    codes, _ = pd.factorize(pd.Series(list(labels), dtype=object))
    pool = normalise(vectors).astype(np.float32)
    deepest = ks[-1]
    hits = np.empty((len(positions), deepest), dtype=bool)
    for start in range(0, len(positions), ANCHOR_CHUNK):
        chunk = positions[start:start + ANCHOR_CHUNK]
        scores = np.round(pool[chunk] @ pool.T, SCORE_DECIMALS)
        scores[np.arange(len(chunk)), chunk] = -np.inf  # never its own neighbour
        hits[start:start + len(chunk)] = codes[top_columns(scores, deepest)] == codes[chunk][:, None]
    same = np.cumsum(hits, axis=1)
    out = pd.DataFrame({"position": positions, "label": np.asarray(labels, dtype=object)[positions]})
    for k in ks:
        out[precision_column(k)] = same[:, k - 1] / k
    return out


def best_possible_precision(labels: Sequence[object], ks: Sequence[int],
                            anchors: np.ndarray | None = None) -> pd.DataFrame:
    """The ceiling of :func:`neighbor_precision` for the same pool: min(k, same-label others) / k."""
    ks = capped_ks(ks, len(labels))
    positions = _anchor_positions(anchors, len(labels))
    series = pd.Series(list(labels), dtype=object)
    others = series.map(series.value_counts()).to_numpy()[positions] - 1
    out = pd.DataFrame({"position": positions, "label": series.to_numpy()[positions]})
    for k in ks:
        out[precision_column(k)] = np.minimum(others, k) / k
    return out


def precision_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith("precision@")]


def mean_precision(frame: pd.DataFrame) -> dict[str, float]:
    """precision@k averaged over the anchors."""
    return {c: float(frame[c].mean()) for c in precision_columns(frame)}


def precision_by_label(frame: pd.DataFrame) -> pd.DataFrame:
    """Per label: the number of anchors and their mean precision@k, largest class first."""
    grouped = frame.groupby("label", sort=False)
    out = grouped[precision_columns(frame)].mean()
    out.insert(0, "anchors", grouped.size())
    return out.sort_values(["anchors"], ascending=False, kind="stable")
