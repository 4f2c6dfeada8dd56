"""EmbeddedIndex lifecycle: index bodies, adding documents, saving and loading, the embedded backend."""

from __future__ import annotations

import numpy as np
import pytest

from lab.backends import base
from lab.backends.embedded import EmbeddedBackend
from lab.engine import Documents, EmbeddedIndex
from lab.errors import DataError, LabError

BODY = {
    "settings": {"index": {"number_of_shards": 1, "number_of_replicas": 0, "knn": True,
                           "similarity": {"default": {"type": "BM25", "k1": 1.1}}}},
    "mappings": {"_meta": {"note": "kept"}, "properties": {
        "title": {"type": "text", "analyzer": "english", "fields": {"raw": {"type": "keyword"}}},
        "specs": {"properties": {"color": {"type": "keyword"}, "weight": {"type": "double"}}},
        "vec": {"type": "knn_vector", "dimension": 2, "method": {"name": "hnsw", "space_type": "l2"}},
    }},
}


def documents(ids: list[str], titles: list[str | None]) -> Documents:
    n = len(ids)
    return Documents(ids, {"title": titles, "specs.color": ["red"] * n, "specs.weight": [str(i) for i in range(n)]},
                     {"vec": np.arange(2 * n, dtype=np.float32).reshape(n, 2)})


@pytest.fixture()
def index() -> EmbeddedIndex:
    idx = EmbeddedIndex.create(BODY)
    idx.add(documents(["a", "b", "c"], ["Cordless Drills", "drill bits", None]))
    return idx


QUERIES = [
    {"query": {"match": {"title": "drill"}}},
    {"query": {"term": {"title.raw": "drill bits"}}},
    {"query": {"bool": {"filter": [{"term": {"specs.color": "red"}}, {"range": {"specs.weight": {"gte": 1}}}]}}},
    {"query": {"knn": {"vec": {"vector": [0, 1], "k": 2}}}},
]


def test_multi_fields_object_fields_and_properties(index):
    assert [h["_id"] for h in index.search(QUERIES[0])["hits"]["hits"]] == ["a", "b"]
    assert [h["_id"] for h in index.search(QUERIES[1])["hits"]["hits"]] == ["b"]
    assert [h["_id"] for h in index.search(QUERIES[2])["hits"]["hits"]] == ["b", "c"]
    assert index.properties["vec"]["dimension"] == 2
    assert index.doc_count == 3


def test_save_and_load_give_the_same_results(index, tmp_path):
    target = tmp_path / "idx"
    index.save(target)
    index.add(documents(["d"], ["drill press"]))
    index.save(target)  # replaces the earlier save
    loaded = EmbeddedIndex.load(target)
    assert loaded.doc_count == 4
    assert loaded.properties == index.properties
    for body in QUERIES:
        assert loaded.search(body) == index.search(body)
    assert loaded.explain("d", QUERIES[0]) == index.explain("d", QUERIES[0])
    loaded.add(documents(["e"], ["drill"]))
    assert loaded.search(QUERIES[0])["hits"]["total"]["value"] == 4
    assert not list(tmp_path.glob(".idx*"))


def test_loading_something_else_is_a_clear_error(tmp_path):
    with pytest.raises(LabError, match="not a saved embedded index"):
        EmbeddedIndex.load(tmp_path / "missing")


@pytest.mark.parametrize(("body", "message"), [
    ({"settings": {"index": {"number_of_shards": 2}}}, "settings.index.number_of_shards"),
    ({"settings": {"index.sort.field": "x"}}, "settings.index.sort.field: not supported"),
    ({"settings": {"analysis": {"analyzer": {"mine": {"type": "custom", "tokenizer": "standard"}}}}},
     "settings.index.analysis.analyzer.mine.type"),
    ({"settings": {"index": {"similarity": {"x": {"type": "DFR"}}}}}, "settings.index.similarity.x.type"),
    ({"mappings": {"properties": {"d": {"type": "date"}}}}, "mappings.properties.d.type: 'date' is not supported"),
    ({"mappings": {"properties": {"t": {"type": "text", "analyzer": "klingon"}}}},
     "mappings.properties.t.analyzer"),
    ({"mappings": {"properties": {"t": {"type": "text", "copy_to": "x"}}}}, "mappings.properties.t.copy_to"),
    ({"mappings": {"properties": {"v": {"type": "knn_vector", "dimension": 3,
                                        "method": {"space_type": "hamming"}}}}}, "space_type"),
    ({"aliases": {}, "warmers": {}}, "index body.warmers"),
])
def test_unsupported_index_bodies_name_the_key(body, message):
    with pytest.raises(LabError) as error:
        EmbeddedIndex.create(body)
    assert message in str(error.value)


def test_default_analyzer_from_settings():
    body = {"settings": {"analysis": {"analyzer": {"default": {"type": "english"}}}},
            "mappings": {"properties": {"t": {"type": "text"}}}}
    idx = EmbeddedIndex.create(body)
    idx.add(Documents(["x"], {"t": ["Running Shoes"]}))
    assert idx.search({"query": {"term": {"t": "run"}}})["hits"]["total"]["value"] == 1


@pytest.mark.parametrize(("docs", "message"), [
    (documents(["a"], ["again"]), "duplicate id 'a'"),
    (Documents(["x", "x"], {"title": ["1", "2"]}), "duplicate id 'x'"),
    (Documents(["x"], {"colour": ["red"]}), "field 'colour' is not in the index mapping"),
    (Documents(["x", "y"], {"title": ["one"]}), "field 'title' has 1 values for 2 ids"),
    (Documents(["x"], {"specs.weight": ["heavy"]}), "document 'x', field 'specs.weight': 'heavy' is not a number"),
    (Documents(["x"], {}, {"vec": np.zeros((1, 3), np.float32)}), "expected a (1, 2) vector matrix"),
    (Documents(["x"], {}, {"vec": np.array([[1, np.inf]], np.float32)}), "document 'x', field 'vec'"),
    (Documents(["x"], {}, {"other": np.zeros((1, 2), np.float32)}), "'other' is not a knn_vector field"),
])
def test_bad_documents_are_rejected_and_leave_the_index_unchanged(index, docs, message):
    before = [index.search(body) for body in QUERIES]
    with pytest.raises(DataError) as error:
        index.add(docs)
    assert message in str(error.value)
    assert index.doc_count == 3
    assert [index.search(body) for body in QUERIES] == before


def test_explain_unknown_document(index):
    with pytest.raises(LabError, match="document 'zz' is not in the index"):
        index.explain("zz", QUERIES[0])


def test_embedded_backend_round_trip(tmp_path):
    backend = EmbeddedBackend(tmp_path)
    docs = documents(["a", "b"], ["Drill", "saw"])
    report = backend.build_index("products", BODY, base.Documents(docs.ids, docs.fields, docs.vectors))
    assert report.indexed == 2
    fresh = EmbeddedBackend(tmp_path)
    results = fresh.search_batch("products", [QUERIES[0], QUERIES[3]])
    assert [hit.doc_id for hit in results[0].hits] == ["a"]
    assert results[1].total == 2
    assert fresh.explain("products", QUERIES[0], "a")["value"] == results[0].hits[0].score


def test_documents_added_after_a_search_are_scored_with_the_new_statistics(index):
    before = index.search({"query": {"match": {"title": "drill"}}})
    index.add(documents(["d"], ["hammer drill"]))
    after = index.search({"query": {"match": {"title": "drill"}}})
    at_once = EmbeddedIndex.create(BODY)
    at_once.add(documents(["a", "b", "c", "d"], ["Cordless Drills", "drill bits", None, "hammer drill"]))
    expected = at_once.search({"query": {"match": {"title": "drill"}}})
    assert after["hits"] == expected["hits"]
    old = {h["_id"]: h["_score"] for h in before["hits"]["hits"]}
    assert all(h["_score"] != old[h["_id"]] for h in after["hits"]["hits"] if h["_id"] in old)


def test_a_reordered_result_ranks_its_top_by_the_new_scores_and_keeps_the_rest_below():
    first = base.SearchResult.from_columns(["a", "b", "c", "d"], [4.0, 3.0, 2.0, 1.0], 9)
    again = first.reordered(np.array([0.5, 2.0, 0.5], dtype=np.float32))
    assert again.doc_ids == ["b", "a", "c", "d"]  # equal scores keep their rank order
    assert again.scores == [2.0, 0.5, 0.5, -0.5] and again.total == 9  # d: one below the lowest new score
