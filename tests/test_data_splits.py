"""Query ids and splits: deterministic, order-independent, disjoint, proportioned; leakage guard."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from lab.data import SPLITS, assert_no_test_leakage
from lab.data.ids import normalise_query, query_id_for
from lab.data.labels import label_split_of
from lab.data.splits import HOLDOUT_SHARES, SPLIT_SHARES, check_split, split_of
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


QUERY_SHARES = (("train", 0.6), ("val", 0.1), ("tune", 0.1), ("test", 0.2))
RECORD_SHARES = (("train", 0.8), ("val", 0.1), ("test", 0.1))
"""Written out here, not read from lab.data.splits: a change of the shares must fail a test."""


def test_the_shares_are_the_documented_ones():
    assert SPLIT_SHARES == QUERY_SHARES and HOLDOUT_SHARES == RECORD_SHARES


def test_split_shares_are_close_to_60_10_10_20():
    counts = Counter(split_of(query_id_for(f"q{i}")) for i in range(20000))
    for name, share in QUERY_SHARES:
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


# Pinned: these assignments must never change (a dataset's reported test queries would move). Changing the salt,
# the hash, the id normalisation or the shares fails here.
PINNED_QUERIES = {
    "angle bracket": ("d8f34e1678c2b981", "train"), "ölfilter": ("dea1299287e55929", "test"),
    "led bulb": ("0621fa56174a8de3", "train"), "door knob": ("ff7ea8d7d2513952", "train"),
    "garden hose": ("12d43d7a3f89b27d", "tune"), "paint roller": ("47057412ecc90e31", "train"),
    "ceiling fan": ("7c55d5a2e7856e47", "test"), "toilet seat": ("82a26b72b7ac7863", "val"),
    "shower head": ("9c196ab4c9949959", "test"), "air filter": ("6618b9d7c7e40074", "train"),
    "tile saw": ("6ed7aac4bfdfb8d5", "tune"), "drill bit": ("9e5ffe6e02be5bd6", "train"),
}
PINNED_RECORDS = {"100001": "train", "100002": "train", "100005": "test", "100006": "val", "100007": "train",
                  "100012": "val", "100013": "train", "100015": "test", "100019": "test", "100020": "train",
                  "100023": "val", "100024": "train"}


def test_pinned_query_ids_and_splits():
    assert {text: (query_id_for(text), split_of(query_id_for(text))) for text in PINNED_QUERIES} == PINNED_QUERIES


def test_pinned_labelled_record_and_triplet_anchor_splits():
    assert {p: label_split_of(p) for p in PINNED_RECORDS} == PINNED_RECORDS
    assert {p: split_of(p, HOLDOUT_SHARES) for p in PINNED_RECORDS} == PINNED_RECORDS  # triplets split anchors so


def test_the_split_is_the_salted_sha256_bucket():
    import hashlib

    def bucket(identifier: str, shares: tuple[tuple[str, float], ...]) -> str:
        point = int.from_bytes(hashlib.sha256(b"relevance-lab/split/v1\x00" + identifier.encode()).digest()[:8],
                               "big") / 2 ** 64
        upper = 0.0
        for name, share in shares:
            upper += share
            if point < upper:
                return name
        return shares[-1][0]

    ids = [query_id_for(f"query {i}") for i in range(2000)]
    assert [split_of(q) for q in ids] == [bucket(q, QUERY_SHARES) for q in ids]
    assert [split_of(q, HOLDOUT_SHARES) for q in ids] == [bucket(q, RECORD_SHARES) for q in ids]
