"""Rewriting a disjunction of leaves: the shortcut that returns it unchanged must agree with Lucene's rules on the
cases next to it (BooleanQuery.rewrite: duplicate SHOULD clauses merge with summed boosts, as many SHOULD clauses
as minimumNumberShouldMatch become MUST, MatchNoDocs clauses drop, one clause collapses into itself)."""

from __future__ import annotations

import numpy as np

from lab.engine.nodes import Bool, MatchNone, Term
from lab.engine.rewrite import rewrite

A, B, C = Term("title", "a"), Term("title", "b"), Term("title", "c")


def test_distinct_leaves_are_their_own_fixpoint():
    node = Bool(should=(A, B, C))
    assert rewrite(node) is node
    with_msm = Bool(should=(A, B, C), msm=2)
    assert rewrite(with_msm) is with_msm


def test_a_duplicate_clause_still_merges_with_the_summed_boost():
    merged = rewrite(Bool(should=(A, B, A.with_boost(np.float32(2.0)))))
    assert merged == Bool(should=(A.with_boost(np.float32(3.0)), B))
    assert rewrite(Bool(should=(A, A))) == A.with_boost(np.float32(2.0))


def test_as_many_should_clauses_as_the_minimum_become_must():
    assert rewrite(Bool(should=(A, B), msm=2)) == Bool(must=(A, B))


def test_a_clause_that_cannot_match_is_dropped():
    assert rewrite(Bool(should=(A, MatchNone()))) == A
    assert rewrite(Bool(should=(A, B, MatchNone()))) == Bool(should=(A, B))
