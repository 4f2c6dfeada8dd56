"""What the Elasticsearch backend sends, captured from the official client by a local HTTP server, and what it
makes of the answers: translated index bodies, one _msearch line per hybrid sub-query fused by the lab,
per-item 429 retries, explain, one-line errors."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from lab.backends.base import Documents, Hit
from lab.backends.elasticsearch import ElasticsearchBackend
from lab.backends.opensearch_client import RetryPolicy
from lab.errors import LabError
from opensearch_support import RecordingServer, Recorded, Reply, ack, bulk_reply, search_response

FAST = RetryPolicy(retries=2, initial=0.01, maximum=0.02)
MINMAX = {"phase_results_processors": [{"normalization-processor": {
    "normalization": {"technique": "min_max"}, "combination": {"technique": "arithmetic_mean"}}}]}


class ElasticServer(RecordingServer):
    """Answers as Elasticsearch does: the official client refuses a server without this header."""

    def answer(self, request: Recorded) -> Reply:
        reply = super().answer(request)
        reply.headers = {"X-Elastic-Product": "Elasticsearch", **reply.headers}
        return reply


def nodes(version: str = "9.2.4", modules: tuple[str, ...] = ("x-pack-core", "lab-english")) -> Reply:
    return Reply(200, {"nodes": {"n1": {"version": version, "modules": [{"name": m} for m in modules],
                                        "plugins": []}}})


@pytest.fixture
def server():
    with ElasticServer() as running:
        running.route("GET", "/_nodes/plugins", nodes())
        running.route("GET", "/products/_settings/index.number_of_shards",
                      Reply(200, {"products-v1": {"settings": {"index": {"number_of_shards": "1"}}}}))
        yield running


def connect(server: ElasticServer, **options) -> ElasticsearchBackend:
    return ElasticsearchBackend.connect(server.url, retry_policy=FAST, **options)


def with_position(hits: list[tuple[str, int, float]], index: str = "products-v1") -> dict:
    """A search response whose hits carry their catalogue position as a docvalue field."""
    response = search_response([(doc, score) for doc, _, score in hits], index)
    for hit, (_, position, _) in zip(response["hits"]["hits"], hits):
        hit["fields"] = {"lab_position": [position]}
    return response


# --- connecting ----------------------------------------------------------------------------------

def test_connect_reads_versions_and_modules_and_sends_credentials_only_as_a_header(server):
    backend = connect(server, user="lab", password="s3cret pass")
    assert [(r.method, r.path) for r in server.requests] == [("GET", "/_nodes/plugins")]
    assert server.requests[0].headers["authorization"] == "Basic " + base64.b64encode(b"lab:s3cret pass").decode()
    described = backend.describe()
    assert described == {"backend": "elasticsearch", "cluster_version": "9.2.4", "distribution": "elasticsearch",
                         "lucene_version": None, "shards": 1, "index": None, "url": server.url,
                         "server_fusion": False}
    assert "s3cret" not in json.dumps(described)


def test_an_api_key_is_sent_as_such(server, monkeypatch):
    monkeypatch.setenv("ELASTICSEARCH_API_KEY", "a2V5")
    connect(server)
    assert server.requests[0].headers["authorization"] == "ApiKey a2V5"


def test_server_side_fusion_is_detected_from_the_modules_never_guessed(server):
    server.route("GET", "/_nodes/plugins", nodes(modules=("x-pack-core", "rank-rrf")))
    assert connect(server).cluster.server_fusion is True


def test_an_old_node_is_refused_in_one_line(server):
    server.route("GET", "/_nodes/plugins", nodes(version="8.11.4"))
    with pytest.raises(LabError, match=r"Elasticsearch 8\.11\.4 at .* is too old: the lab needs 8\.15 or newer"):
        connect(server)


def test_rejected_credentials_are_one_line_without_the_secret(server):
    server.route("GET", "/_nodes/plugins", Reply(401, {"error": {"type": "security_exception",
                                                                 "reason": "unable to authenticate"}, "status": 401}))
    with pytest.raises(LabError, match="rejected the credentials \\(401\\)") as refused:
        connect(server, user="lab", password="s3cret")
    assert "s3cret" not in str(refused.value) and "\n" not in str(refused.value)


# --- indexing ------------------------------------------------------------------------------------

def test_build_index_sends_the_translated_body_positions_and_swaps_the_alias(server):
    server.route("GET", "/products-v\\*/_alias", Reply(200, {}))
    server.route("HEAD", "/products", Reply(404))
    server.route("PUT", "/products-v1", ack(index="products-v1"))
    server.route("PUT", "/products-v1/_bulk", bulk_reply())
    for method, path in (("PUT", "_settings"), ("POST", "_refresh"), ("POST", "_forcemerge")):
        server.route(method, f"/products-v1/{path}", ack())
    server.route("POST", "/products-v1/_count", Reply(200, {"count": 2}))
    server.route("POST", "/_aliases", ack())
    body = {"settings": {"index": {"knn": True}}, "mappings": {"properties": {
        "title": {"type": "text", "analyzer": "english"},
        "v": {"type": "knn_vector", "dimension": 2, "method": {"name": "hnsw", "engine": "lucene",
                                                                 "space_type": "cosinesimil"}}}}}
    docs = Documents(["a", "b"], {"title": ["deck", None]}, {"v": np.array([[1, 0], [np.nan, np.nan]], np.float32)})
    assert connect(server).build_index("products", body, docs).indexed == 2
    created = server.sent("PUT", "/products-v1")[0].json()
    assert created["mappings"]["properties"]["v"] == {
        "type": "dense_vector", "dims": 2, "element_type": "float", "index": True, "similarity": "cosine",
        "index_options": {"type": "hnsw"}}
    assert created["settings"]["index"]["sort.field"] == "lab_position" and "knn" not in created["settings"]["index"]
    assert server.sent("PUT", "/products-v1/_bulk")[0].ndjson() == [
        {"index": {"_id": "a"}}, {"title": "deck", "v": [1.0, 0.0], "lab_position": 0},
        {"index": {"_id": "b"}}, {"lab_position": 1}]
    assert server.sent("POST", "/_aliases")[0].json() == {"actions": [{"add": {"index": "products-v1",
                                                                               "alias": "products"}}]}


# --- searching -----------------------------------------------------------------------------------

def test_a_hybrid_query_is_one_msearch_line_per_sub_query_fused_by_the_lab(server):
    answers = [with_position([("a", 0, 4.0), ("b", 1, 2.0), ("c", 2, 1.0)]),
               with_position([("c", 2, 0.9), ("d", 3, 0.5)]),
               search_response([], "products-v1", total=4)]
    server.route("POST", "/_msearch", Reply(200, {"took": 1, "responses": [{**a, "status": 200} for a in answers]}))
    text = {"match": {"title": "deck"}}
    near = {"knn": {"v": {"vector": [1.0, 0.0], "k": 20}}}
    body = {"size": 3, "query": {"hybrid": {"queries": [text, near], "pagination_depth": 20}}}
    result = connect(server).search_batch("products", [body], MINMAX)[0]
    sub = {"_source": False, "size": 20, "track_total_hits": False, "docvalue_fields": ["lab_position"]}
    assert server.sent("POST", "/_msearch")[0].ndjson() == [
        {"index": "products"}, {**sub, "query": text},
        {"index": "products"}, {**sub, "query": {"knn": {"field": "v", "query_vector": [1.0, 0.0], "k": 20,
                                                         "num_candidates": 20}}},
        {"index": "products"}, {"_source": False, "size": 0, "track_total_hits": True,
                                "query": {"bool": {"should": [text, {"knn": {
                                    "field": "v", "query_vector": [1.0, 0.0], "k": 20, "num_candidates": 20}}]}}}]
    # min_max then arithmetic mean: c (0.001 + 1) / 2, a (1 + 0) / 2, b (1/3 + 0) / 2
    assert result.total == 4
    assert result.hits == [Hit("c", pytest.approx(0.5005, rel=1e-6)), Hit("a", 0.5),
                           Hit("b", pytest.approx(1 / 6, rel=1e-6))]


def test_only_the_queries_rejected_with_429_are_sent_again(server):
    calls = []

    def respond(request: Recorded) -> Reply:
        bodies = request.ndjson()[1::2]
        calls.append([b["query"]["match"]["title"] for b in bodies])
        items = [{"error": {"type": "es_rejected_execution_exception", "reason": "queue full"}, "status": 429}
                 if len(calls) == 1 and b["query"]["match"]["title"] == "two"
                 else {**search_response([("a", 1.5)], "products-v1"), "status": 200} for b in bodies]
        return Reply(200, {"took": 1, "responses": items})

    server.route("POST", "/_msearch", respond)
    bodies = [{"size": 1, "query": {"match": {"title": t}}} for t in ("one", "two", "three")]
    results = connect(server).search_batch("products", bodies)
    assert calls == [["one", "two", "three"], ["two"]]
    assert [r.hits for r in results] == [[Hit("a", 1.5)]] * 3


def test_explain_sends_the_translated_query(server):
    server.route("POST", "/products/_explain/a", Reply(200, {"_index": "products-v1", "_id": "a", "matched": True,
                                                             "explanation": {"value": 0.8, "description": "within top k",
                                                                             "details": []}}))
    body = {"size": 5, "query": {"knn": {"v": {"vector": [1.0, 0.0], "k": 5}}}}
    assert connect(server).explain("products", body, "a")["value"] == 0.8
    assert server.sent("POST", "/products/_explain/a")[0].json() == {"query": {"knn": {
        "field": "v", "query_vector": [1.0, 0.0], "k": 5, "num_candidates": 5}}}


def test_a_missing_index_is_one_line_saying_what_to_run(server):
    server.route("POST", "/nothing/_count", Reply(404, {"error": {"type": "index_not_found_exception",
                                                                 "reason": "no such index [nothing]"}, "status": 404}))
    with pytest.raises(LabError, match="index 'nothing' does not exist on .*: run `lab --backend elasticsearch index`"):
        connect(server).count("nothing")


def test_the_cli_takes_the_url_and_credentials_of_the_chosen_backend(server, monkeypatch, tmp_path):
    from lab.cli_support import make_backend

    monkeypatch.setenv("ELASTICSEARCH_URL", server.url)
    monkeypatch.setenv("OPENSEARCH_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("ELASTICSEARCH_USER", "lab")
    monkeypatch.setenv("ELASTICSEARCH_PASSWORD", "s3cret")
    options = {"backend": "elasticsearch", "url": None, "user": None, "password": None, "ca_certs": None,
               "verify_certs": True, "timeout": 5.0, "shards": 1, "batch_size": 10, "concurrency": 1}
    backend = make_backend(options, tmp_path)
    assert backend.name == "elasticsearch" and backend.endpoint.url == server.url
    assert server.requests[0].headers["authorization"] == "Basic " + base64.b64encode(b"lab:s3cret").decode()


def test_backend_check_lists_what_the_other_cluster_refuses_and_stops_on_an_embedded_failure(monkeypatch):
    from dataclasses import dataclass
    from types import SimpleNamespace

    from lab.experiments import backend_check

    @dataclass
    class FakeLab:
        backend: object

    def execute(lab, template, split, progress=None):
        if lab.backend.name != "elasticsearch":
            raise LabError("strategy 'rrf' needs the hybrid query")
        return None

    monkeypatch.setattr(backend_check, "execute_strategy", execute)
    template = SimpleNamespace(name="rrf")
    es, opensearch, embedded = (SimpleNamespace(name=n) for n in ("elasticsearch", "opensearch", "embedded"))
    checks = backend_check.check_strategies(FakeLab(es), opensearch, [template])
    assert [(c.strategy, c.refused) for c in checks] == [("rrf", "opensearch: strategy 'rrf' needs the hybrid query")]
    with pytest.raises(LabError, match="^the embedded side of the check: strategy 'rrf' needs"):
        backend_check.check_strategies(FakeLab(es), embedded, [template])
