"""Training batches of pairs of similar length: a cross-encoder reads each (query, text) pair as one sequence padded
to its batch's longest, so random batches of Home Depot pairs (25 tokens on average, the longest of 32 about 42)
spend a third of their work on padding. The pairs are shuffled, cut into groups of ``GROUP_BATCHES`` batches,
sorted by token count within a group, cut into batches, and the batches shuffled: each epoch a new seeded order,
the same after a resume."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Iterator

import numpy as np

GROUP_BATCHES = 64
"""Batches whose pairs are sorted together: large enough to pad little, small enough to keep batches mixed."""


def length_grouped_batches(lengths: np.ndarray, batch_size: int, seed: int, drop_last: bool = False,
                           group_batches: int = GROUP_BATCHES) -> list[np.ndarray]:
    """The row indices of each batch of one epoch (see the module's docstring); ``seed`` picks the epoch's order."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths))
    span = batch_size * group_batches
    batches = []
    for start in range(0, len(order), span):
        group = order[start:start + span]
        group = group[np.argsort(lengths[group], kind="stable")]
        batches += [group[i:i + batch_size] for i in range(0, len(group), batch_size)]
    if drop_last:
        batches = [batch for batch in batches if len(batch) == batch_size]
    return [batches[i] for i in rng.permutation(len(batches))]


@dataclass(frozen=True, eq=False)
class LengthGroupedSampler:
    """A sentence-transformers ``batch_sampler`` (the factory its trainer calls; picklable, as checkpoints keep the
    training arguments) batching rows by ``lengths``, one per row of the training dataset in its order."""

    lengths: np.ndarray

    def __call__(self, dataset: Any, **kwargs: Any) -> Any:
        if len(dataset) != len(self.lengths):
            raise ValueError(f"{len(self.lengths)} lengths for a dataset of {len(dataset)} rows")
        return _sampler_class()(dataset, lengths=self.lengths, **kwargs)


@cache
def _sampler_class() -> type:
    from sentence_transformers.base.sampler import DefaultBatchSampler

    class LengthGroupedBatchSampler(DefaultBatchSampler):
        def __init__(self, dataset: Any, lengths: np.ndarray, **kwargs: Any) -> None:
            super().__init__(dataset, **kwargs)
            self.lengths = lengths

        def __iter__(self) -> Iterator[list[int]]:
            for batch in length_grouped_batches(self.lengths, self.batch_size, self.seed + self.epoch, self.drop_last):
                yield batch.tolist()

        def __len__(self) -> int:
            groups, tail = divmod(len(self.lengths), self.batch_size * GROUP_BATCHES)
            return groups * GROUP_BATCHES + (tail // self.batch_size if self.drop_last else -(-tail // self.batch_size))

    return LengthGroupedBatchSampler
