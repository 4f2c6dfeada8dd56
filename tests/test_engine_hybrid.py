"""Hybrid queries in the embedded engine: sub-query windows, fusion by the search pipeline, totals, explain."""

from __future__ import annotations

import numpy as np
import pytest

from lab.engine import Documents, EmbeddedIndex
from lab.engine.pipelines import parse_pipeline
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
    lists = [sub_hits(index, TEXT, 2), sub_hits(index, VECTOR, 2)]
    docs, scores = parse_pipeline(MIN_MAX).fuse(lists)
    assert [(h["_id"], F(h["_score"])) for h in result["hits"]] == [(f"d{d}", s) for d, s in zip(docs[:2], scores[:2])]
    # total: every document any sub-query matched (text: d0-d3, d5; knn: its 4)
    assert result["total"] == {"value": 6, "relation": "eq"}
    assert result["max_score"] == float(scores[0])


def test_min_max_arithmetic_mean_by_hand(index):
    text_only = hybrid([{"match": {"text": "lamp"}}, {"match": {"text": "shade"}}])
    got = {h["_id"]: F(h["_score"]) for h in index.search({"query": text_only}, pipeline=MIN_MAX)["hits"]["hits"]}
    # lamp: d4 and d5 score differently (lengths 2 and 3); min_max gives d4 1.0 and d5 0.001 (min -> 0.001);
    # shade: d5 alone -> 1.0. Arithmetic mean over the two sub-queries (a missing score counts as 0).
    assert got == {"d5": (F(0.001) + F(1)) / F(2), "d4": (F(1) + F(0)) / F(2)}


def test_pagination_depth_sets_the_window_and_from_pages_the_fused_list(index):
    body = {"query": hybrid([TEXT, VECTOR], pagination_depth=5), "size": 2, "from": 1}
    result = index.search(body, pipeline=RRF)["hits"]["hits"]
    docs, scores = parse_pipeline(RRF).fuse([sub_hits(index, TEXT, 5), sub_hits(index, VECTOR, 5)])
    assert [(h["_id"], F(h["_score"])) for h in result] == [(f"d{d}", s) for d, s in zip(docs[1:3], scores[1:3])]


def test_hybrid_filter_applies_to_every_sub_query(index):
    flt = {"match": {"text": "red"}}
    result = index.search({"query": hybrid([TEXT, VECTOR], filter=flt), "size": 10}, pipeline=MIN_MAX)["hits"]
    assert {h["_id"] for h in result["hits"]} <= {"d0", "d1", "d3", "d5"}
    filtered_text = {"bool": {"must": [TEXT], "filter": [flt]}}
    filtered_vector = {"bool": {"must": [VECTOR], "filter": [flt]}}
    docs, scores = parse_pipeline(MIN_MAX).fuse([sub_hits(index, filtered_text, 10),
                                                 sub_hits(index, filtered_vector, 10)])
    assert [(h["_id"], F(h["_score"])) for h in result["hits"]] == [(f"d{d}", s) for d, s in zip(docs, scores)]


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
