"""The embedded engine's hits and BM25 scores against real Lucene 8.7 (queries built as OpenSearch's
builders do), on a seeded catalogue of product-like documents and a few hundred random queries over
match, multi_match, bool, dis_max, term, constant_score and boosts."""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import pytest

from lab.engine import Documents, EmbeddedIndex
from lab.engine.analysis import get_analyzer
from tests.oracle import textgen
from tests.oracle.lucene import lucene_search, lucene_search_timed, require_lucene

pytestmark = pytest.mark.oracle

FIELDS = {"title": "english", "description": "english", "attributes": "standard"}
N_DOCS, N_QUERIES, TOP, LUCENE_TOP = 2500, 400, 10, 60
RELATIVE = 1e-6

VOCABULARY = (textgen.NOUNS + textgen.ADJECTIVES + textgen.WORDS + textgen.BRANDS + textgen.ATTRIBUTE_VALUES
              + ["1/2 in.", "12-Volt", "2x4", "O'Neil's", "Crème", "zzyzx", "the", "of", "red red", "3.5"])
BOOSTS = [0.5, 1.5, 2.0, 3.7, 0.1]


def _boost(rng: random.Random, body: dict[str, Any]) -> dict[str, Any]:
    if rng.random() < 0.3:
        body["boost"] = rng.choice(BOOSTS)
    return body


def _text(rng: random.Random) -> str:
    return " ".join(rng.choice(VOCABULARY) for _ in range(rng.randint(1, 5)))


def _msm(rng: random.Random) -> int | None:
    return rng.choice([None, None, None, 1, 2, 3, -1, 7])


def _leaf(rng: random.Random) -> dict[str, Any]:
    kind = rng.random()
    if kind < 0.45:
        field = rng.choice(list(FIELDS))
        body: dict[str, Any] = {"query": _text(rng)}
        if rng.random() < 0.3:
            body["operator"] = rng.choice(["and", "or", "AND"])
        if (msm := _msm(rng)) is not None:
            body["minimum_should_match"] = msm
        return {"match": {field: _boost(rng, body)}}
    if kind < 0.8:
        fields = rng.sample(list(FIELDS), rng.randint(1, 3))
        fields = [f + rng.choice(["", "", "^2", "^0.5", "^3"]) for f in fields]
        body = {"query": _text(rng), "fields": fields, "type": rng.choice(["best_fields", "most_fields"])}
        if rng.random() < 0.4:
            body["tie_breaker"] = rng.choice([0.0, 0.3, 0.7, 1.0])
        if rng.random() < 0.2:
            body["operator"] = "and"
        if (msm := _msm(rng)) is not None:
            body["minimum_should_match"] = msm
        return {"multi_match": _boost(rng, body)}
    field = rng.choice(list(FIELDS))
    word = rng.choice(VOCABULARY)
    terms = get_analyzer(FIELDS[field]).analyze(word)
    value = rng.choice(terms) if terms and rng.random() < 0.8 else word
    return {"term": {field: _boost(rng, {"value": value})}}


def _clause(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    kind = rng.random()
    if depth >= 2 or kind < 0.45:
        return _leaf(rng)
    if kind < 0.75:
        body: dict[str, Any] = {}
        for occur in ("must", "should", "filter", "must_not"):
            if rng.random() < (0.5 if occur in ("must", "should") else 0.25):
                body[occur] = [_clause(rng, depth + 1) for _ in range(rng.randint(1, 3))]
        if body.get("should") and (msm := _msm(rng)) is not None:
            body["minimum_should_match"] = msm
        return {"bool": _boost(rng, body)}
    if kind < 0.9:
        body = {"queries": [_clause(rng, depth + 1) for _ in range(rng.randint(1, 3))]}
        if rng.random() < 0.6:
            body["tie_breaker"] = rng.choice([0.0, 0.2, 0.5, 1.0])
        return {"dis_max": _boost(rng, body)}
    return {"constant_score": _boost(rng, {"filter": _clause(rng, depth + 1)})}


def generate_queries(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [_clause(rng) for _ in range(n)]


def index_body(similarity: str) -> dict[str, Any]:
    settings = {} if similarity == "bm25" else {"index": {"similarity": {"default": {"type": "LegacyBM25"}}}}
    return {"settings": settings,
            "mappings": {"properties": {f: {"type": "text", "analyzer": a} for f, a in FIELDS.items()}}}


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=RELATIVE, abs_tol=0.0) or a == b


def compare(query: dict[str, Any], ours: dict[str, Any], lucene: dict[str, Any]) -> str | None:
    """Why ``ours`` differs from Lucene for one query, or None. Ranks must carry the same scores;
    a document may only swap places with others of the same score."""
    total = ours["hits"]["total"]["value"]
    if total != lucene["total"]:
        return f"total {total} != lucene {lucene['total']}"
    hits = [(h["_id"], h["_score"]) for h in ours["hits"]["hits"]]
    expected = lucene["hits"][:TOP]
    if len(hits) != len(expected):
        return f"{len(hits)} hits != lucene {len(expected)}"
    lucene_scores = dict(lucene["hits"])
    for rank, ((doc, score), (lucene_doc, lucene_score)) in enumerate(zip(hits, expected)):
        if not close(score, lucene_score):
            return f"rank {rank}: score {score!r} != lucene {lucene_score!r} ({doc} vs {lucene_doc})"
        if doc != lucene_doc and not (doc in lucene_scores and close(lucene_scores[doc], lucene_score)):
            return f"rank {rank}: {doc} (lucene score {lucene_scores.get(doc)}) where lucene ranks {lucene_doc}"
    return None


@pytest.fixture(scope="module")
def catalogue() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    require_lucene()
    return textgen.product_docs(N_DOCS, seed=11), generate_queries(N_QUERIES, seed=12)


@pytest.mark.parametrize("similarity", ["bm25", "legacy_bm25"])
def test_engine_hits_and_scores_match_lucene(catalogue, similarity):
    docs, queries = catalogue
    index = EmbeddedIndex.create(index_body(similarity))
    index.add(Documents(ids=[d["id"] for d in docs], fields={f: [d[f] for d in docs] for f in FIELDS}))
    ours = index.msearch([{"query": q, "size": TOP} for q in queries])
    lucene = lucene_search(docs, FIELDS, queries, size=LUCENE_TOP, similarity=similarity)
    problems = [(q, why) for q, o, l in zip(queries, ours, lucene) if (why := compare(q, o, l))]
    pairs = [(h["_score"], s) for o, l in zip(ours, lucene) for h, (_, s) in zip(o["hits"]["hits"], l["hits"])]
    exact = sum(np.float32(a) == np.float32(b) for a, b in pairs)
    shown = "\n".join(f"  {why}\n    {q}" for q, why in problems[:6])
    assert not problems, (f"{similarity}: {len(problems)}/{len(queries)} queries differ from Lucene "
                          f"({exact}/{len(pairs)} of the compared scores bit-identical)\n{shown}")
    # beyond the 1e-6 tolerance: every score is Lucene's float32, bit for bit
    assert exact == len(pairs), f"{similarity}: {len(pairs) - exact}/{len(pairs)} scores differ in the last bits"
    assert sum(lc["total"] > 0 for lc in lucene) > len(queries) // 2, "the queries should mostly match"


def test_timed_lucene_search_returns_the_same_results(catalogue):
    """The timing mode (full JIT, several passes) answers as the plain search does, with one duration per pass."""
    docs, queries = catalogue
    docs, queries = docs[:800], queries[:120]
    plain = lucene_search(docs, FIELDS, queries, size=LUCENE_TOP)
    timed, seconds = lucene_search_timed(docs, FIELDS, queries, size=LUCENE_TOP, passes=3)
    assert timed == plain
    assert len(seconds) == 3 and all(s > 0 for s in seconds)
