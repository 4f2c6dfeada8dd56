"""Exact k-NN in the embedded engine: OpenSearch's score per space type, k, boost, filter, missing vectors."""

from __future__ import annotations

import numpy as np
import pytest

from lab.engine import Documents, EmbeddedIndex
from lab.errors import DataError, QueryError

F = np.float32
NAN = [np.nan] * 3
VECTORS = [[1, 0, 0], [0, 2, 0], [1, 1, 0], NAN, [-1, -2, 2], [1, 1, 0]]
IDS = [f"v{i}" for i in range(len(VECTORS))]


def vector_field(space: str) -> dict:
    return {"type": "knn_vector", "dimension": 3, "method": {"name": "hnsw", "engine": "lucene", "space_type": space}}


@pytest.fixture(scope="module")
def index() -> EmbeddedIndex:
    body = {"mappings": {"properties": {"kind": {"type": "keyword"}, "cos": vector_field("cosinesimil"),
                                        "l2": vector_field("l2"), "ip": vector_field("innerproduct")}}}
    idx = EmbeddedIndex.create(body)
    matrix = np.array(VECTORS, dtype=np.float32)
    kinds = ["a", "b", "a", "a", "b", "b"]
    idx.add(Documents(IDS, {"kind": kinds}, {"cos": matrix, "l2": matrix, "ip": matrix}))
    return idx


def knn(index: EmbeddedIndex, field: str, vector: list[float], k: int, size: int = 10, **extra: object) -> dict:
    return index.search({"size": size, "query": {"knn": {field: {"vector": vector, "k": k, **extra}}}})["hits"]


def hits(result: dict) -> list[tuple[str, np.float32]]:
    return [(h["_id"], F(h["_score"])) for h in result["hits"]]


def test_l2_scores_one_over_one_plus_squared_distance(index):
    got = hits(knn(index, "l2", [1, 1, 0], k=10))
    expected = {"v0": 1, "v1": 2, "v2": 0, "v4": 17, "v5": 0}
    assert got == sorted(((doc, F(1) / (F(1) + F(d2))) for doc, d2 in expected.items()),
                         key=lambda h: (-h[1], h[0]))


def test_inner_product_scores_as_opensearch(index):
    got = dict(hits(knn(index, "ip", [1, 1, 0], k=10)))
    assert got == {"v0": F(2), "v1": F(3), "v2": F(3), "v4": F(1) / (F(1) + F(3)), "v5": F(3)}


def test_cosine_scores_are_one_plus_cosine_over_two(index):
    got = dict(hits(knn(index, "cos", [2, 0, 0], k=10)))
    rows = np.array([VECTORS[i] for i in (0, 1, 2, 4, 5)], dtype=np.float64)
    cosines = rows[:, 0] / np.linalg.norm(rows, axis=1)
    for doc, cos in zip(("v0", "v1", "v2", "v4", "v5"), cosines):
        assert got[doc] == pytest.approx((1 + cos) / 2, rel=1e-6)
    assert got["v0"] == F(1)


def test_k_limits_matches_ties_go_to_the_earlier_document_and_missing_vectors_never_match(index):
    result = knn(index, "ip", [1, 1, 0], k=2)
    assert [doc for doc, _ in hits(result)] == ["v1", "v2"]
    assert result["total"] == {"value": 2, "relation": "eq"}
    assert knn(index, "ip", [1, 1, 0], k=3, size=1)["total"]["value"] == 3
    assert "v3" not in dict(hits(knn(index, "l2", [0, 0, 0], k=100)))


def test_boost_and_filter(index):
    boosted = dict(hits(knn(index, "ip", [1, 1, 0], k=10, boost=0.5)))
    assert boosted["v1"] == F(3) * F(0.5)
    filtered = hits(knn(index, "ip", [1, 1, 0], k=2, filter={"term": {"kind": "a"}}))
    assert [doc for doc, _ in filtered] == ["v2", "v0"]


def test_knn_inside_bool_adds_to_other_clauses(index):
    query = {"bool": {"should": [{"knn": {"ip": {"vector": [1, 1, 0], "k": 2}}}, {"term": {"kind": "b"}}]}}
    got = dict(hits(index.search({"query": query})["hits"]))
    kind_b = F(index.search({"query": {"term": {"kind": "b"}}})["hits"]["hits"][0]["_score"])
    assert got["v1"] == F(3) + kind_b
    assert got["v2"] == F(3)
    assert got["v4"] == kind_b


def test_msearch_answers_each_query_as_search_does(index):
    rng = np.random.default_rng(3)
    bodies = [{"query": {"knn": {field: {"vector": rng.standard_normal(3).tolist(), "k": int(k)}}}, "size": 5}
              for field in ("cos", "l2", "ip") for k in (1, 3, 6)]
    assert index.msearch(bodies) == [index.search(b) for b in bodies]


def test_explain_knn(index):
    body = {"query": {"knn": {"ip": {"vector": [1, 1, 0], "k": 2, "boost": 2}}}}
    explanation = index.explain("v1", body)
    assert explanation["value"] == 6.0
    assert "within top 2 docs" in explanation["description"]
    assert index.explain("v0", body)["value"] == 0.0


@pytest.mark.parametrize(("options", "message"), [
    ({"vector": [1, 0], "k": 1}, "query.knn.cos.vector: has dimension 2, the field's is 3"),
    ({"vector": [0, 0, 0], "k": 1}, "query.knn.cos.vector: a zero vector has no cosine similarity"),
    ({"vector": [1, 0, 0]}, 'query.knn.cos: missing "k"'),
    ({"vector": [1, 0, 0], "k": 0}, "query.knn.cos.k: must be >= 1"),
    ({"vector": [1, "x", 0], "k": 1}, "query.knn.cos.vector[1]: must be a number"),
    ({"vector": [1, 0, 0], "k": 1, "max_distance": 2}, 'query.knn.cos: unknown parameter "max_distance"'),
])
def test_bad_knn_clauses(index, options, message):
    with pytest.raises(QueryError) as error:
        index.search({"query": {"knn": {"cos": options}}})
    assert message in str(error.value)


def test_put_vectors_adds_a_field_to_existing_documents(index):
    body = {"mappings": {"properties": {"kind": {"type": "keyword"}}}}
    idx = EmbeddedIndex.create(body)
    idx.add(Documents(["x", "y", "z"], {"kind": ["a", "b", None]}))
    idx.put_vectors({"vec": vector_field("l2")}, ["z", "x"], {"vec": np.array([[0, 0, 1], [1, 0, 0]], F)})
    assert idx.properties["vec"]["type"] == "knn_vector"
    assert [h["_id"] for h in knn(idx, "vec", [0, 0, 1], k=5)["hits"]] == ["z", "x"]
    idx.put_vectors({"vec": vector_field("l2")}, ["y"], {"vec": np.array([[0, 0, 1]], F)})
    assert [h["_id"] for h in knn(idx, "vec", [0, 0, 1], k=5)["hits"]] == ["y", "z", "x"]
    with pytest.raises(DataError, match="not in the index"):
        idx.put_vectors({"vec": vector_field("l2")}, ["nope"], {"vec": np.zeros((1, 3), F)})
    with pytest.raises(DataError, match="NaN or infinite"):
        idx.put_vectors({"vec": vector_field("l2")}, ["x"], {"vec": np.array([[1, np.nan, 0]], F)})


@pytest.mark.parametrize("space", ["cosinesimil", "innerproduct", "l2"])
def test_top_rows_keep_the_k_best_with_ties_to_the_lower_document(space):
    """The group-maximum selection against a full sort of every row by (score desc, doc asc), on rows long
    enough for it, with many equal scores (coarse values) and with fewer finite values than k."""
    from lab.engine.knn import GROUP, GROUP_MARGIN, scores_from_products, top_rows

    rng = np.random.default_rng(3)
    n = GROUP * GROUP_MARGIN * 40 + 37  # a partial last group
    raw = (np.round(rng.standard_normal((40, n)) * 4) / 8).astype(np.float32)  # coarse: many ties
    raw[5, :] = -np.inf
    raw[5, :30] = 0.25  # fewer finite values than k
    raw[6, rng.choice(n, n - 50, replace=False)] = -np.inf
    ks = [int(k) for k in rng.integers(1, 40, len(raw))]
    near = np.float32(0.30000004)  # and the next float32 up score the same (1 + x rounds)
    raw[7, :] = -1  # the 3rd best raw value has the score of a lower one in another group, at a lower doc
    raw[7, :4] = [near, np.nextafter(near, np.float32(1)), 0.9, 0.8]
    ks[7] = 3

    def score(values):
        return values if space == "l2" else scores_from_products(space, values)

    for row, (docs, values) in enumerate(top_rows(raw, ks, score)):
        finite = np.flatnonzero(np.isfinite(raw[row]))
        all_scores = score(raw[row, finite])
        expected = finite[np.lexsort((finite, -all_scores))][:ks[row]]
        assert docs.tolist() == expected.tolist(), row
        assert values.tolist() == score(raw[row, expected]).tolist()
