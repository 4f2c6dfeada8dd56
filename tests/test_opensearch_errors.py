"""Failures of a cluster, answered by a local HTTP server with OpenSearch's error bodies: each becomes one clear
line, a non-zero exit in the CLI, and leaves the alias (what the lab searches) untouched."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest

from lab.backends.opensearch import OpenSearchBackend
from lab.backends.opensearch_client import Endpoint, RetryPolicy
from lab.errors import LabError, QueryError
from opensearch_support import (  # noqa: F401 (spec, server: fixtures)
    DOCS,
    FAST,
    INDEX_BODY,
    MINMAX,
    RRF,
    Reply,
    bm25,
    bulk_reply,
    canned,
    connect,
    default_cluster,
    hybrid,
    msearch_reply,
    route_shards,
    server,
    spec,
)

def one_line(error: pytest.ExceptionInfo) -> str:
    text = str(error.value)
    assert "\n" not in text and text.strip() == text and len(text) < 600
    return text



def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connection_refused():
    port = free_port()
    with pytest.raises(LabError) as error:
        OpenSearchBackend.connect(f"http://127.0.0.1:{port}", retry_policy=FAST)
    assert one_line(error) == (f"cannot reach OpenSearch at http://127.0.0.1:{port} (Connection refused): is it "
                               "running? `scripts/opensearch-local start` starts one")


def test_the_password_is_never_in_a_repr():
    endpoint = Endpoint.parse("https://lab:hunter2@search.example.com:9200/")
    assert endpoint.url == "https://search.example.com:9200" and endpoint.password == "hunter2"
    assert "hunter2" not in repr(endpoint)


def test_wrong_credentials_and_no_secret_in_the_message(server):
    server.route("GET", "/", canned("unauthorized"))
    url = server.url.replace("http://", "http://admin:hunter2@")
    with pytest.raises(LabError) as error:
        OpenSearchBackend.connect(url, retry_policy=FAST)
    text = one_line(error)
    assert text == (f"connecting to {server.url}: OpenSearch at {server.url} rejected the credentials (401): set "
                    "--user/--password or $OPENSEARCH_USER/$OPENSEARCH_PASSWORD")
    assert "hunter2" not in text and "admin" not in text


def test_a_user_without_a_password_is_refused_before_connecting(monkeypatch):
    monkeypatch.delenv("OPENSEARCH_PASSWORD", raising=False)
    with pytest.raises(LabError, match=r"user 'lab' needs a password: --password or \$OPENSEARCH_PASSWORD"):
        OpenSearchBackend.connect("http://127.0.0.1:1", user="lab")


@pytest.mark.parametrize("url", ["localhost:9200", "ftp://host:9200", "http://"])
def test_a_malformed_url_is_refused(url):
    with pytest.raises(LabError, match="OpenSearch URL must look like http://host:9200"):
        OpenSearchBackend.connect(url)


def test_an_elasticsearch_cluster_is_refused(server):
    server.route("GET", "/", canned("info-elasticsearch-7.16.3"))
    with pytest.raises(LabError) as error:
        connect(server)
    assert one_line(error) == (f"{server.url} is not OpenSearch (it reports Elasticsearch 7.16.3): the opensearch "
                               "backend needs an OpenSearch cluster (`scripts/opensearch-local start` runs one)")


def test_a_timeout_names_the_limit(server):
    default_cluster(server)
    backend = connect(server, timeout=0.2)

    def slow(request):
        time.sleep(0.6)
        return Reply(200, {"took": 1, "responses": []})

    server.route("POST", "/_msearch", slow)
    route_shards(server)
    with pytest.raises(LabError) as error:
        backend.search_batch("products", [bm25("angle")], strategy="textsearch")
    assert one_line(error) == (f"strategy 'textsearch': _msearch of queries 1-1 of 1: OpenSearch at {server.url} did "
                               "not answer within 0.2 s (raise --timeout, or lower --batch-size)")


def test_a_missing_index(server):
    default_cluster(server)
    server.route("GET", "/products/_settings/index.number_of_shards", canned("index-not-found"))
    server.route("GET", "/products/_mapping", canned("index-not-found"))
    backend = connect(server)
    with pytest.raises(LabError) as error:
        backend.search_batch("products", [bm25("angle")], strategy="textsearch")
    assert one_line(error) == (f"reading the settings of index 'products': index 'products' does not exist on "
                               f"{server.url}: run `lab --backend opensearch index` first")
    with pytest.raises(LabError, match="index 'products' does not exist"):
        backend.index_fields("products")


def test_429_on_the_whole_bulk_request_is_retried_with_backoff(server):
    default_cluster(server, doc_count=lambda: 3)
    answers = iter([canned("too-many-requests"), canned("too-many-requests")])
    ok = bulk_reply()
    server.route("POST", "/products-v1/_bulk", lambda r: next(answers, None) or ok(r))
    backend = connect(server)
    assert backend.build_index("products", INDEX_BODY, DOCS).indexed == 3
    bulks = server.sent("POST", "/products-v1/_bulk")
    assert len(bulks) == 3 and len({r.body for r in bulks}) == 1


def test_429_of_single_documents_retries_only_those(server):
    default_cluster(server, doc_count=lambda: 3)
    first = bulk_reply({"100002": canned("too-many-requests")})
    ok = bulk_reply()
    calls = iter([first])
    server.route("POST", "/products-v1/_bulk", lambda r: next(calls, ok)(r))
    assert connect(server).build_index("products", INDEX_BODY, DOCS).failed == []
    retried = server.sent("POST", "/products-v1/_bulk")[1].ndjson()
    assert retried == [{"index": {"_id": "100002"}}, {"product_title": "BEHR Premium Textured DeckOver", "lab_position": 1}]


def test_persistent_429_fails_in_one_line_and_removes_the_half_built_index(server):
    default_cluster(server, existing={"products-v1": {"aliases": {"products": {}}}})
    server.route("POST", "/products-v2/_bulk", canned("too-many-requests"))
    backend = connect(server)
    with pytest.raises(LabError) as error:
        backend.build_index("products", INDEX_BODY, DOCS)
    text = one_line(error)
    assert text.startswith(f"loading documents into products-v2: OpenSearch at {server.url} is overloaded (429) even "
                           "after retries: rejected_execution_exception: rejected execution of coordinating operation")
    assert text.endswith("; lower --concurrency or --batch-size")
    assert len(server.sent("POST", "/products-v2/_bulk")) == FAST.retries + 1
    assert [r.path for r in server.sent("DELETE", ".*")] == ["/products-v2"]
    assert not server.sent("POST", "/_aliases")


def test_503_is_retried_then_reported(server):
    default_cluster(server)
    route_shards(server)
    server.route("POST", "/_msearch", canned("service-unavailable"))
    backend = connect(server)
    with pytest.raises(LabError) as error:
        backend.search_batch("products", [bm25("angle")], strategy="textsearch")
    assert one_line(error) == ("strategy 'textsearch': _msearch of queries 1-1 of 1: OpenSearch answered 503: "
                               "cluster_manager_not_discovered_exception")
    assert len(server.sent("POST", "/_msearch")) == FAST.retries + 1


def test_backoff_grows_and_is_capped():
    policy = RetryPolicy(retries=6, initial=0.5, maximum=4.0)
    assert [policy.delay(a) for a in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_a_mapping_error_on_create(server):
    default_cluster(server)
    server.route("PUT", "/products-v1", canned("mapper-parsing-exception"))
    with pytest.raises(QueryError) as error:
        connect(server).build_index("products", INDEX_BODY, DOCS)
    assert one_line(error) == (
        "creating index products-v1: OpenSearch answered 400: mapper_parsing_exception: Failed to parse mapping "
        "[_doc]: Dimension and model can not be both specified in the mapping: title_vector")
    assert not server.sent("POST", ".*_bulk") and not server.sent("POST", "/_aliases")


def test_failed_documents_are_all_listed_and_the_previous_index_stays(server):
    default_cluster(server, existing={"products-v1": {"aliases": {"products": {}}}})
    dimension = Reply(400, {"error": {
        "type": "mapper_parsing_exception",
        "reason": "failed to parse field [title_vector_minilm] of type [knn_vector] in document with id '100003'. "
                  "Preview of field's value: 'null'",
        "caused_by": {"type": "illegal_argument_exception", "reason": "Vector dimension mismatch. Expected: 3, Given: 4"}}})
    server.route("POST", "/products-v2/_bulk", bulk_reply({"100001": dimension, "100003": dimension}))
    report = connect(server).build_index("products", INDEX_BODY, DOCS)
    assert report.indexed == 1
    assert report.failed == [(doc, "mapper_parsing_exception: failed to parse field [title_vector_minilm] of type "
                                   "[knn_vector] in document with id '100003'. Preview of field's value: 'null' "
                                   "(caused by illegal_argument_exception: Vector dimension mismatch. Expected: 3, "
                                   "Given: 4)") for doc in ("100001", "100003")]
    assert [r.path for r in server.sent("DELETE", ".*")] == ["/products-v2"]
    assert not server.sent("POST", "/_aliases")


def test_a_count_that_does_not_match_keeps_the_previous_index(server):
    default_cluster(server, doc_count=lambda: 2)
    with pytest.raises(LabError, match="index products-v1 holds 2 documents after loading 3; 'products' still points "
                                       "to the previous index"):
        connect(server).build_index("products", INDEX_BODY, DOCS)
    assert [r.path for r in server.sent("DELETE", ".*")] == ["/products-v1"]


def test_a_mapping_conflict_on_put_vectors(server):
    default_cluster(server)
    server.route("GET", "/products/_mapping", Reply(200, {"products-v1": {"mappings": {"properties": {}}}}))
    server.route("PUT", "/products/_mapping", canned("mapping-conflict"))
    vectors = {"title_vector": np.zeros((1, 3), dtype=np.float32)}
    with pytest.raises(QueryError) as error:
        connect(server).put_vectors("products", {"title_vector": {"type": "text"}}, ["1"], vectors)
    assert one_line(error) == ("adding fields title_vector to index 'products': OpenSearch answered 400: "
                               "illegal_argument_exception: mapper [title_vector] cannot be changed from type "
                               "[knn_vector] to [text]")
    assert not server.sent("POST", ".*_bulk")


def test_a_rejected_pipeline(server):
    default_cluster(server)
    server.route("PUT", "/_search/pipeline/.*", canned("pipeline-rejected"))
    with pytest.raises(QueryError) as error:
        connect(server).search_batch("products", [hybrid("a")], RRF, strategy="rrf")
    text = one_line(error)
    assert text.startswith("strategy 'rrf': search pipeline relevance-lab-rrf-")
    assert text.endswith(" rejected: OpenSearch answered 400: illegal_argument_exception: Invalid processor type "
                         "score-ranker-processor")
    assert not server.sent("POST", "/_msearch")


def test_one_failing_query_in_a_batch_is_named(server):
    default_cluster(server)
    route_shards(server)
    bad = Reply(400, {"error": {"root_cause": [{"type": "illegal_argument_exception",
                                                "reason": "[knn] requires 'vector' to be non-null"}],
                                "type": "illegal_argument_exception", "reason": "[knn] requires 'vector' to be non-null"}})
    server.route("POST", "/_msearch", msearch_reply(
        lambda body: bad if "deck" in str(body) else [("1", 1.0)], "products-v1"))
    with pytest.raises(QueryError) as error:
        connect(server).search_batch("products", [hybrid("angle"), hybrid("deck")], MINMAX, strategy="hybrid")
    assert one_line(error) == ("strategy 'hybrid': query 2 of 2 failed: illegal_argument_exception: [knn] requires "
                               "'vector' to be non-null")


def test_shard_failures_are_not_silently_partial_results(server):
    default_cluster(server)
    route_shards(server)

    def partial(request):
        item = {"took": 2, "timed_out": False,
                "_shards": {"total": 2, "successful": 1, "skipped": 0, "failed": 1, "failures": [{
                    "shard": 1, "index": "products-v1", "node": "IsuzeVYdSqKUfy0qfqil2w",
                    "reason": {"type": "query_shard_exception", "reason": "failed to create query: field too long",
                               "index": "products-v1"}}]},
                "hits": {"total": {"value": 1, "relation": "eq"}, "max_score": 1.0,
                         "hits": [{"_index": "products-v1", "_id": "1", "_score": 1.0}]}, "status": 200}
        return Reply(200, {"took": 2, "responses": [item]})

    server.route("POST", "/_msearch", partial)
    with pytest.raises(QueryError) as error:
        connect(server).search_batch("products", [bm25("angle")], strategy="textsearch")
    assert one_line(error) == ("strategy 'textsearch': query 1 of 1 failed on 1 shard(s): query_shard_exception: "
                               "failed to create query: field too long")


@pytest.mark.parametrize("option, value", [("shards", 0), ("batch_size", 0), ("concurrency", -1), ("timeout", 0)])
def test_nonsense_options_are_refused(server, option, value):
    default_cluster(server)
    with pytest.raises(LabError, match=f"--{option.replace('_', '-')} must be positive"):
        connect(server, **{option: value})


SEARCH_REJECTED = Reply(429, {"error": {
    "root_cause": [{"type": "rejected_execution_exception", "reason": "rejected execution of TimedRunnable on "
                    "QueueResizingOpenSearchThreadPoolExecutor[name = node-1/search, queue capacity = 1000]"}],
    "type": "rejected_execution_exception", "reason": "rejected execution of TimedRunnable on "
    "QueueResizingOpenSearchThreadPoolExecutor[name = node-1/search, queue capacity = 1000]"}})


def test_only_the_429_items_of_an_msearch_are_retried(server, monkeypatch):
    """_msearch answers 200 with a per-item 429: only the rejected queries are sent again, after a backoff."""
    default_cluster(server)
    route_shards(server)
    rejected = {"deck"}

    def ranking(body):
        text = body["query"]["match"]["product_title"]["query"]
        if text in rejected:
            rejected.discard(text)
            return SEARCH_REJECTED
        return [(text, 1.0)]

    server.route("POST", "/_msearch", msearch_reply(ranking, "products-v1"))
    sleeps = []
    monkeypatch.setattr(time, "sleep", sleeps.append)
    results = connect(server).search_batch("products", [bm25("angle"), bm25("deck"), bm25("nail")])
    assert [r.hits[0].doc_id for r in results] == ["angle", "deck", "nail"]
    sent = server.sent("POST", "/_msearch")
    assert [len(r.ndjson()) for r in sent] == [6, 2] and sent[1].ndjson()[1] == {**bm25("deck"), "_source": False}
    assert sleeps == [FAST.delay(0)]


def test_persistent_429_items_of_an_msearch_fail_in_one_line(server):
    default_cluster(server)
    route_shards(server)
    server.route("POST", "/_msearch", msearch_reply(
        lambda body: SEARCH_REJECTED if "deck" in str(body) else [("1", 1.0)], "products-v1"))
    with pytest.raises(LabError) as error:
        connect(server).search_batch("products", [bm25("angle"), bm25("deck")], strategy="textsearch")
    assert not isinstance(error.value, QueryError)
    assert one_line(error) == (f"strategy 'textsearch': _msearch of queries 1-2 of 2: OpenSearch at {server.url} is "
                               "overloaded (429) even after retries: rejected_execution_exception: rejected execution "
                               "of TimedRunnable on QueueResizingOpenSearchThreadPoolExecutor[name = node-1/search, "
                               "queue capacity = 1000]; lower --concurrency or --batch-size")
    sent = server.sent("POST", "/_msearch")
    assert len(sent) == FAST.retries + 1 and all(len(r.ndjson()) == 2 for r in sent[1:])


def test_an_opensearch_py_without_search_pipeline_is_refused_at_connect(server, monkeypatch):
    """opensearch-py before 2.6 has no client.search_pipeline: one line naming both versions, not an AttributeError."""
    from opensearchpy import OpenSearch

    from lab.backends import opensearch_client

    class OldClient(OpenSearch):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            del self.search_pipeline

    monkeypatch.setattr(opensearch_client, "OpenSearch", OldClient)
    monkeypatch.setattr(opensearch_client, "CLIENT_VERSION", "2.4.2")
    default_cluster(server)
    with pytest.raises(LabError) as error:
        connect(server)
    assert one_line(error) == ("opensearch-py 2.4.2 is installed, but relevance-lab needs opensearch-py>=2.6 "
                               "(client.search_pipeline): pip install 'opensearch-py>=2.6'")
    assert server.requests == []
