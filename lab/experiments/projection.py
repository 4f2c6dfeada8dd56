"""The numbers behind the embedding map: a deterministic 2-D PCA, top-N colouring, and how well a
label separates the points (in the picture and in the full embedding space)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import LabError
from ..evaluation.neighbors import neighbor_precision, precision_column

ROW_CHUNK = 512
"""Rows of the pairwise distance matrix computed at a time (bounded memory)."""


@dataclass(frozen=True)
class Projection:
    """Points on the first two principal components."""

    points: np.ndarray
    """(n, 2) coordinates of the centred vectors on the components."""
    components: np.ndarray
    """(2, d) unit principal directions; each one's largest-magnitude entry is positive."""
    explained_variance_ratio: np.ndarray
    """(2,) share of the total variance along each component."""


def pca_2d(vectors: np.ndarray) -> Projection:
    """PCA to two dimensions by SVD of the centred vectors.

    Signs are fixed (the largest-magnitude entry of each direction is positive), so the same vectors
    always give the same picture, whatever the order of the rows.
    """
    matrix = np.asarray(vectors, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] < 2 or matrix.shape[1] < 2:
        raise LabError(f"a 2-D map needs at least 2 vectors of at least 2 dimensions, got shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise LabError("a 2-D map needs finite vectors (some are NaN or infinite)")
    centred = matrix - matrix.mean(axis=0)
    _, singular, directions = np.linalg.svd(centred, full_matrices=False)
    components = np.zeros((2, matrix.shape[1]))
    available = min(2, len(directions))
    components[:available] = directions[:available]
    strongest = components[np.arange(2), np.abs(components).argmax(axis=1)]
    components *= np.where(strongest < 0, -1.0, 1.0)[:, None]
    total = float((centred ** 2).sum())
    variance = np.zeros(2)
    variance[:available] = singular[:available] ** 2
    ratio = variance / total if total > 0 else variance
    return Projection(points=centred @ components.T, components=components, explained_variance_ratio=ratio)


@dataclass(frozen=True)
class Colouring:
    """Which label each point is drawn with: one of the ``top`` values, or None (grey "other")."""

    labels: list[str | None]
    top: list[str]
    """The coloured values, most frequent first (ties by value)."""
    counts: dict[str, int]
    """Points per coloured value, in the order of ``top``."""
    other_values: int
    other_points: int


def colour_labels(values: Sequence[str], top: int) -> Colouring:
    """Colour the ``top`` most frequent values; every other value becomes "other"."""
    if top < 1:
        raise LabError(f"--top must be at least 1, got {top}")
    counts = Counter(values)
    ranked = sorted(counts, key=lambda value: (-counts[value], value))
    coloured = ranked[:top]
    chosen = set(coloured)
    labels = [value if value in chosen else None for value in values]
    return Colouring(labels=labels, top=coloured, counts={v: counts[v] for v in coloured},
                     other_values=len(ranked) - len(coloured),
                     other_points=sum(counts[v] for v in ranked[len(coloured):]))


def _codes(labels: Sequence[str]) -> np.ndarray:
    return np.unique(np.asarray(labels, dtype=object).astype(str), return_inverse=True)[1]


def within_between_ratio(points: np.ndarray, labels: Sequence[str]) -> float:
    """Mean distance between points of the same label over the mean distance between points of
    different labels: 1 when the label says nothing about position, towards 0 for tight, apart groups.
    NaN when there are no same-label pairs or no different-label pairs."""
    points = np.asarray(points, dtype=np.float64)
    codes = _codes(labels)
    within = between = 0.0
    n_within = n_between = 0
    for start in range(0, len(points), ROW_CHUNK):
        block = slice(start, start + ROW_CHUNK)
        distances = np.linalg.norm(points[block, None, :] - points[None, :, :], axis=-1)
        same = codes[block, None] == codes[None, :]
        rows = np.arange(start, min(start + ROW_CHUNK, len(points)))
        same[rows - start, rows] = False  # a point is not its own pair
        different = codes[block, None] != codes[None, :]
        within += float(distances[same].sum())
        between += float(distances[different].sum())
        n_within += int(same.sum())
        n_between += int(different.sum())
    if not n_within or not n_between or between == 0:
        return float("nan")
    return (within / n_within) / (between / n_between)


def neighbour_agreement(vectors: np.ndarray, labels: Sequence[str], k: int = 10) -> float:
    """The share of each point's ``k`` nearest neighbours (cosine, the point itself excluded) that
    share its label, averaged over the points: top-k same-class precision (k capped at n − 1)."""
    if len(vectors) < 2:
        raise LabError("neighbour agreement needs at least 2 points")
    k = min(k, len(vectors) - 1)
    precision = neighbor_precision(np.asarray(vectors, dtype=np.float64), list(labels), [k])
    return float(precision[precision_column(k)].mean())


def chance_agreement(labels: Sequence[str]) -> float:
    """The neighbour agreement expected when neighbours are random points: the chance that another
    point drawn at random shares the label."""
    n = len(labels)
    if n < 2:
        return float("nan")
    counts = np.array(list(Counter(labels).values()), dtype=np.float64)
    return float((counts * (counts - 1)).sum() / (n * (n - 1)))
