"""Query DSL semantics of the embedded engine, with hand-computed Lucene scores."""

from __future__ import annotations

import numpy as np
import pytest

from lab.engine import Documents, EmbeddedIndex
from lab.engine.msm import min_should_match
from lab.errors import QueryError
from tests.test_engine_bm25 import F, double_sum, idf, term_score

PRODUCTS = {
    "p0": {"title": "red shoe", "body": "red red leather shoe for running", "brand": "acme", "price": "10.5",
           "stock": "3"},
    "p1": {"title": "blue shoe", "body": "blue canvas shoe", "brand": "bolt", "price": "20", "stock": "0"},
    "p2": {"title": "red hat", "body": "a red hat", "brand": "acme", "price": "5.25", "stock": "10"},
    "p3": {"title": None, "body": "shoe polish red", "brand": None, "price": None, "stock": "7"},
    "p4": {"title": "green lamp", "body": "green desk lamp led", "brand": "lumo", "price": "35", "stock": "1"},
}
MAPPING = {"mappings": {"properties": {
    "title": {"type": "text", "analyzer": "whitespace"},
    "body": {"type": "text", "analyzer": "whitespace"},
    "english": {"type": "text", "analyzer": "english"},
    "brand": {"type": "keyword"},
    "price": {"type": "float"},
    "stock": {"type": "integer"},
}}}
# title: 4 docs of 2 tokens; body: 5 docs of 6, 3, 3, 3, 4 tokens
TITLE_N, TITLE_AVGDL = 4, F(8 / 4)
BODY_N, BODY_AVGDL = 5, F(19 / 5)


def title(term_freq: int, df: int, boost: float = 1.0) -> np.float32:
    return term_score(term_freq, 2, df, TITLE_N, TITLE_AVGDL, boost=boost)


def body(term_freq: int, length: int, df: int, boost: float = 1.0) -> np.float32:
    return term_score(term_freq, length, df, BODY_N, BODY_AVGDL, boost=boost)


@pytest.fixture(scope="module")
def index() -> EmbeddedIndex:
    idx = EmbeddedIndex.create(MAPPING)
    ids = list(PRODUCTS)
    columns = {f: [PRODUCTS[i][f] for i in ids] for f in ("title", "body", "brand", "price", "stock")}
    columns["english"] = ["The running shoes", "a shoe", None, "the and of", "Lamps"]
    idx.add(Documents(ids, columns))
    return idx


def search(index: EmbeddedIndex, query: dict, **body: object) -> dict[str, np.float32]:
    hits = index.search({"query": query, "size": 100, **body})["hits"]["hits"]
    return {h["_id"]: F(h["_score"]) for h in hits}


def ranked(index: EmbeddedIndex, query: dict) -> list[str]:
    return [h["_id"] for h in index.search({"query": query, "size": 100})["hits"]["hits"]]


# ---- bool ---------------------------------------------------------------------------------------

def test_should_only_bool_needs_one_matching_clause(index):
    got = search(index, {"bool": {"should": [{"match": {"title": "red"}}, {"match": {"body": "lamp"}}]}})
    assert got == {"p0": title(1, 2), "p2": title(1, 2), "p4": body(1, 4, 1)}


def test_should_is_optional_next_to_must_and_adds_in_float(index):
    got = search(index, {"bool": {"must": [{"match": {"body": "shoe"}}], "should": [{"match": {"title": "red"}}]}})
    assert got == {"p0": body(1, 6, 3) + title(1, 2), "p1": body(1, 3, 3), "p3": body(1, 3, 3)}


def test_minimum_should_match_counts_should_clauses(index):
    clauses = [{"match": {"title": "red"}}, {"match": {"body": "leather"}}, {"match": {"body": "hat"}}]
    got = search(index, {"bool": {"should": clauses, "minimum_should_match": 2}})
    assert got == {"p0": double_sum(title(1, 2), body(1, 6, 1)), "p2": double_sum(title(1, 2), body(1, 3, 1))}
    with_must = {"bool": {"must": [{"match": {"body": "red"}}], "should": clauses[1:], "minimum_should_match": 1}}
    assert set(search(index, with_must)) == {"p0", "p2"}


def test_filter_and_must_not_do_not_score(index):
    assert search(index, {"bool": {"filter": [{"term": {"brand": "acme"}}]}}) == {"p0": F(0), "p2": F(0)}
    got = search(index, {"bool": {"should": [{"match": {"body": "red"}}], "must_not": [{"term": {"brand": "acme"}}]}})
    assert got == {"p3": body(1, 3, 3)}
    assert search(index, {"bool": {"must_not": {"term": {"brand": "acme"}}}}) == {"p1": F(0), "p3": F(0), "p4": F(0)}


def test_empty_bool_and_match_all_score_their_boost(index):
    assert search(index, {"bool": {}}) == {p: F(1) for p in PRODUCTS}
    assert search(index, {"match_all": {"boost": 1.7}}) == {p: F(1.7) for p in PRODUCTS}
    assert search(index, {"constant_score": {"filter": {"match": {"body": "shoe"}}, "boost": 2.5}}) == {
        "p0": F(2.5), "p1": F(2.5), "p3": F(2.5)}


def test_nested_conjunctions_are_inlined_into_one_double_sum(index):
    query = {"bool": {"must": [{"bool": {"must": [{"match": {"title": "red"}}, {"match": {"body": "red"}}]}},
                               {"match": {"body": "hat"}}]}}
    assert search(index, query) == {"p2": double_sum(title(1, 2), body(1, 3, 3), body(1, 3, 1))}


# ---- dis_max and multi_match --------------------------------------------------------------------

def test_dis_max_is_max_plus_tie_breaker_times_the_others(index):
    query = {"dis_max": {"queries": [{"match": {"title": "red"}}, {"match": {"body": "red"}}], "tie_breaker": 0.3}}
    got = search(index, query)
    best, other = sorted([body(2, 6, 3), title(1, 2)], reverse=True)
    assert got["p0"] == F(float(best) + float(other) * float(F(0.3)))
    assert got["p3"] == body(1, 3, 3)


def test_multi_match_best_fields_takes_the_best_field_with_its_boost(index):
    got = search(index, {"multi_match": {"query": "red shoe", "fields": ["title^2", "body"]}})
    title_p0 = double_sum(title(1, 2, boost=2), title(1, 2, boost=2))
    body_p0 = double_sum(body(2, 6, 3), body(1, 6, 3))
    assert got["p0"] == max(title_p0, body_p0)
    assert got["p3"] == double_sum(body(1, 3, 3), body(1, 3, 3))


def test_multi_match_best_fields_adds_tie_breaker_times_the_other_fields(index):
    got = search(index, {"multi_match": {"query": "red shoe", "fields": ["title^2", "body"], "tie_breaker": 0.3}})
    title_p0 = double_sum(title(1, 2, boost=2), title(1, 2, boost=2))  # 2 × (red + shoe) on a 2-token title
    body_p0 = double_sum(body(2, 6, 3), body(1, 6, 3))                  # red twice, shoe once in 6 tokens
    best, other = max(title_p0, body_p0), min(title_p0, body_p0)
    assert got["p0"] == F(float(best) + float(other) * float(F(0.3)))
    assert got["p0"] != max(title_p0, body_p0) and got["p0"] != double_sum(title_p0, body_p0)
    assert got["p3"] == double_sum(body(1, 3, 3), body(1, 3, 3))      # one field matches: no tie-breaker share
    title_p2 = title(1, 2, boost=2)
    assert got["p2"] == F(float(max(title_p2, body(1, 3, 3))) + float(min(title_p2, body(1, 3, 3))) * float(F(0.3)))


def test_multi_match_most_fields_sums_fields(index):
    got = search(index, {"multi_match": {"query": "red shoe", "fields": ["title^2", "body"], "type": "most_fields"}})
    # dis_max(tie 1) is rewritten to a disjunction; the unboosted body disjunction flattens into it
    title_p0 = double_sum(title(1, 2, boost=2), title(1, 2, boost=2))
    assert got["p0"] == double_sum(title_p0, body(2, 6, 3), body(1, 6, 3))


def test_multi_match_operator_and_applies_per_field(index):
    got = search(index, {"multi_match": {"query": "red shoe", "fields": ["title", "body"], "operator": "and"}})
    assert set(got) == {"p0", "p3"}


def test_multi_match_wildcard_fields_and_tie_breaker(index):
    explicit = {"multi_match": {"query": "red", "fields": ["title", "body", "brand"], "tie_breaker": 0.5}}
    pattern = {"multi_match": {"query": "red", "fields": ["*"], "tie_breaker": 0.5}}
    assert search(index, pattern) == search(index, {"multi_match": {**explicit["multi_match"],
                                                                      "fields": ["body", "brand", "english",
                                                                                 "title"]}})


def test_cross_fields_blends_document_frequencies(index):
    got = search(index, {"multi_match": {"query": "red lamp", "type": "cross_fields", "fields": ["title", "body"]}})
    # "red": df title 2, body 3 -> body keeps 3, title gets 3 + 1 = 4 (capped by its docCount, 4)
    # "lamp": df 1 in both -> 1 in both
    red_p0 = max(term_score(1, 2, 4, TITLE_N, TITLE_AVGDL), body(2, 6, 3))
    lamp_p4 = max(term_score(1, 2, 1, TITLE_N, TITLE_AVGDL), body(1, 4, 1))
    assert got["p0"] == red_p0
    assert got["p4"] == lamp_p4
    assert idf(4, TITLE_N) < idf(2, TITLE_N)


def test_cross_fields_operator_and_needs_every_term_in_some_field(index):
    query = {"type": "cross_fields", "fields": ["title", "body", "brand"], "operator": "and"}
    assert search(index, {"multi_match": {"query": "red lamp", **query}}) == {}
    assert set(search(index, {"multi_match": {"query": "red leather", **query}})) == {"p0"}


def test_cross_fields_keeps_field_boosts(index):
    got = search(index, {"multi_match": {"query": "hat", "type": "cross_fields", "fields": ["title^3", "body"]}})
    assert got == {"p2": max(term_score(1, 2, 1, TITLE_N, TITLE_AVGDL, boost=3), body(1, 3, 1))}


# ---- minimum_should_match -----------------------------------------------------------------------

@pytest.mark.parametrize(("clauses", "spec", "expected"), [
    (5, "3", 3), (5, "-2", 3), (5, "75%", 3), (5, "-25%", 4), (3, "3<90%", 3), (5, "3<90%", 4),
    (2, "2<-25% 9<-3", 2), (5, "2<-25% 9<-3", 4), (9, "2<-25% 9<-3", 7), (10, "2<-25% 9<-3", 7),
    (3, "10", 10), (4, "-10", 0), (7, " 100% ", 7), (3, "1 < -1", 2),
])
def test_minimum_should_match_specs(clauses, spec, expected):
    assert min_should_match(clauses, spec, "msm") == expected


@pytest.mark.parametrize("spec", ["abc", "<90%", "50%%", "2<", "1.5"])
def test_bad_minimum_should_match_specs(spec):
    with pytest.raises(QueryError, match="msm: invalid minimum_should_match"):
        min_should_match(3, spec, "msm")


def test_match_minimum_should_match_and_the_operator_and_quirk(index):
    assert set(search(index, {"match": {"body": {"query": "red shoe hat", "minimum_should_match": "67%"}}})) == {
        "p0", "p2", "p3"}
    # OpenSearch sets msm on the MUST-only BooleanQuery: 2 SHOULD clauses required, none exist
    assert search(index, {"match": {"body": {"query": "red shoe", "operator": "and", "minimum_should_match": 2}}}) == {}


# ---- analysis edge cases ------------------------------------------------------------------------

def test_stop_word_only_query_matches_nothing_unless_zero_terms_all(index):
    assert search(index, {"match": {"english": "the and"}}) == {}
    assert search(index, {"match": {"english": {"query": "the", "zero_terms_query": "all"}}}) == {
        p: F(1) for p in PRODUCTS}
    assert set(search(index, {"match": {"english": "running"}})) == {"p0"}


# ---- term-level queries -------------------------------------------------------------------------

def test_terms_range_exists_and_ids_are_constant_score(index):
    assert search(index, {"terms": {"brand": ["acme", "lumo"], "boost": 2}}) == {p: F(2) for p in ("p0", "p2", "p4")}
    assert search(index, {"range": {"price": {"gte": 10.5, "lt": 35}}}) == {"p0": F(1), "p1": F(1)}
    assert search(index, {"range": {"stock": {"gt": 0.5, "lte": 3}}}) == {"p0": F(1), "p4": F(1)}
    assert search(index, {"range": {"brand": {"gte": "acme", "lt": "b"}}}) == {"p0": F(1), "p2": F(1)}
    assert search(index, {"exists": {"field": "title"}}) == {p: F(1) for p in ("p0", "p1", "p2", "p4")}
    assert search(index, {"ids": {"values": ["p3", "nope"]}}) == {"p3": F(1)}
    assert search(index, {"term": {"stock": 7}}) == {"p3": F(1)}
    assert search(index, {"match": {"price": "5.25"}}) == {"p2": F(1)}


def test_float_ranges_compare_in_float32(index):
    assert set(search(index, {"range": {"price": {"lte": 5.25}}})) == {"p2"}
    assert set(search(index, {"range": {"price": {"gt": 5.25}}})) == {"p0", "p1", "p4"}


def test_term_on_text_field_is_not_analysed(index):
    assert search(index, {"term": {"body": "red"}}) == search(index, {"match": {"body": "red"}})
    assert search(index, {"term": {"body": "Red"}}) == {}


# ---- ranking, paging, totals --------------------------------------------------------------------

def test_ties_keep_insertion_order_and_paging(index):
    assert ranked(index, {"match_all": {}}) == list(PRODUCTS)
    page = index.search({"query": {"match_all": {}}, "from": 2, "size": 2})["hits"]
    assert [h["_id"] for h in page["hits"]] == ["p2", "p3"]
    assert page["total"] == {"value": 5, "relation": "eq"}
    assert page["max_score"] == 1.0
    empty = index.search({"query": {"match_all": {}}, "size": 0})["hits"]
    assert empty["hits"] == [] and empty["max_score"] is None and empty["total"]["value"] == 5
    capped = index.search({"query": {"match_all": {}}, "track_total_hits": 3})["hits"]["total"]
    assert capped == {"value": 3, "relation": "gte"}


# ---- errors -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("query", "message"), [
    ({"fuzzy": {"title": "x"}}, "query.fuzzy: unknown query type"),
    ({"bool": {"should": [{"match": {"title": "x"}}, {"match": {"title": {"query": "x", "fuzziness": 2}}}]}},
     'query.bool.should[1].match.title: unknown parameter "fuzziness"'),
    ({"match": {"nope": "x"}}, 'query.match.nope: field "nope" is not in the index mapping'),
    ({"match": {"title": ""}}, "query.match.title.query: empty query text"),
    ({"multi_match": {"query": "  ", "fields": ["title"]}}, "query.multi_match.query: empty query text"),
    ({"multi_match": {"query": "x", "fields": ["title", "nope"]}}, "query.multi_match.fields[1]: field \"nope\""),
    ({"multi_match": {"query": "x", "fields": ["title"], "type": "phrase"}}, "query.multi_match.type"),
    ({"bool": {"must": [{}]}}, "query.bool.must[0]: empty query clause"),
    ({"match": {"title": "x", "body": "y"}}, "query.match: expected exactly one field"),
    ({"bool": {"must": {"hybrid": {"queries": []}}}}, "query.bool.must.hybrid: a hybrid query must be the top-level"),
    ({"range": {"title": {"gte": "a"}}}, "query.range.title: range queries need a numeric or keyword field"),
    ({"match": {"title": {"query": "x", "boost": -1}}}, "query.match.title.boost: negative boosts"),
    ({"term": {"stock": "many"}}, "query.term.stock.value: 'many' is not a number"),
])
def test_unsupported_or_bad_queries_name_the_clause(index, query, message):
    with pytest.raises(QueryError) as error:
        index.search({"query": query})
    assert message in str(error.value)


@pytest.mark.parametrize(("body", "message"), [
    ({"query": {"match_all": {}}, "sort": ["price"]}, 'search body: unknown parameter "sort"'),
    ({"size": -1}, "size: must be >= 0"),
    ({"size": 9000, "from": 2000}, "size: result window is too large"),
    ({"query": "red"}, "query: must be an object"),
])
def test_bad_search_bodies(index, body, message):
    with pytest.raises(QueryError) as error:
        index.search(body)
    assert message in str(error.value)
