"""Batches without duplicates: no query and no product twice in a batch, so in-batch negatives are never
another positive of the same query or the positive itself (as sentence-transformers' NO_DUPLICATES)."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def no_duplicate_batches(queries: Sequence[str], products: Sequence[str], negatives: Sequence[str | None],
                         batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Example indices in shuffled batches of ``batch_size`` in which no query id and no product id
    (positive or negative) occurs twice; examples that fit no full batch are left for the next epoch."""
    remaining = dict.fromkeys(rng.permutation(len(queries)).tolist())
    batches: list[np.ndarray] = []
    while len(remaining) >= batch_size:
        batch: list[int] = []
        seen: set[str] = set()
        for i in remaining:
            keys = {f"q:{queries[i]}", f"p:{products[i]}"} | ({f"p:{negatives[i]}"} if negatives[i] else set())
            if keys & seen:
                continue
            batch.append(i)
            seen |= keys
            if len(batch) == batch_size:
                break
        if len(batch) < batch_size:
            break
        for i in batch:
            del remaining[i]
        batches.append(np.asarray(batch, dtype=np.int64))
    return batches
