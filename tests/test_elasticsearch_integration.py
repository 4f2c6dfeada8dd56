"""The lab against a real Elasticsearch node: runs only when $ELASTICSEARCH_URL is set.

    export ELASTICSEARCH_URL=$(scripts/elasticsearch-local start)
    python -m pytest tests/test_elasticsearch_integration.py -ra

CI (.ci/run) starts a local node and sets $ELASTICSEARCH_URL; with CI=true and no URL this module fails instead
of skipping. The indices the tests create (``relevance-lab-it-*``) are deleted afterwards.
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from lab.backends.base import Documents
from lab.backends.check import check_backends
from lab.backends.elasticsearch import ElasticsearchBackend
from lab.backends.elasticsearch_retrievers import retriever_request
from lab.backends.elasticsearch_translate import embedded_body
from lab.backends.embedded import EmbeddedBackend
from lab.cli import cli
from lab.context import default_queries_dir
from lab.errors import DataError, LabError, QueryError
from lab.templates import load_templates
from cluster_support import cli_loop, live_url
from test_opensearch_integration import QUERY_TEXTS, catalogue, knn, match, shipped_bodies, with_an_immense_term

URL = live_url("ELASTICSEARCH_URL", "Elasticsearch")
pytestmark = [
    pytest.mark.elasticsearch,
    pytest.mark.skipif(not URL, reason="no Elasticsearch node: set ELASTICSEARCH_URL (e.g. "
                                       "`export ELASTICSEARCH_URL=$(scripts/elasticsearch-local start)`)"),
]


@pytest.fixture(scope="module")
def backend() -> ElasticsearchBackend:
    return ElasticsearchBackend.connect(URL)


def drop(backend: ElasticsearchBackend, alias: str) -> None:
    for index in backend.client.indices.get_alias(index=f"{alias}-v*", allow_no_indices=True).body:
        backend.client.indices.delete(index=index)


@pytest.fixture
def alias(backend):
    name = f"relevance-lab-it-{uuid.uuid4().hex[:8]}"
    yield name
    drop(backend, name)


@pytest.fixture(scope="module")
def both_backends(backend, tmp_path_factory):
    """One small catalogue (HNSW is exact at this size) in the embedded engine and on the node."""
    name = f"relevance-lab-it-shipped-{uuid.uuid4().hex[:8]}"
    body, docs = catalogue(n=120, seed=11)
    embedded = EmbeddedBackend(tmp_path_factory.mktemp("embedded"))
    embedded.build_index(name, embedded_body(body), docs)  # Elasticsearch's BM25 is the legacy form
    backend.build_index(name, body, docs)
    yield embedded, name, docs
    drop(backend, name)


# --- every shipped strategy against the embedded engine --------------------------------------------

@pytest.mark.parametrize("strategy", sorted(load_templates(default_queries_dir())))
def test_every_shipped_strategy_scores_as_the_embedded_engine(backend, both_backends, strategy):
    """BM25 is Lucene's on both; kNN is exact on 120 products; hybrid and RRF are fused by the engine's code."""
    embedded, index, docs = both_backends
    template = load_templates(default_queries_dir())[strategy]
    bodies, pipeline = shipped_bodies(template, docs)
    comparison = check_backends(embedded, backend, index, bodies, pipeline, labels=QUERY_TEXTS,
                                strategy=f"it-{strategy}", tolerance=1e-5)
    assert all(q.cluster_total and q.rows for q in comparison.queries)
    assert comparison.agreeing == len(bodies), comparison.summary()


def test_knn_scores_are_exact_cosine_transformed(backend, both_backends):
    """Elasticsearch's cosine score is (1 + cos) / 2, as OpenSearch's lucene engine and the embedded engine."""
    _, index, docs = both_backends
    vectors = docs.vectors["title_vector_minilm"]
    query = vectors[3] * 0.5 + vectors[4] * 0.5
    hits = backend.search_batch(index, [knn(query, size=120)])[0].hits
    assert len(hits) == 120
    cos = vectors @ query / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(query))
    expected = {doc: (1 + c) / 2 for doc, c in zip(docs.ids, cos.tolist())}
    assert {h.doc_id for h in hits} == set(docs.ids)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(h.score == pytest.approx(expected[h.doc_id], rel=1e-5) for h in hits)


def test_explain_equals_the_hit_scores_and_the_fused_score(backend, both_backends):
    _, index, docs = both_backends
    templates = load_templates(default_queries_dir())
    for strategy in ("textsearch_boosted", "vectorsearch", "hybrid_boosted", "hybrid_minmax", "rrf"):
        bodies, pipeline = shipped_bodies(templates[strategy], docs)
        hits = backend.search_batch(index, bodies[:1], pipeline, strategy=strategy)[0].hits
        for hit in hits[:3]:
            explanation = backend.explain(index, bodies[0], hit.doc_id, pipeline)
            assert explanation["value"] == pytest.approx(hit.score, rel=1e-6), (strategy, hit)


# --- the index lifecycle -------------------------------------------------------------------------

def test_index_search_rebuild_and_put_vectors(backend, alias):
    body, docs = catalogue()
    assert backend.build_index(alias, body, docs).indexed == len(docs)
    assert backend.count(alias) == len(docs)
    assert set(backend.index_fields(alias)) == set(body["mappings"]["properties"])
    mapped = backend.index_fields(alias)["title_vector_minilm"]
    assert mapped["type"] == "dense_vector" and mapped["similarity"] == "cosine"
    assert mapped["index_options"]["type"] == "hnsw" and mapped["index_options"]["m"] == 16
    described = backend.describe()
    assert described["index"] == f"{alias}-v1" and described["cluster_version"] == backend.cluster.number
    first = backend.search_batch(alias, [match("deck paint")])[0]
    backend.build_index(alias, body, docs)
    assert backend.client.indices.exists(index=f"{alias}-v2") and not backend.client.indices.exists(index=f"{alias}-v1")
    assert backend.search_batch(alias, [match("deck paint")])[0] == first
    field = {"title_vector_it": body["mappings"]["properties"]["title_vector_minilm"]}
    vectors = {"title_vector_it": docs.vectors["title_vector_minilm"][::-1].copy()}
    assert backend.put_vectors(alias, field, docs.ids, vectors).failed == []
    query = {"size": 1, "query": {"knn": {"title_vector_it": {"vector": vectors["title_vector_it"][0].tolist(), "k": 1}}}}
    assert backend.search_batch(alias, [query])[0].hits[0].doc_id == docs.ids[0]
    assert backend.count(alias) == len(docs)


def test_a_partial_bulk_failure_is_listed_and_keeps_the_previous_index(backend, alias):
    body, docs = catalogue()
    backend.build_index(alias, body, docs)
    report = backend.build_index(alias, body, with_an_immense_term(docs, 5))
    assert [doc for doc, _ in report.failed] == [docs.ids[5]] and report.indexed == len(docs) - 1
    assert "failed to parse field [product_id]" in report.failed[0][1]
    assert list(backend.client.indices.get_alias(name=alias).body) == [f"{alias}-v1"]
    assert not backend.client.indices.exists(index=f"{alias}-v2")


def test_equal_scores_come_in_catalogue_order_after_updates(backend, alias, tmp_path):
    """The index is sorted on catalogue position: re-adding every document in reverse (a vector update is
    delete + add in Lucene) leaves ties in the embedded engine's order."""
    body, docs = catalogue(n=30)
    docs = Documents(docs.ids, {**docs.fields, "product_title": ["deck paint"] * len(docs)}, docs.vectors)
    backend.build_index(alias, body, docs)
    field = {"title_vector_it": body["mappings"]["properties"]["title_vector_minilm"]}
    backend.put_vectors(alias, field, docs.ids[::-1], {"title_vector_it": docs.vectors["title_vector_minilm"][::-1].copy()})
    embedded = EmbeddedBackend(tmp_path)
    embedded.build_index(alias, embedded_body(body), docs)
    hits = backend.search_batch(alias, [match("deck", size=30)])[0].hits
    assert len({h.score for h in hits}) == 1
    assert [h.doc_id for h in hits] == [h.doc_id for h in embedded.search_batch(alias, [match("deck", size=30)])[0].hits]
    assert [h.doc_id for h in hits] == docs.ids


def test_errors_are_one_line(backend, alias):
    body, docs = catalogue()
    backend.build_index(alias, body, docs)
    field = {"title_vector_minilm": {**body["mappings"]["properties"]["title_vector_minilm"], "dimension": 8}}
    with pytest.raises(DataError, match="field 'title_vector_minilm' of index .* is mapped as") as conflict:
        backend.put_vectors(alias, field, docs.ids, {"title_vector_minilm": np.ones((len(docs), 8), np.float32)})
    with pytest.raises(LabError, match="index 'relevance-lab-it-missing' does not exist") as missing:
        backend.count("relevance-lab-it-missing")
    with pytest.raises(QueryError, match=r"query\.fuzzy: Elasticsearch cannot run this clause") as clause:
        backend.search_batch(alias, [{"size": 5, "query": {"fuzzy": {"product_title": "dek"}}}])
    with pytest.raises(QueryError, match="answered 400: parsing_exception: .*bogus") as rejected:
        backend.search_batch(alias, [{"size": 5, "query": {"match": {"product_title": {"query": "x", "bogus": 1}}}}])
    with pytest.raises(LabError, match="cannot reach Elasticsearch at http://127.0.0.1:9") as unreachable:
        ElasticsearchBackend.connect("http://127.0.0.1:9")
    for error in (conflict, missing, clause, rejected, unreachable):
        assert "\n" not in str(error.value)


def test_server_fusion_is_what_the_node_answers_to_the_retriever_search(backend, both_backends):
    """The probe decides: where the node runs the rrf retriever, its fusion equals the lab's; where it does not
    (the integ-test distribution has no rank-rrf module), the probe returns the node's own reason."""
    embedded, index, docs = both_backends
    bodies, pipeline = shipped_bodies(load_templates(default_queries_dir())["rrf"], docs)
    bodies = [{**body, "size": 10} for body in bodies]  # within pagination_depth 50
    reason = backend.server_fusion_refusal(index, retriever_request(bodies[0], pipeline))
    if reason is not None:
        assert reason.startswith("parsing_exception: unknown retriever [rrf]"), reason
        return
    fused = ElasticsearchBackend(backend.client, backend.endpoint, backend.cluster, server_fusion=True)
    for server, lab in zip(fused.search_batch(index, bodies, pipeline), backend.search_batch(index, bodies, pipeline)):
        assert [h.doc_id for h in server.hits] == [h.doc_id for h in lab.hits]
        assert [h.score for h in server.hits] == pytest.approx([h.score for h in lab.hits], rel=1e-6)


def test_the_cli_loop_and_backend_check(tmp_path: Path):
    manifests, rows = cli_loop(tmp_path, "elasticsearch", URL)
    assert {"textsearch", "vectorsearch"} <= {m["strategy"] for m in manifests}
    assert all(m["backend"]["backend"] == "elasticsearch" and m["backend"]["cluster_version"] for m in manifests)
    assert {"textsearch", "textsearch_boosted", "vectorsearch", "rrf"} <= rows.keys()
    assert "100.0%" in rows["textsearch_boosted"]
    index = manifests[0]["backend"]["index"]
    with urllib.request.urlopen(f"{URL}/{index}/_segments") as answer:  # read without the lab's client
        shards = json.load(answer)["indices"][index]["shards"].values()
    written = {segment["version"] for copies in shards for copy in copies for segment in copy["segments"].values()}
    assert len(written) == 1 and re.fullmatch(r"\d+\.\d+\.\d+", next(iter(written)))
    assert {m["backend"]["lucene_version"] for m in manifests} == written
    fusing = CliRunner().invoke(cli, ["--workspace", str(tmp_path), "--backend", "elasticsearch", "--url", URL,
                                      "--server-fusion", "run", "--strategy", "rrf", "--param", "window=100"], obj={})
    refused = [line for line in fusing.output.splitlines() if "--server-fusion" in line]
    if fusing.exit_code:  # a node without the rrf retriever (the integ-test distribution): one line, the node's reason
        assert len(refused) == 1 and refused[0].startswith(
            f"error: strategy 'rrf': --server-fusion: Elasticsearch at {URL} does not run the rrf retriever as this "
            "strategy needs: parsing_exception: unknown retriever [rrf]"), fusing.output
    else:
        assert not refused, fusing.output


@pytest.mark.skipif(not os.environ.get("OPENSEARCH_URL"), reason="no OpenSearch cluster to compare with: set "
                                                                  "OPENSEARCH_URL as well")
def test_backend_check_compares_elasticsearch_with_opensearch(tmp_path: Path):
    """Two clusters side by side: the same BM25 ranking, Elasticsearch's legacy BM25 scores (× 2.2 on 3.x)."""
    es = ["--workspace", str(tmp_path), "--backend", "elasticsearch", "--url", URL]
    demo = CliRunner().invoke(cli, [*es, "demo", "--products", "200", "--queries", "20"],
                              obj={}, catch_exceptions=False)
    assert demo.exit_code == 0, demo.output
    opensearch = ["--workspace", str(tmp_path), "--backend", "opensearch", "--url", os.environ["OPENSEARCH_URL"]]
    indexed = CliRunner().invoke(cli, [*opensearch, "index"], obj={}, catch_exceptions=False)
    assert indexed.exit_code == 0, indexed.output
    check = CliRunner().invoke(cli, [*es, "backend", "check", "--against", "opensearch", "--against-url",
                                     os.environ["OPENSEARCH_URL"], "--strategy", "textsearch", "--queries", "3"],
                               obj={}, catch_exceptions=False, terminal_width=200)
    assert check.exit_code == 0, check.output
    assert "opensearch id" in check.output and "elasticsearch id" in check.output
