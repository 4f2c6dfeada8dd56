"""Batches grouped by label for MNRL on class labels: at most one (anchor, positive) pair per label in a
batch, so every in-batch negative carries another label, and every pair once per epoch.

Each batch takes one pair from each of the ``batch_size`` labels with the most pairs left (ties
broken at random), which uses the fewest batches possible: max(largest class, ⌈pairs / batch⌉).
Batches are then shuffled; the order is fixed by the seed and the epoch.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from sentence_transformers.base.sampler import DefaultBatchSampler

from ..errors import LabError


def effective_batch_size(batch_size: int, n_labels: int) -> int:
    """Pairs per batch: at most one per label."""
    return max(1, min(batch_size, n_labels))


def batch_sizes(counts: Sequence[int], batch_size: int) -> list[int]:
    """The size of each batch a pass over labels with ``counts`` pairs yields (largest-remaining first)."""
    remaining = np.asarray([c for c in counts if c > 0], dtype=np.int64)
    width = effective_batch_size(batch_size, len(remaining))
    sizes = []
    while remaining.size:
        remaining = np.sort(remaining)[::-1]
        taken = min(width, remaining.size)
        remaining[:taken] -= 1
        sizes.append(taken)
        remaining = remaining[remaining > 0]
    return sizes


class LabelGroupedBatchSampler(DefaultBatchSampler):
    """Batch sampler for the trainer (see the module docstring); ``labels`` holds one label per dataset row."""

    def __init__(self, dataset: Any, batch_size: int, drop_last: bool, valid_label_columns: list[str] | None = None,
                 generator: torch.Generator | None = None, seed: int = 0, labels: Sequence[Any] = ()) -> None:
        super().__init__(dataset, batch_size=batch_size, drop_last=drop_last,
                         valid_label_columns=valid_label_columns, generator=generator, seed=seed)
        if len(labels) != len(dataset):
            raise LabError(f"label-grouped batches: {len(labels)} labels for {len(dataset)} pairs")
        names, codes = np.unique(np.asarray([str(label) for label in labels]), return_inverse=True)
        self.groups = [np.flatnonzero(codes == code) for code in range(len(names))]
        self.width = effective_batch_size(batch_size, len(self.groups))
        sizes = batch_sizes([len(g) for g in self.groups], batch_size)
        self._length = sum(1 for s in sizes if not (drop_last and s < self.width))

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[list[int]]:
        generator = torch.Generator()
        generator.manual_seed(self.seed + self.epoch)
        queues = [group[torch.randperm(len(group), generator=generator).numpy()].tolist() for group in self.groups]
        batches: list[list[int]] = []
        while True:
            left = np.array([len(q) for q in queues])
            if not left.any():
                break
            ties = torch.randperm(len(queues), generator=generator).numpy()
            order = np.lexsort((ties, -left))[:self.width]
            batch = [queues[i].pop() for i in order if left[i] > 0]
            if not (self.drop_last and len(batch) < self.width):
                batches.append(batch)
        for i in torch.randperm(len(batches), generator=generator).tolist():
            yield batches[i]


def label_grouped_sampler(labels: Sequence[Any]) -> Callable[..., LabelGroupedBatchSampler]:
    """What SentenceTransformerTrainingArguments(batch_sampler=...) takes: the trainer calls it with the dataset,
    batch size, drop_last, label columns, generator and seed (picklable, for checkpoints)."""
    return partial(LabelGroupedBatchSampler, labels=tuple(str(label) for label in labels))
