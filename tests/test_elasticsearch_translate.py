"""The OpenSearch → Elasticsearch translation of index bodies and queries, and the lab's client-side fusion,
with every expected value written out by hand."""

from __future__ import annotations

import pytest

from lab.backends.elasticsearch_fusion import fuse
from lab.backends.elasticsearch_translate import (
    dense_vector,
    embedded_body,
    hybrid_plan,
    index_body,
    query,
    search_body,
)
from lab.backends.base import Hit
from lab.errors import QueryError


def knn_vector(space: str = "cosinesimil", **parameters) -> dict:
    return {"type": "knn_vector", "dimension": 4, "method": {
        "name": "hnsw", "engine": "lucene", "space_type": space, "parameters": parameters}}


# --- mappings --------------------------------------------------------------------------------------

def test_knn_vector_becomes_an_hnsw_dense_vector_with_the_same_similarity_and_graph():
    assert dense_vector("v", knn_vector(m=16, ef_construction=100)) == {
        "type": "dense_vector", "dims": 4, "element_type": "float", "index": True, "similarity": "cosine",
        "index_options": {"type": "hnsw", "m": 16, "ef_construction": 100}}
    assert dense_vector("v", knn_vector("l2"))["similarity"] == "l2_norm"
    assert dense_vector("v", knn_vector("innerproduct"))["similarity"] == "dot_product"
    assert dense_vector("v", knn_vector("l2"))["index_options"] == {"type": "hnsw"}


def test_a_vector_space_without_counterpart_is_refused_naming_the_field():
    with pytest.raises(QueryError, match=r"^mappings\.properties\.v\.method\.space_type: 'l1' has no "
                                         r"Elasticsearch similarity") as refused:
        dense_vector("v", knn_vector("l1"))
    assert "\n" not in str(refused.value)
    with pytest.raises(QueryError, match=r"method\.name: 'ivf' has no Elasticsearch counterpart"):
        dense_vector("v", {"type": "knn_vector", "dimension": 4, "method": {"name": "ivf"}})


def test_the_index_body_drops_opensearch_settings_and_sorts_on_catalogue_position():
    body = {"settings": {"index": {"knn": True, "number_of_shards": 1, "similarity": {"default": {"type": "LegacyBM25"}}}},
            "mappings": {"properties": {"title": {"type": "text", "analyzer": "english"},
                                        "v": knn_vector(m=8, ef_construction=50)}}}
    assert index_body(body, shards=2) == {
        "settings": {"index": {"number_of_shards": 2, "number_of_replicas": 0, "refresh_interval": "-1",
                               "sort.field": "lab_position", "sort.order": "asc",
                               "similarity": {"default": {"type": "BM25"}}}},
        "mappings": {"properties": {
            "title": {"type": "text", "analyzer": "english"},
            "v": {"type": "dense_vector", "dims": 4, "element_type": "float", "index": True, "similarity": "cosine",
                  "index_options": {"type": "hnsw", "m": 8, "ef_construction": 50}},
            "lab_position": {"type": "integer"}}}}
    assert body["settings"]["index"]["knn"] is True  # the lab's body is left as it was


def test_the_embedded_engine_scores_elasticsearch_bm25_as_the_legacy_form():
    body = {"settings": {"index": {"similarity": {"default": {"type": "BM25"}}}}, "mappings": {"properties": {}}}
    assert embedded_body(body)["settings"]["index"]["similarity"] == {"default": {"type": "LegacyBM25"}}


# --- queries ---------------------------------------------------------------------------------------

def test_the_knn_clause_becomes_the_knn_query_with_its_filter_translated():
    clause = {"knn": {"v": {"vector": [0.1, 0.2], "k": 7, "boost": 2.0,
                            "filter": {"bool": {"filter": [{"term": {"brand": "acme"}}]}}}}}
    assert query(clause) == {"knn": {"field": "v", "query_vector": [0.1, 0.2], "k": 7, "num_candidates": 7,
                                     "filter": {"bool": {"filter": [{"term": {"brand": "acme"}}]}}, "boost": 2.0}}


def test_compound_clauses_are_walked_and_lexical_ones_pass_through():
    near = {"knn": {"v": {"vector": [1.0], "k": 3}}}
    es_near = {"knn": {"field": "v", "query_vector": [1.0], "k": 3, "num_candidates": 3}}
    text = {"multi_match": {"query": "deck", "fields": ["title^2", "description"], "type": "best_fields"}}
    body = {"size": 5, "_source": False, "query": {"bool": {
        "should": [text, near], "filter": {"range": {"price": {"lte": 10}}}, "minimum_should_match": 1,
        "must": [{"dis_max": {"queries": [near, {"exists": {"field": "title"}}], "tie_breaker": 0.3}}],
        "must_not": [{"constant_score": {"filter": {"terms": {"brand": ["a", "b"]}}, "boost": 1.5}}]}}}
    assert search_body(body) == {"size": 5, "_source": False, "query": {"bool": {
        "should": [text, es_near], "filter": {"range": {"price": {"lte": 10}}}, "minimum_should_match": 1,
        "must": [{"dis_max": {"queries": [es_near, {"exists": {"field": "title"}}], "tie_breaker": 0.3}}],
        "must_not": [{"constant_score": {"filter": {"terms": {"brand": ["a", "b"]}}, "boost": 1.5}}]}}}


@pytest.mark.parametrize("clause, where", [
    ({"bool": {"should": [{"match": {"t": "x"}}, {"fuzzy": {"t": "dek"}}]}}, r"query\.bool\.should\[1\]\.fuzzy"),
    ({"script_score": {"query": {"match_all": {}}}}, r"query\.script_score"),
    ({"knn": {"v": {"vector": [1.0], "k": 3, "method_parameters": {"ef_search": 100}}}},
     r"query\.knn\.v\.method_parameters: Elasticsearch's knn query has no counterpart"),
    ({"knn": {"v": {"vector": [1.0]}}}, r"query\.knn\.v: needs vector and k"),
    ({"knn": {"v": {"vector": [1.0], "max_distance": 2.0}}}, r"query\.knn\.v\.max_distance: Elasticsearch"),
    ({"bool": {"must": {"hybrid": {"queries": []}}}}, r"query\.bool\.must\.hybrid: a hybrid query must be the top"),
])
def test_a_clause_elasticsearch_cannot_run_is_refused_in_one_line_naming_it(clause, where):
    with pytest.raises(QueryError, match=f"^{where}") as refused:
        query(clause)
    assert "\n" not in str(refused.value)


def test_a_hybrid_query_becomes_its_sub_queries_and_a_counting_query():
    text, near = {"match": {"t": "deck"}}, {"knn": {"v": {"vector": [1.0], "k": 20}}}
    es_near = {"knn": {"field": "v", "query_vector": [1.0], "k": 20, "num_candidates": 20}}
    only = {"term": {"brand": "acme"}}
    plan = hybrid_plan({"size": 5, "from": 2, "query": {"hybrid": {
        "queries": [text, near], "pagination_depth": 30, "filter": only}}})
    assert plan.size == 5 and plan.start == 2
    assert plan.subs == [
        {"size": 30, "track_total_hits": False, "query": {"bool": {"must": [text], "filter": [only]}}},
        {"size": 30, "track_total_hits": False, "query": {"bool": {"must": [es_near], "filter": [only]}}}]
    assert plan.count == {"size": 0, "track_total_hits": True, "query": {"bool": {"should": [
        {"bool": {"must": [text], "filter": [only]}}, {"bool": {"must": [es_near], "filter": [only]}}]}}}
    assert hybrid_plan({"size": 4, "query": {"hybrid": {"queries": [text]}}}).subs[0]["size"] == 4


# --- client-side fusion: the engine's code, values worked out by hand ---------------------------------

MINMAX = {"phase_results_processors": [{"normalization-processor": {
    "normalization": {"technique": "min_max"}, "combination": {"technique": "arithmetic_mean"}}}]}


def test_min_max_arithmetic_mean_with_its_floor_for_the_lowest_score():
    bm25 = [("a", 0, 4.0), ("b", 1, 2.0), ("c", 2, 1.0)]  # min_max: 1, 1/3, 0 → 0.001
    knn = [("c", 2, 0.9), ("d", 3, 0.5)]  # min_max: 1, 0 → 0.001
    hits = fuse(MINMAX, [bm25, knn], size=10)
    # a: (1 + 0) / 2; c: (0.001 + 1) / 2; b: (1/3 + 0) / 2; d: (0 + 0.001) / 2
    assert [h.doc_id for h in hits] == ["c", "a", "b", "d"]
    assert [h.score for h in hits] == pytest.approx([0.5005, 0.5, 1 / 6, 0.0005], rel=1e-6)


def test_rrf_with_rank_constant_and_weights():
    rrf = {"phase_results_processors": [{"score-ranker-processor": {"combination": {
        "technique": "rrf", "rank_constant": 10, "parameters": {"weights": [0.25, 0.75]}}}}]}
    first = [("a", 0, 9.0), ("b", 1, 8.0)]
    second = [("b", 1, 0.9), ("c", 2, 0.8)]
    hits = fuse(rrf, [first, second], size=10)
    # b: 0.25/12 + 0.75/11; c: 0.75/12; a: 0.25/11
    assert hits == [Hit("b", pytest.approx(0.25 / 12 + 0.75 / 11, rel=1e-6)),
                    Hit("c", pytest.approx(0.75 / 12, rel=1e-6)), Hit("a", pytest.approx(0.25 / 11, rel=1e-6))]


def test_equal_fused_scores_come_in_catalogue_order_and_pages_are_cut_after_fusion():
    rrf = {"phase_results_processors": [{"score-ranker-processor": {"combination": {"technique": "rrf"}}}]}
    first, second = [("late", 9, 1.0)], [("early", 4, 1.0)]  # both 1/61: the lower catalogue position first
    assert [h.doc_id for h in fuse(rrf, [first, second], size=2)] == ["early", "late"]
    assert [h.doc_id for h in fuse(rrf, [first, second], size=1, start=1)] == ["late"]


@pytest.mark.parametrize("technique, combination, expected", [
    ("l2", "arithmetic_mean", {"a": (0.8 + 0) / 2, "b": (0.6 + 1.0) / 2}),  # l2: 4/5, 3/5 and 2/2
    ("min_max", "geometric_mean", {"a": 1.0, "b": (0.001 * 1.0) ** 0.5}),
    ("min_max", "harmonic_mean", {"a": 1.0, "b": 2 / (1 / 0.001 + 1 / 1.0)}),
])
def test_other_normalizations_and_combinations(technique, combination, expected):
    pipeline = {"phase_results_processors": [{"normalization-processor": {
        "normalization": {"technique": technique}, "combination": {"technique": combination}}}]}
    hits = fuse(pipeline, [[("a", 0, 4.0), ("b", 1, 3.0)], [("b", 1, 2.0)]], size=10)
    assert {h.doc_id: h.score for h in hits} == pytest.approx(expected, rel=1e-5)
