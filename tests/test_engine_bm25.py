"""BM25 scores of the embedded engine against hand-computed Lucene scores.

Expected values are computed here, independently of the engine, with Lucene's formulas in explicit
float32 arithmetic and SmallFloat's decoded lengths written out as Lucene 8.7 prints them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from lab.engine import Documents, EmbeddedIndex
from lab.engine.smallfloat import byte4_to_int, int_to_byte4

F = np.float32

# SmallFloat.intToByte4 / byte4ToInt as printed by Lucene 8.7 (length: (norm byte, decoded length)).
LUCENE_SMALLFLOAT = {
    0: (0, 0), 1: (1, 1), 2: (2, 2), 7: (7, 7), 8: (8, 8), 23: (23, 23), 24: (24, 24), 25: (25, 25),
    39: (39, 39), 40: (40, 40), 41: (40, 40), 42: (41, 42), 43: (41, 42), 44: (42, 44), 45: (42, 44),
    47: (43, 46), 48: (44, 48), 50: (45, 50), 52: (46, 52), 55: (47, 54), 56: (48, 56), 57: (48, 56),
    60: (49, 60), 63: (49, 60), 64: (50, 64), 70: (51, 68), 72: (52, 72), 79: (53, 76), 80: (54, 80),
    100: (57, 96), 120: (60, 120), 130: (61, 128), 200: (67, 200), 1000: (87, 984), 100000: (140, 98328),
}


def decoded(length: int) -> int:
    """The field length BM25 sees: exact up to 40 tokens, else SmallFloat's decoding (table above)."""
    return length if length <= 40 else LUCENE_SMALLFLOAT[length][1]


def idf(df: int, n: int) -> np.float32:
    return F(math.log(1 + (n - df + 0.5) / (df + 0.5)))


def term_score(freq: int, length: int, df: int, n: int, avgdl: np.float32, boost: float = 1.0,
               k1: np.float32 = F(1.2), b: np.float32 = F(0.75)) -> np.float32:
    """Lucene's BM25Scorer.score for one term in one document, in float32."""
    weight = F(F(boost) * idf(df, n))
    norm_inverse = F(1) / (k1 * ((F(1) - b) + b * F(decoded(length)) / avgdl))
    return weight - weight / (F(1) + F(freq) * norm_inverse)


def double_sum(*scores: np.float32) -> np.float32:
    return F(sum(float(s) for s in scores))


def whitespace_index(texts: list[str | None], **field: object) -> EmbeddedIndex:
    body = {"mappings": {"properties": {"body": {"type": "text", "analyzer": "whitespace", **field}}}}
    index = EmbeddedIndex.create(body)
    index.add(Documents([f"d{i}" for i in range(len(texts))], {"body": texts}))
    return index


def scores(index: EmbeddedIndex, query: dict, size: int = 100) -> dict[str, np.float32]:
    hits = index.search({"query": query, "size": size})["hits"]["hits"]
    return {h["_id"]: F(h["_score"]) for h in hits}


def filler(n: int) -> str:
    return " ".join(f"w{i}" for i in range(n))


# Lengths 3, 5, 41 (-> 40), 57 (-> 56), 100 (-> 96); d5 has no body and d6 an empty one.
TEXTS = ["a b c", "a a b x y", "a " + filler(40), "b b b " + filler(54), "c " + filler(99), None, ""]
LENGTHS = {"d0": 3, "d1": 5, "d2": 41, "d3": 57, "d4": 100}
N = 5
AVGDL = F((3 + 5 + 41 + 57 + 100) / 5)


def test_smallfloat_matches_lucene():
    for length, (code, decoded) in LUCENE_SMALLFLOAT.items():
        assert int_to_byte4(length) == code
        assert byte4_to_int(code) == decoded


def test_single_term_scores_are_lucene_bm25_with_smallfloat_lengths():
    index = whitespace_index(TEXTS)
    got = scores(index, {"match": {"body": "a"}})
    expected = {"d0": term_score(1, 3, 3, N, AVGDL), "d1": term_score(2, 5, 3, N, AVGDL),
                "d2": term_score(1, 41, 3, N, AVGDL)}
    assert got == expected
    got = scores(index, {"match": {"body": "b"}})
    assert got["d3"] == term_score(3, 57, 3, N, AVGDL)


def test_missing_and_empty_fields_do_not_count_in_doc_count_or_avgdl():
    index = whitespace_index(TEXTS)
    hits = index.search({"query": {"match": {"body": "c"}}})["hits"]
    assert hits["total"]["value"] == 2
    assert scores(index, {"match": {"body": "c"}})["d4"] == term_score(1, 100, 2, N, AVGDL)
    explanation = index.explain("d4", {"query": {"match": {"body": "c"}}})
    leaf = explanation["details"][0]["details"]
    assert [d["value"] for d in leaf[0]["details"]] == [2.0, 5.0]  # n, N
    tf_details = {d["description"]: d["value"] for d in leaf[1]["details"]}
    assert tf_details["dl, length of field (approximate)"] == 96.0
    assert F(tf_details["avgdl, average length of field"]) == AVGDL


def test_disjunction_sums_clause_scores_in_double_then_rounds_once():
    index = whitespace_index(TEXTS)
    got = scores(index, {"match": {"body": "a b c"}})
    assert got["d0"] == double_sum(term_score(1, 3, 3, N, AVGDL), term_score(1, 3, 3, N, AVGDL),
                                   term_score(1, 3, 2, N, AVGDL))
    assert got["d1"] == double_sum(term_score(2, 5, 3, N, AVGDL), term_score(1, 5, 3, N, AVGDL))
    assert len(got) == 5


def test_boost_multiplies_idf_in_float_before_scoring():
    index = whitespace_index(TEXTS)
    got = scores(index, {"match": {"body": {"query": "a", "boost": 2.7}}})
    assert got["d1"] == term_score(2, 5, 3, N, AVGDL, boost=2.7)
    nested = scores(index, {"bool": {"boost": 1.5, "should": [{"match": {"body": {"query": "a", "boost": 2}}},
                                                             {"match": {"body": "zzz"}}]}})
    assert nested["d1"] == term_score(2, 5, 3, N, AVGDL, boost=float(F(1.5) * F(2)))


def test_operator_and_is_a_conjunction_summed_in_double():
    index = whitespace_index(TEXTS)
    got = scores(index, {"match": {"body": {"query": "a b", "operator": "and"}}})
    assert set(got) == {"d0", "d1"}
    assert got["d1"] == double_sum(term_score(2, 5, 3, N, AVGDL), term_score(1, 5, 3, N, AVGDL))


def test_repeated_query_terms_merge_into_one_clause_with_summed_boost():
    index = whitespace_index(TEXTS)
    got = scores(index, {"match": {"body": "a a a b"}})
    # Lucene's BooleanQuery.rewrite turns three SHOULD clauses on "a" into (body:a)^3.0
    assert got["d1"] == double_sum(term_score(2, 5, 3, N, AVGDL, boost=3.0), term_score(1, 5, 3, N, AVGDL))


def test_custom_and_legacy_bm25_similarities():
    k1, b = F(0.9), F(0.4)
    body = {"settings": {"index": {"similarity": {"tuned": {"type": "BM25", "k1": 0.9, "b": 0.4},
                                                  "legacy": {"type": "LegacyBM25"}}}},
            "mappings": {"properties": {"tuned": {"type": "text", "analyzer": "whitespace", "similarity": "tuned"},
                                        "legacy": {"type": "text", "analyzer": "whitespace",
                                                   "similarity": "legacy"}}}}
    index = EmbeddedIndex.create(body)
    texts = TEXTS[:5]
    index.add(Documents([f"d{i}" for i in range(5)], {"tuned": texts, "legacy": texts}))
    assert scores(index, {"match": {"tuned": "a"}})["d1"] == term_score(2, 5, 3, N, AVGDL, k1=k1, b=b)
    # LegacyBM25Similarity creates the scorer with boost * (1 + k1): OpenSearch 2.x's default scores
    assert scores(index, {"match": {"legacy": "a"}})["d1"] == term_score(2, 5, 3, N, AVGDL, boost=float(F(2.2)))


def test_keyword_terms_score_without_norms():
    body = {"mappings": {"properties": {"brand": {"type": "keyword"}}}}
    index = EmbeddedIndex.create(body)
    index.add(Documents(["a", "b", "c", "d"], {"brand": ["Acme Tools", "Acme Tools", "Bolt", None]}))
    got = scores(index, {"term": {"brand": "Acme Tools"}})
    # no norms: Lucene uses norm value 1 (dl = 1); avgdl = sumTotalTermFreq / docCount = 3 / 3
    assert got == {"a": term_score(1, 1, 2, 3, F(1.0)), "b": term_score(1, 1, 2, 3, F(1.0))}
    assert scores(index, {"match": {"brand": "acme tools"}}) == {}


def test_index_options_docs_scores_with_freq_one_and_doc_frequency_totals():
    index = whitespace_index(["a a a b", "a c"], index_options="docs")
    # freqs are not indexed: freq = 1 and sumTotalTermFreq = sumDocFreq (2 + 2 unique terms) -> avgdl 2
    avgdl = F(4 / 2)
    assert scores(index, {"match": {"body": "a"}}) == {"d0": term_score(1, 4, 2, 2, avgdl),
                                                       "d1": term_score(1, 2, 2, 2, avgdl)}


def test_norms_false_uses_length_one():
    index = whitespace_index(["a b c d", "a"], norms=False)
    avgdl = F(5 / 2)
    assert scores(index, {"match": {"body": "a"}}) == {"d0": term_score(1, 1, 2, 2, avgdl),
                                                       "d1": term_score(1, 1, 2, 2, avgdl)}


def test_statistics_follow_documents_added_later():
    index = whitespace_index(["a b", "c"])
    index.add(Documents(["late"], {"body": ["a " + filler(41)]}))
    avgdl = F((2 + 1 + 42) / 3)
    assert scores(index, {"match": {"body": "a"}}) == {"d0": term_score(1, 2, 2, 3, avgdl),
                                                       "late": term_score(1, 42, 2, 3, avgdl)}


@pytest.mark.parametrize("query", [{"match": {"body": "a b c"}},
                                   {"match": {"body": {"query": "a x", "operator": "and", "boost": 3}}}])
def test_explain_value_equals_the_search_score(query):
    index = whitespace_index(TEXTS)
    for doc, score in scores(index, query).items():
        assert F(index.explain(doc, {"query": query})["value"]) == score
