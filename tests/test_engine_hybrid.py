"""Hybrid queries in the embedded engine: sub-query windows, fusion by the search pipeline, totals, explain."""

from __future__ import annotations

import numpy as np
import pytest

from lab.engine import Documents, EmbeddedIndex
from lab.errors import QueryError

F = np.float32
MIN_MAX = {"phase_results_processors": [{"normalization-processor": {
    "normalization": {"technique": "min_max"}, "combination": {"technique": "arithmetic_mean"}}}]}
RRF = {"phase_results_processors": [{"score-ranker-processor": {"combination": {"technique": "rrf"}}}]}
TEXTS = ["red shoe", "red red shoe", "blue shoe", "red hat", "green lamp", "red lamp shade"]
VECTORS = [[1, 0], [0, 1], [2, 1], [1, 1], [0, 3], [3, 0]]
TEXT = {"match": {"text": "red shoe"}}
VECTOR = {"knn": {"vec": {"vector": [1, 1], "k": 4}}}


@pytest.fixture(scope="module")
def index() -> EmbeddedIndex:
    body = {"mappings": {"properties": {
        "text": {"type": "text", "analyzer": "whitespace"},
        "vec": {"type": "knn_vector", "dimension": 2, "method": {"space_type": "innerproduct"}}}}}
    idx = EmbeddedIndex.create(body)
    idx.add(Documents([f"d{i}" for i in range(len(TEXTS))], {"text": TEXTS},
                      {"vec": np.array(VECTORS, dtype=np.float32)}))
    return idx


def sub_hits(index: EmbeddedIndex, query: dict, depth: int) -> tuple[np.ndarray, np.ndarray]:
    hits = index.search({"query": query, "size": depth})["hits"]["hits"]
    return (np.array([int(h["_id"][1:]) for h in hits], dtype=np.int64),
            np.array([h["_score"] for h in hits], dtype=np.float32))


def hybrid(queries: list[dict], **options: object) -> dict:
    return {"hybrid": {"queries": queries, **options}}


def test_each_sub_query_contributes_its_top_size_hits(index):
    result = index.search({"query": hybrid([TEXT, VECTOR]), "size": 2}, pipeline=MIN_MAX)["hits"]
    # size 2 per sub-query. text: d0 > d1 → min_max 1.0 and 0.001 (the minimum); knn (inner product + 1 on [1, 1]):
    # d2 = d4 = 4.0 → max = min, both 1.0. Arithmetic mean, a missing score as 0: d0 = d2 = d4 = 0.5, d1 = 0.0005;
    # equal scores keep document order.
    assert [(h["_id"], F(h["_score"])) for h in result["hits"]] == [("d0", F(0.5)), ("d2", F(0.5))]
    # total: every document any sub-query matched (text: d0-d3, d5; knn: its 4)
    assert result["total"] == {"value": 6, "relation": "eq"}
    assert result["max_score"] == 0.5


def test_min_max_arithmetic_mean_by_hand(index):
    text_only = hybrid([{"match": {"text": "lamp"}}, {"match": {"text": "shade"}}])
    got = {h["_id"]: F(h["_score"]) for h in index.search({"query": text_only}, pipeline=MIN_MAX)["hits"]["hits"]}
    # lamp: d4 and d5 score differently (lengths 2 and 3); min_max gives d4 1.0 and d5 0.001 (min -> 0.001);
    # shade: d5 alone -> 1.0. Arithmetic mean over the two sub-queries (a missing score counts as 0).
    assert got == {"d5": (F(0.001) + F(1)) / F(2), "d4": (F(1) + F(0)) / F(2)}


def test_pagination_depth_sets_the_window_and_from_pages_the_fused_list(index):
    body = {"query": hybrid([TEXT, VECTOR], pagination_depth=5), "size": 2, "from": 1}
    result = index.search(body, pipeline=RRF)["hits"]["hits"]
    # RRF, rank constant 60, over 5 hits per sub-query. text ranks: d0 d1 d2 d3 d5; knn (k 4): d2 d4 d5 d3.
    # d2 = 1/63 + 1/61, d5 = 1/65 + 1/63, d3 = 1/64 + 1/64, d0 = 1/61, d1 = d4 = 1/62; from 1, size 2: d5, d3.
    assert [h["_id"] for h in result] == ["d5", "d3"]
    assert [h["_score"] for h in result] == pytest.approx([1 / 65 + 1 / 63, 2 / 64], rel=1e-6)
    everything = index.search({**body, "from": 0, "size": 6}, pipeline=RRF)["hits"]["hits"]
    assert [h["_id"] for h in everything] == ["d2", "d5", "d3", "d0", "d1", "d4"]
    assert [h["_score"] for h in everything] == pytest.approx(
        [1 / 63 + 1 / 61, 1 / 65 + 1 / 63, 2 / 64, 1 / 61, 1 / 62, 1 / 62], rel=1e-6)


def test_hybrid_filter_applies_to_every_sub_query(index):
    flt = {"match": {"text": "red"}}
    result = index.search({"query": hybrid([TEXT, VECTOR], filter=flt), "size": 10}, pipeline=MIN_MAX)["hits"]
    # the filtered text sub-query: d0 > d1 > d3 > d5 (its BM25 scores, from a plain search); filtered knn: d5 4.0,
    # d3 3.0. min_max: text (s - min) / (max - min), the minimum 0.001; knn d5 1.0, d3 0.001. Mean of the two.
    text = {h["_id"]: float(h["_score"]) for h in index.search(
        {"query": {"bool": {"must": [TEXT], "filter": [flt]}}, "size": 10})["hits"]["hits"]}
    assert list(text) == ["d0", "d1", "d3", "d5"]
    low, span = text["d5"], text["d0"] - text["d5"]
    expected = {"d5": (0.001 + 1.0) / 2, "d0": (1.0 + 0.0) / 2, "d1": ((text["d1"] - low) / span + 0.0) / 2,
                "d3": ((text["d3"] - low) / span + 0.001) / 2}
    assert [h["_id"] for h in result["hits"]] == ["d5", "d0", "d1", "d3"]
    assert {h["_id"]: h["_score"] for h in result["hits"]} == pytest.approx(expected, rel=1e-5)


def test_explain_gives_the_fused_score_with_each_sub_query_explanation(index):
    body = {"query": hybrid([TEXT, VECTOR]), "size": 3}
    top = index.search(body, pipeline=MIN_MAX)["hits"]["hits"][0]
    explanation = index.explain(top["_id"], body, pipeline=MIN_MAX)
    assert F(explanation["value"]) == F(top["_score"])
    assert "combination" in explanation["description"]
    inner = [d["details"][0]["description"] for d in explanation["details"]]
    assert any(text.startswith("sum of:") or text.startswith("weight(") for text in inner)
    assert any(text.startswith("within top 4 docs") for text in inner)
    missing = index.explain("d4", {"query": hybrid([TEXT]), "size": 1}, pipeline=MIN_MAX)
    assert missing["value"] == 0.0


def test_a_pipeline_leaves_other_queries_alone(index):
    assert index.search({"query": TEXT}, pipeline=MIN_MAX) == index.search({"query": TEXT})


@pytest.mark.parametrize(("body", "pipeline", "message"), [
    ({"query": hybrid([TEXT])}, None, "query.hybrid: a hybrid query needs a search pipeline"),
    ({"query": hybrid([TEXT] * 6)}, MIN_MAX, "query.hybrid.queries: must be an array of 1 to 5 queries"),
    ({"query": hybrid([TEXT]), "from": 2}, MIN_MAX, "query.hybrid.pagination_depth: required when"),
    ({"query": hybrid([TEXT, {"match": {"text": ""}}])}, MIN_MAX, "query.hybrid.queries[1].match.text.query"),
    ({"query": hybrid([TEXT], extra=1)}, MIN_MAX, 'query.hybrid: unknown parameter "extra"'),
])
def test_bad_hybrid_requests(index, body, pipeline, message):
    with pytest.raises(QueryError) as error:
        index.search(body, pipeline=pipeline)
    assert message in str(error.value)
