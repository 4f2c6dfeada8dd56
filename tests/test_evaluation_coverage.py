"""Coverage-aware metrics: judged@k, condensed lists, unjudged hits at the top grade, bpref. Expected values are
worked out by hand (nDCG with linear gains, as ranx: DCG = Σ rel / log2(rank + 1))."""

from __future__ import annotations

import math

import pytest

from lab.evaluation.coverage import (condensed_ranking, coverage_per_query, coverage_summary, judged_gaps,
                                     unjudged_at_grade)

QRELS = {"q1": {"a": 2, "b": 0, "c": 1}, "q2": {"z": 1}, "q3": {"m": 1}}
RANKING = {"q1": ["x", "a", "b", "c"], "q2": ["y", "z"], "q3": []}
L3, L5 = math.log2(3), math.log2(5)


def test_condensed_ranking_drops_unjudged_hits_and_keeps_order():
    assert condensed_ranking(QRELS, RANKING) == {"q1": ["a", "b", "c"], "q2": ["z"], "q3": []}


def test_unjudged_hits_within_the_depth_get_the_grade():
    filled = unjudged_at_grade(QRELS, RANKING, depth=1, grade=2)
    assert filled["q1"] == {"a": 2, "b": 0, "c": 1, "x": 2}
    assert filled["q2"] == {"z": 1, "y": 2}
    assert QRELS["q1"] == {"a": 2, "b": 0, "c": 1}  # not modified in place


def test_coverage_per_query_by_hand():
    frame = coverage_per_query(QRELS, RANKING, "ndcg@10")
    assert list(frame.columns) == ["judged@10", "ndcg@10", "ndcg@10 condensed", "ndcg@10 unjudged=top", "bpref"]
    ideal = 2 + 1 / L3
    q1 = frame.loc["q1"]
    assert q1["judged@10"] == pytest.approx(0.3)
    assert q1["ndcg@10"] == pytest.approx((2 / L3 + 1 / L5) / ideal)          # x a b c: a at 2, c at 4
    assert q1["ndcg@10 condensed"] == pytest.approx((2 + 1 / 2) / ideal)      # a b c: a at 1, c at 3
    assert q1["ndcg@10 unjudged=top"] == pytest.approx((2 + 2 / L3 + 1 / L5) / (2 + 2 / L3 + 1 / 2))
    assert q1["bpref"] == pytest.approx(0.5)  # R = 2, N = 1: a has no non-relevant above (1), c has b (0)
    q2 = frame.loc["q2"]
    assert q2["ndcg@10"] == pytest.approx(1 / L3)
    assert q2["ndcg@10 condensed"] == pytest.approx(1.0)
    assert q2["bpref"] == pytest.approx(1.0)  # trec_eval: no judged non-relevant document ranked above z
    assert frame.loc["q3"].tolist() == [0.0] * 5  # judged, no hits


def test_mrr_interval_and_summary():
    frame = coverage_per_query(QRELS, RANKING, "mrr@10")
    assert frame["mrr@10"].tolist() == pytest.approx([0.5, 0.5, 0.0])
    assert frame["mrr@10 condensed"].tolist() == pytest.approx([1.0, 1.0, 0.0])
    assert frame["mrr@10 unjudged=top"].tolist() == pytest.approx([1.0, 1.0, 0.0])
    summary = coverage_summary(QRELS, RANKING, "mrr@10")
    assert summary["mrr@10"] == pytest.approx(1 / 3)
    assert summary["judged@10"] == pytest.approx(0.4 / 3)


def test_the_top_grade_can_be_given():
    frame = coverage_per_query(QRELS, RANKING, "ndcg@1", top_grade=1)
    assert frame.loc["q1", "ndcg@1 unjudged=top"] == pytest.approx(1 / 2)  # x judged 1 at rank 1, ideal a = 2


def test_judged_gaps_beyond_the_margin():
    assert judged_gaps({"a": 0.2, "b": 0.35, "c": 0.25}, margin=0.1) == [("a", "b", pytest.approx(0.15))]
    assert judged_gaps({"a": 0.2, "b": 0.25}, margin=0.1) == []
