"""Evaluation: ranx metrics on the exact engine ranking, judged@k, empty results."""

from __future__ import annotations

import math

import pytest

from lab.evaluation.metrics import evaluate_ranking, mean_metrics

QRELS = {"q1": {"a": 2, "b": 0, "c": 1}, "q2": {"x": 1}, "q3": {"z": 2}}


def test_metrics_are_hand_computed_values():
    ranking = {"q1": ["b", "a", "c", "d"], "q2": ["y", "x"], "q3": []}
    per_query = evaluate_ranking(QRELS, ranking)
    q1 = per_query.loc["q1"]
    # relevant a at rank 2 and c at rank 3: MRR sees only the first, AP both (they differ, so a swap shows)
    assert q1["mrr@10"] == pytest.approx(0.5)
    assert q1["map@10"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert mean_metrics(per_query)["map@10"] == pytest.approx(((1 / 2 + 2 / 3) / 2 + 1 / 2) / 3)
    assert mean_metrics(per_query)["mrr@10"] == pytest.approx((1 / 2 + 1 / 2) / 3)
    dcg = 2 / math.log2(3) + 1 / math.log2(4)
    idcg = 2 / math.log2(2) + 1 / math.log2(3)
    assert q1["ndcg@10"] == pytest.approx(dcg / idcg)
    assert q1["precision@10"] == pytest.approx(0.2)
    assert q1["recall@100"] == pytest.approx(1.0)
    assert q1["judged@10"] == pytest.approx(0.3)  # b, a, c judged among the top 10 slots


def test_query_without_hits_scores_zero_and_counts_in_the_mean():
    per_query = evaluate_ranking(QRELS, {"q1": ["a"], "q2": [], "q3": []})
    assert list(per_query.index) == ["q1", "q2", "q3"]
    assert per_query.loc["q2"].sum() == 0 and per_query.loc["q3"].sum() == 0
    assert mean_metrics(per_query)["mrr@10"] == pytest.approx(1 / 3)


def test_equal_scores_keep_the_backend_order():
    # ranx would reorder tied scores; the lab scores the order the engine returned.
    first = evaluate_ranking({"q": {"b": 1}}, {"q": ["a", "b"]})
    second = evaluate_ranking({"q": {"b": 1}}, {"q": ["b", "a"]})
    assert first.loc["q", "mrr@10"] == pytest.approx(0.5)
    assert second.loc["q", "mrr@10"] == pytest.approx(1.0)
