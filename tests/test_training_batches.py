"""Length-grouped training batches (cross-encoder and bi-encoder), against hand-worked expectations."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from datasets import Dataset

from lab.finetune.batches import GROUP_BATCHES, LengthGroupedSampler, length_grouped_batches


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


def test_distinct_batches_never_repeat_a_text_and_keep_every_row():
    # 40 queries with 1 to 12 positives each: a query's rows share its text, so they go to different batches
    rng = np.random.default_rng(2)
    queries = [f"q{i}" for i in range(40) for _ in range(int(rng.integers(1, 13)))]
    values = [frozenset({q, f"product {row}"}) for row, q in enumerate(queries)]
    lengths = rng.integers(5, 60, size=len(queries))
    batches = length_grouped_batches(lengths, 8, seed=4, values=values, group_batches=4)
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(queries)))
    for batch in batches:
        assert len({queries[r] for r in batch}) == len(batch) <= 8
    # rows a group could not place join the next group: as many batches as without the constraint
    assert len(batches) == -(-len(queries) // 8) and sum(len(b) < 8 for b in batches) == 1
    # the hand-worked case: rows 0,1 share "a"; batches of 2 in one group sorted by length 0 < 1 < 2
    cut = length_grouped_batches(np.array([1, 2, 3]), 2, seed=0, values=[frozenset("a"), frozenset("a"),
                                                                         frozenset("b")])
    assert sorted(sorted(b.tolist()) for b in cut) == [[0, 2], [1]]


@pytest.mark.parametrize("rows, drop_last", [(1000, False), (1000, True), (32 * GROUP_BATCHES * 2 + 5, False),
                                             (32 * GROUP_BATCHES * 2 + 5, True), (31, False)])
def test_the_sampler_yields_what_it_says_its_length_is(rows, drop_last):
    lengths = np.random.default_rng(rows).integers(5, 60, size=rows)
    dataset = Dataset.from_dict({"query": [f"q{i}" for i in range(rows)], "label": [0.0] * rows})
    sampler = LengthGroupedSampler(lengths)(dataset, batch_size=32, drop_last=drop_last, valid_label_columns=None,
                                            generator=None, seed=7)
    sampler.set_epoch(2)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    assert all(len(b) == 32 for b in batches) if drop_last else sorted(sum(batches, [])) == list(range(rows))
    assert batches == [b.tolist() for b in length_grouped_batches(lengths, 32, seed=9, drop_last=drop_last)]


def test_without_lengths_the_sampler_sorts_by_the_rows_characters_and_keeps_texts_distinct():
    anchors = ["drill", "drill", "saw", "hammer", "nail"]
    positives = ["a", "bbbbbbbbbbbbbbbb", "cc", "ddd", "eeee"]
    dataset = Dataset.from_dict({"anchor": anchors, "positive": positives})
    sampler = LengthGroupedSampler(distinct=True)(dataset, batch_size=2, drop_last=False, valid_label_columns=None,
                                                  generator=None, seed=0)
    lengths = [len(a) + len(p) for a, p in zip(anchors, positives)]  # 6, 21, 5, 9, 8
    values = [frozenset({a, p}) for a, p in zip(anchors, positives)]
    assert list(sampler) == [b.tolist() for b in length_grouped_batches(np.array(lengths), 2, seed=0, values=values)]
    assert all(len({anchors[r] for r in b}) == len(b) for b in sampler)


def test_lengths_of_another_dataset_are_refused():
    with pytest.raises(ValueError, match="3 lengths for a dataset of 4 rows"):
        LengthGroupedSampler(np.array([1, 2, 3]))(Dataset.from_dict({"query": list("abcd")}), batch_size=2,
                                                  drop_last=False, valid_label_columns=None, generator=None, seed=0)


def test_the_factory_pickles_with_the_training_arguments():
    factory = pickle.loads(pickle.dumps(LengthGroupedSampler(np.array([3, 1, 2]), distinct=True)))
    assert factory.lengths.tolist() == [3, 1, 2] and factory.distinct
