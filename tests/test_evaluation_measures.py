"""The lab's vectorised measures against ranx itself, the reference, on random graded runs."""

from __future__ import annotations

import random
import warnings

import numpy as np
import pytest

from lab.errors import LabError
from lab.evaluation.metrics import DEFAULT_METRICS, evaluate_ranking

RANX_METRICS = [m for m in DEFAULT_METRICS if not m.startswith("judged@")] + [
    "ndcg@1", "ndcg@3", "mrr@100", "map@100", "recall@10", "precision@1", "precision@100", "ndcg@5"]


def random_case(seed: int, queries: int = 300) -> tuple[dict, dict]:
    """Graded judgments 0–3 over a small catalogue and rankings of 0–150 documents, some unjudged;
    some queries have no relevant document, some no ranking at all."""
    rng = random.Random(seed)
    docs = [f"d{i}" for i in range(400)]
    qrels, ranking = {}, {}
    for q in range(queries):
        judged = rng.sample(docs, rng.randint(1, 40))
        top_grade = rng.choice([0, 1, 2, 3, 3])
        qrels[f"q{q}"] = {d: rng.randint(0, top_grade) for d in judged}
        if rng.random() < 0.05:
            continue
        pool = judged + rng.sample(docs, 60)
        ranking[f"q{q}"] = list(dict.fromkeys(rng.sample(pool, min(len(pool), rng.randint(0, 150)))))
    ranking["unjudged-query"] = ["d1", "d2"]
    return qrels, ranking


def ranx_values(qrels: dict, ranking: dict, metrics: list[str]) -> dict[str, np.ndarray]:
    from ranx import Qrels, Run, evaluate

    run = Run.from_dict({q: {d: float(len(docs) - i) for i, d in enumerate(docs)}
                         for q, docs in ranking.items() if docs})
    ranx_qrels = Qrels.from_dict(qrels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = evaluate(ranx_qrels, run, metrics, return_mean=False, make_comparable=True)
    order = list(ranx_qrels.keys())
    return {m: dict(zip(order, np.asarray(values[m], dtype=float))) for m in metrics}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_measure_equals_ranx_query_by_query(seed):
    qrels, ranking = random_case(seed)
    ours = evaluate_ranking(qrels, ranking, RANX_METRICS)
    reference = ranx_values(qrels, ranking, RANX_METRICS)
    assert list(ours.index) == sorted(qrels)
    for metric in RANX_METRICS:
        expected = np.array([reference[metric][q] for q in ours.index])
        np.testing.assert_allclose(ours[metric].to_numpy(), expected, rtol=1e-12, atol=1e-15, err_msg=metric)
        assert expected.std() > 0, metric  # the case exercises the measure


def test_judged_counts_every_graded_document_in_the_top_k():
    values = evaluate_ranking({"q": {"a": 0, "b": 3}}, {"q": ["a", "x", "b", "y"]}, ["judged@2", "judged@4"])
    assert values.loc["q"].tolist() == [0.5, 0.5]


def test_a_document_listed_twice_counts_once_at_its_first_rank():
    values = evaluate_ranking({"q": {"b": 1, "c": 1}}, {"q": ["a", "b", "b", "c"]}, ["map@10", "precision@3"])
    assert values.loc["q", "map@10"] == pytest.approx((1 / 2 + 2 / 3) / 2)  # b at 2, c at 3
    assert values.loc["q", "precision@3"] == pytest.approx(2 / 3)


def test_an_unknown_measure_is_named():
    with pytest.raises(LabError, match="unknown metric 'ndcg@x'"):
        evaluate_ranking({"q": {"a": 1}}, {"q": ["a"]}, ["ndcg@x"])
    with pytest.raises(LabError, match="unknown metric 'bpref@10'"):
        evaluate_ranking({"q": {"a": 1}}, {"q": ["a"]}, ["bpref@10"])
