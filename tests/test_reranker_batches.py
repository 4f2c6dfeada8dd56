"""Length-grouped training batches of the cross-encoder, against hand-worked expectations."""

from __future__ import annotations

import numpy as np
import pytest

from lab.reranker.batches import GROUP_BATCHES, length_grouped_batches, LengthGroupedSampler


def test_every_row_once_per_epoch_in_batches_of_the_size():
    lengths = np.random.default_rng(0).integers(5, 60, size=1000)
    batches = length_grouped_batches(lengths, 32, seed=1)
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(1000))
    assert sorted(len(b) for b in batches)[1:] == [32] * (len(batches) - 1)  # one short batch at most
    assert len(batches) == -(-1000 // 32)


def test_batches_pad_less_than_random_ones():
    lengths = np.random.default_rng(0).integers(5, 60, size=32 * GROUP_BATCHES * 4)
    grouped = length_grouped_batches(lengths, 32, seed=3)
    shuffled = np.random.default_rng(3).permutation(len(lengths)).reshape(-1, 32)
    padded = lambda batches: sum(len(b) * lengths[b].max() for b in batches)
    # in a group of 64 batches sorted by length, a batch spans about 1/64 of the length range (55 tokens)
    assert padded(grouped) < 0.6 * padded(shuffled)
    assert max(lengths[b].max() - lengths[b].min() for b in grouped) <= 3


def test_the_order_is_seeded_and_changes_with_the_epoch():
    lengths = np.arange(500) % 17
    first, again = length_grouped_batches(lengths, 16, seed=5), length_grouped_batches(lengths, 16, seed=5)
    assert all((a == b).all() for a, b in zip(first, again))
    other = length_grouped_batches(lengths, 16, seed=6)
    assert [b.tolist() for b in other] != [b.tolist() for b in first]


@pytest.mark.parametrize("rows, drop_last", [(1000, False), (1000, True), (32 * GROUP_BATCHES * 2 + 5, False),
                                             (32 * GROUP_BATCHES * 2 + 5, True), (31, False)])
def test_the_sampler_yields_what_it_says_its_length_is(rows, drop_last):
    lengths = np.random.default_rng(rows).integers(5, 60, size=rows)
    sampler = LengthGroupedSampler(lengths)(list(range(rows)), batch_size=32, drop_last=drop_last,
                                              valid_label_columns=None, generator=None, seed=7)
    sampler.set_epoch(2)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    assert all(len(b) == 32 for b in batches) if drop_last else sorted(sum(batches, [])) == list(range(rows))
    assert batches == [b.tolist() for b in length_grouped_batches(lengths, 32, seed=9, drop_last=drop_last)]


def test_lengths_of_another_dataset_are_refused():
    with pytest.raises(ValueError, match="3 lengths for a dataset of 4 rows"):
        LengthGroupedSampler(np.array([1, 2, 3]))([0, 1, 2, 3], batch_size=2, drop_last=False,
                                                    valid_label_columns=None, generator=None, seed=0)


def test_the_factory_pickles_with_the_training_arguments():
    import pickle

    factory = pickle.loads(pickle.dumps(LengthGroupedSampler(np.array([3, 1, 2]))))
    assert factory.lengths.tolist() == [3, 1, 2]
