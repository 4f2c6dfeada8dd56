"""Deterministic query splits: a query's bucket depends only on its id.

Buckets (disjoint): ``train`` 60 % (fine-tuning), ``val`` 10 % (fine-tuning validation), ``tune``
10 % (strategy parameter tuning), ``test`` 20 % (reported metrics). The bucket comes from a salted
sha256 of the query id, so it does not depend on row order or on which other queries exist, and a
query keeps its split when the dataset grows. Queries a source ships without any judgments (Home
Depot's test.csv) are marked ``unlabeled``: they belong to no split and are never evaluated or
trained on.
"""

from __future__ import annotations

import hashlib
from typing import Iterable, Mapping, Sequence

from ..errors import LabError

SPLITS: tuple[str, ...] = ("train", "val", "tune", "test")
UNLABELED = "unlabeled"
ALL = "all"
EVALUATION_SPLIT = "test"

SPLIT_SHARES: tuple[tuple[str, float], ...] = (("train", 0.6), ("val", 0.1), ("tune", 0.1), ("test", 0.2))
HOLDOUT_SHARES: tuple[tuple[str, float], ...] = (("train", 0.8), ("val", 0.1), ("test", 0.1))
"""80/10/10, no tune split: labelled records (by product id) and triplets (by anchor id)."""
HOLDOUT_SPLITS: tuple[str, ...] = tuple(name for name, _share in HOLDOUT_SHARES)

_SALT = b"relevance-lab/split/v1\x00"
_SCALE = 1 << 64


def hash_fraction(query_id: str) -> float:
    """A uniform number in [0, 1) fixed by ``query_id`` alone."""
    digest = hashlib.sha256(_SALT + query_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def split_of(query_id: str, shares: Sequence[tuple[str, float]] = SPLIT_SHARES) -> str:
    """The bucket of ``query_id`` among ``shares`` (name, fraction), fractions summing to 1."""
    point = hash_fraction(query_id)
    upper = 0.0
    for name, share in shares:
        upper += share
        if point < upper:
            return name
    return shares[-1][0]


def check_split(split: str, *, allow_all: bool = True, allow_unlabeled: bool = True) -> str:
    """``split`` if it names a split (or ``all`` / ``unlabeled`` where allowed), else LabError."""
    known = [*SPLITS, *([ALL] if allow_all else []), *([UNLABELED] if allow_unlabeled else [])]
    if split not in known:
        raise LabError(f"unknown split '{split}' (expected one of: {', '.join(known)})")
    return split


def assert_no_test_leakage(query_ids: Iterable[str], assigned: Mapping[str, str] | None = None) -> None:
    """Raise LabError if any of ``query_ids`` is a test query (or an unlabeled one).

    ``assigned`` (query id → split, e.g. from a dataset whose source defines its own splits) takes
    precedence; ids it does not know are checked against the hash split.
    """
    assigned = assigned or {}
    ids = list(dict.fromkeys(query_ids))
    splits = [assigned[q] if q in assigned else split_of(q) for q in ids]
    for forbidden, why in (("test", "training on them would leak into the reported metrics"),
                           (UNLABELED, "they have no judgments and must not be trained on")):
        leaked = [q for q, s in zip(ids, splits) if s == forbidden]
        if leaked:
            raise LabError(f"{len(leaked)} of {len(ids)} training queries are in the {forbidden} split "
                           f"(first: {leaked[0]}): {why}")
