"""Query ids and splits: deterministic, order-independent, disjoint, proportioned; leakage guard."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from lab.data import SPLITS, assert_no_test_leakage
from lab.data.ids import normalise_query, query_id_for
from lab.data.splits import SPLIT_SHARES, check_split, split_of
from lab.errors import LabError


def test_query_ids_ignore_case_width_and_spacing():
    assert normalise_query("  Angle\u00a0 BRACKET\t") == "angle bracket"
    assert normalise_query("ＬＥＤ bulb") == "led bulb"  # NFKC folds full-width letters
    assert query_id_for("Slide  Bolt") == query_id_for("slide bolt")
    assert query_id_for("slide bolt") != query_id_for("slide bolts")
    assert len(query_id_for("x")) == 16 and int(query_id_for("x"), 16) >= 0


def test_split_depends_only_on_the_id():
    ids = [query_id_for(f"query {i}") for i in range(500)]
    first = {q: split_of(q) for q in ids}
    shuffled = ids[:]
    random.Random(1).shuffle(shuffled)
    assert {q: split_of(q) for q in shuffled[:100]} == {q: first[q] for q in shuffled[:100]}
    assert set(first.values()) == set(SPLITS)


def test_split_shares_are_close_to_60_10_10_20():
    counts = Counter(split_of(query_id_for(f"q{i}")) for i in range(20000))
    for name, share in SPLIT_SHARES:
        assert abs(counts[name] / 20000 - share) < 0.015, (name, counts)
    assert sum(counts.values()) == 20000 and set(counts) == set(SPLITS)


def test_custom_shares_pick_among_the_given_names():
    assert {split_of(query_id_for(f"q{i}"), (("val", 0.5), ("tune", 0.5))) for i in range(200)} == {"val", "tune"}


def test_leakage_guard_rejects_test_queries_and_accepts_the_others():
    ids = [query_id_for(f"q{i}") for i in range(200)]
    train = [q for q in ids if split_of(q) in ("train", "val")]
    test = [q for q in ids if split_of(q) == "test"]
    assert_no_test_leakage(train)
    with pytest.raises(LabError, match=r"1 of \d+ training queries are in the test split"):
        assert_no_test_leakage([*train, test[0]])


def test_leakage_guard_prefers_assigned_splits():
    q_test_by_hash = next(q for q in (query_id_for(f"q{i}") for i in range(100)) if split_of(q) == "test")
    q_train_by_hash = next(q for q in (query_id_for(f"q{i}") for i in range(100)) if split_of(q) == "train")
    assert_no_test_leakage([q_test_by_hash], {q_test_by_hash: "train"})
    with pytest.raises(LabError, match="test split"):
        assert_no_test_leakage([q_train_by_hash], {q_train_by_hash: "test"})
    with pytest.raises(LabError, match="unlabeled split"):
        assert_no_test_leakage([q_train_by_hash], {q_train_by_hash: "unlabeled"})


def test_unknown_split_is_a_lab_error():
    assert check_split("all") == "all"
    with pytest.raises(LabError, match="unknown split 'dev'"):
        check_split("dev")
