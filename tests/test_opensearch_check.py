"""`lab backend check`: two backends' results for the same queries, side by side."""

from __future__ import annotations

from contextlib import ExitStack

import numpy as np
import pytest

from lab.backends.base import Hit, SearchResult
from lab.backends.check import TABLE_COLUMNS, check_backends, compare
from opensearch_support import (  # noqa: F401 (spec, server: fixtures)
    DOCS,
    INDEX_BODY,
    RecordingServer,
    bm25,
    connect,
    default_cluster,
    msearch_reply,
    route_shards,
    server,
    spec,
)


def result(*hits: tuple[str, float], total: int | None = None) -> SearchResult:
    return SearchResult([Hit(d, s) for d, s in hits], len(hits) if total is None else total)


def test_identical_results_agree():
    same = result(("a", 3.5), ("b", 1.25))
    comparison = compare("angle", same, same)
    assert comparison.first_difference is None and comparison.overlap == 2 and comparison.max_score_delta == 0
    assert comparison.agrees(1e-5)
    assert comparison.table_rows() == [("1", "a", "3.5", "a", "3.5", "+0.00e+00"),
                                       ("2", "b", "1.25", "b", "1.25", "+0.00e+00")]
    assert len(TABLE_COLUMNS) == len(comparison.table_rows()[0])


def test_differences_are_located_by_rank_and_measured_by_document():
    embedded = result(("a", 3.5), ("b", 1.25), ("c", 1.0), total=40)
    cluster = result(("a", 3.5), ("c", 1.5), ("b", 1.0), ("d", 0.5), total=41)
    comparison = compare("deck", embedded, cluster)
    assert comparison.first_difference == 2
    assert comparison.score_deltas == {"a": 0.0, "b": -0.25, "c": 0.5}
    assert comparison.max_score_delta == 0.5 and comparison.overlap == 3
    assert (comparison.embedded_total, comparison.cluster_total) == (40, 41)
    assert not comparison.agrees(1.0)
    assert comparison.table_rows() == [("1", "a", "3.5", "a", "3.5", "+0.00e+00"),
                                       ("2", "b", "1.25", "c", "1.5", ""),
                                       ("3", "c", "1", "b", "1", ""),
                                       ("4", "—", "", "d", "0.5", "")]


def test_tolerance_is_relative_to_the_score():
    embedded, cluster = result(("a", 10.0)), result(("a", 10.00005))
    assert compare("q", embedded, cluster).agrees(1e-5)
    assert not compare("q", embedded, result(("a", 10.001))).agrees(1e-5)
    assert compare("q", result(("a", 0.0)), result(("a", 5e-6))).agrees(1e-5)


def test_check_backends_runs_both_and_summarises(spec):
    """Two clusters, one shard against three: the comparison a user runs to see what sharding changes."""
    scores = {1: {"angle": [("100001", 2.5), ("100003", 0.75)], "deck": [("100002", 1.5)]},
              3: {"angle": [("100001", 2.25), ("100003", 0.75)], "deck": [("100002", 1.5)]}}
    with ExitStack() as stack:
        servers = [stack.enter_context(RecordingServer()) for _ in scores]
        for srv, shards in zip(servers, scores):
            default_cluster(srv)
            route_shards(srv, shards=shards)
            srv.route("POST", "/_msearch", msearch_reply(
                lambda body, s=shards: scores[s][body["query"]["match"]["product_title"]["query"]], "products-v1"))
        comparison = check_backends(connect(servers[0]), connect(servers[1]), "products",
                                    [bm25("angle"), bm25("deck")], labels=["angle", "deck"])
    assert [q.label for q in comparison.queries] == ["angle", "deck"]
    assert comparison.embedded["shards"] == 1 and comparison.cluster["shards"] == 3
    assert comparison.agreeing == 1
    assert comparison.summary() == ("1 of 2 queries identical (same documents, same order, scores within 1e-05 "
                                    "relative); largest score difference 0.25 on 'angle'")
    assert [e for srv in servers for r in srv.requests for e in spec.request_errors(r)] == []


def test_labels_must_match_the_queries(server):
    default_cluster(server)
    backend = connect(server)
    with pytest.raises(ValueError, match="1 labels for 2 queries"):
        check_backends(backend, backend, "products", [bm25("a"), bm25("b")], labels=["a"])


def test_the_embedded_engine_against_a_cluster(server, tmp_path):
    engine = pytest.importorskip("lab.engine")
    if not hasattr(engine, "EmbeddedIndex"):
        pytest.skip("the embedded engine (lab.engine.EmbeddedIndex) is not available yet")
    from lab.backends.embedded import EmbeddedBackend

    embedded = EmbeddedBackend(tmp_path)
    embedded.build_index("products", INDEX_BODY, DOCS)
    exact = embedded.search_batch("products", [bm25("angle")])[0]
    default_cluster(server)
    route_shards(server)
    server.route("POST", "/_msearch", msearch_reply(
        lambda body: [(h.doc_id, h.score) for h in exact.hits], "products-v1"))
    comparison = check_backends(embedded, connect(server), "products", [bm25("angle")])
    assert comparison.agreeing == 1 and comparison.embedded["backend"] == "embedded"
    assert comparison.cluster["backend"] == "opensearch"


@pytest.mark.parametrize("version, factor", [("2.19.1", 2.2), ("3.1.0", 1.0)])
def test_the_embedded_side_scores_bm25_as_the_cluster_version_does(server, tmp_path, version, factor):
    """OpenSearch 2.x's BM25 is Lucene's legacy form: the engine's LegacyBM25, scores × (1 + k1) = 2.2."""
    from lab.backends.check import embedded_like
    from lab.backends.embedded import EmbeddedBackend

    EmbeddedBackend(tmp_path).build_index("products", INDEX_BODY, DOCS)
    modern = EmbeddedBackend(tmp_path).search_batch("products", [bm25("angle behr")])[0]
    assert len(modern.hits) == 2
    default_cluster(server, version=version)
    route_shards(server)
    server.route("POST", "/_msearch", msearch_reply(
        lambda body: [(h.doc_id, h.score * factor) for h in modern.hits], "products-v1"))
    cluster = connect(server)
    embedded = embedded_like(tmp_path, cluster)
    comparison = check_backends(embedded, cluster, "products", [bm25("angle behr")])
    assert comparison.agreeing == 1 and comparison.queries[0].max_score_delta < 1e-5
    scores = [h.score for h in embedded.search_batch("products", [bm25("angle behr")])[0].hits]
    assert scores == pytest.approx([h.score * factor for h in modern.hits], rel=1e-6)


def test_every_bm25_of_a_2_x_cluster_becomes_legacy_bm25_for_the_engine():
    from lab.backends.opensearch_client import Version
    from lab.backends.opensearch_documents import embedded_index_body
    from lab.engine.mapping import parse_index_body

    body = {"settings": {"index.similarity.short.type": "BM25",
                         "index": {"similarity": {"long": {"type": "BM25", "b": 0.9}}}},
            "mappings": {"properties": {
                "title": {"type": "text", "fields": {"exact": {"type": "keyword", "similarity": "BM25"}}},
                "description": {"type": "text", "similarity": "long"},
                "attributes": {"type": "text", "similarity": "short"},
                "brand": {"type": "keyword", "similarity": "default"}}}}
    for version, legacy in ((Version(2, 19, 1), True), (Version(3, 0), False)):
        fields = parse_index_body(embedded_index_body(body, version)).fields
        assert {name: spec.similarity.legacy for name, spec in fields.items()} == dict.fromkeys(
            ("title", "title.exact", "description", "attributes", "brand"), legacy)
        assert fields["description"].similarity.b == np.float32(0.9)
    assert body["mappings"]["properties"]["title"]["fields"]["exact"]["similarity"] == "BM25"


def test_agreement_of_two_runs_worked_out_by_hand():
    from lab.backends.base import Hit
    from lab.backends.check import agreement

    embedded = {"q1": [Hit("a", 3.0), Hit("b", 2.0)], "q2": [Hit("c", 0.5), Hit("d", 0.4), Hit("e", 0.3), Hit("f", 0.2)],
                "q3": []}
    cluster = {"q1": [Hit("a", 3.0), Hit("b", 2.0)],                       # identical
               "q2": [Hit("c", 0.5), Hit("e", 0.3), Hit("x", 0.25)],     # d missing, x new: order differs
               "q3": []}                                                  # nothing on either side
    result = agreement("s", embedded, cluster)
    assert result.queries == 3 and result.identical_top10 == pytest.approx(2 / 3)
    assert result.overlap_at_100 == pytest.approx((1 + 2 / 4 + 1) / 3)
    assert result.max_relative_delta == 0.0
    cluster["q1"] = [Hit("a", 3.00002), Hit("b", 2.0)]                    # 6.7e-6 relative: still identical
    assert agreement("s", embedded, cluster).identical_top10 == pytest.approx(2 / 3)
    assert agreement("s", embedded, cluster).max_relative_delta == pytest.approx(2e-5 / 3, rel=1e-3)
    cluster["q1"] = [Hit("a", 3.3), Hit("b", 2.0)]
    assert agreement("s", embedded, cluster).identical_top10 == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="not over the same queries"):
        agreement("s", embedded, {"q1": []})
