"""Training batches of rows of similar length. A transformer pads every text of a batch to the batch's longest,
so random batches of Home Depot pairs spend a third (cross-encoder) to a half (product titles of a bi-encoder
batch) of their work on padding. The rows are shuffled, cut into groups of ``GROUP_BATCHES`` batches, sorted by
length within a group, cut into batches (optionally none sharing a text, as in-batch negatives need), and the
batches shuffled: each epoch a new seeded order, the same after a resume."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Iterator, Sequence

import numpy as np

GROUP_BATCHES = 64
"""Batches whose rows are sorted together: large enough to pad little, small enough to keep batches mixed."""
LABEL_COLUMNS = ("label", "score")
"""Dataset columns that are not texts."""


def length_grouped_batches(lengths: np.ndarray, batch_size: int, seed: int, drop_last: bool = False,
                           values: Sequence[frozenset[str]] | None = None,
                           group_batches: int = GROUP_BATCHES) -> list[np.ndarray]:
    """The row indices of each batch of one epoch (see the module's docstring); ``seed`` picks the epoch's order.
    ``values``: per row, the texts no other row of its batch may hold (a row that would repeat one waits for the
    next batch; the rows of a group's short batches join the next group)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths))
    span = batch_size * group_batches
    batches: list[np.ndarray] = []
    carried: list[int] = []
    for start in range(0, len(order), span):
        group = order[start:start + span]
        group = group[np.argsort(lengths[group], kind="stable")]
        if values is None:
            batches += [group[i:i + batch_size] for i in range(0, len(group), batch_size)]
            continue
        rows = sorted(carried + group.tolist(), key=lambda row: lengths[row])  # stable: carried rows first
        cut = _distinct_batches(rows, batch_size, values)
        last = start + span >= len(order)
        carried = [] if last else [row for batch in cut if len(batch) < batch_size for row in batch.tolist()]
        batches += cut if last else [batch for batch in cut if len(batch) == batch_size]
    if drop_last:
        batches = [batch for batch in batches if len(batch) == batch_size]
    return [batches[i] for i in rng.permutation(len(batches))]


def _distinct_batches(rows: list[int], batch_size: int, values: Sequence[frozenset[str]]) -> list[np.ndarray]:
    """``rows`` in order, cut into batches of at most ``batch_size`` whose rows share no value."""
    batches = []
    while rows:
        batch, seen, waiting = [], set(), []
        for at, row in enumerate(rows):
            if len(batch) == batch_size:
                waiting += rows[at:]
                break
            if seen.isdisjoint(values[row]):
                batch.append(row)
                seen.update(values[row])
            else:
                waiting.append(row)
        batches.append(np.asarray(batch, dtype=np.int64))
        rows = waiting
    return batches


@dataclass(frozen=True, eq=False)
class LengthGroupedSampler:
    """A sentence-transformers ``batch_sampler`` (the factory its trainer calls for each training dataset;
    picklable, as checkpoints keep the training arguments). ``lengths``: one per row of the dataset, in its order
    (None: the characters of the row's texts); ``distinct``: no two rows of a batch share a text."""

    lengths: np.ndarray | None = None
    distinct: bool = False

    def __call__(self, dataset: Any, **kwargs: Any) -> Any:
        texts = _row_texts(dataset) if self.lengths is None or self.distinct else []
        lengths = self.lengths
        if lengths is None:
            lengths = np.array([sum(len(t) for t in row) for row in texts], dtype=np.int64)
        if len(dataset) != len(lengths):
            raise ValueError(f"{len(lengths)} lengths for a dataset of {len(dataset)} rows")
        values = [frozenset(row) for row in texts] if self.distinct else None
        return _sampler_class()(dataset, lengths=lengths, values=values, **kwargs)


def _row_texts(dataset: Any) -> list[tuple[str, ...]]:
    """Each row's texts (every column but the labels), as strings."""
    columns = [c for c in dataset.column_names if c not in LABEL_COLUMNS]
    if not columns:
        return [()] * len(dataset)
    return [tuple(map(str, row)) for row in zip(*(list(dataset[c]) for c in columns))]


@cache
def _sampler_class() -> type:
    from sentence_transformers.base.sampler import DefaultBatchSampler

    class LengthGroupedBatchSampler(DefaultBatchSampler):
        def __init__(self, dataset: Any, lengths: np.ndarray, values: list[frozenset[str]] | None,
                     **kwargs: Any) -> None:
            super().__init__(dataset, **kwargs)
            self.lengths, self.values = lengths, values
            self._epoch_batches: tuple[int, list[np.ndarray]] | None = None

        def batches(self) -> list[np.ndarray]:
            if self._epoch_batches is None or self._epoch_batches[0] != self.epoch:
                self._epoch_batches = (self.epoch, length_grouped_batches(
                    self.lengths, self.batch_size, self.seed + self.epoch, self.drop_last, self.values))
            return self._epoch_batches[1]

        def __iter__(self) -> Iterator[list[int]]:
            for batch in self.batches():
                yield batch.tolist()

        def __len__(self) -> int:
            return len(self.batches())

    return LengthGroupedBatchSampler
