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
from lab.errors import LabError, QueryError
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
        running.route("GET", "/products-v1/_segments", segments("10.3.2"))
        yield running


def segments(*versions: str) -> Reply:
    """``GET <index>/_segments``: one shard copy holding a segment per Lucene version given."""
    return Reply(200, {"_shards": {"total": 1, "successful": 1, "failed": 0}, "indices": {"products-v1": {"shards": {
        "0": [{"routing": {"state": "STARTED", "primary": True}, "segments": {
            f"_{k}": {"generation": k, "num_docs": 1, "version": v} for k, v in enumerate(versions)}}]}}}})


def connect(server: ElasticServer, **options) -> ElasticsearchBackend:
    return ElasticsearchBackend.connect(server.url, retry_policy=FAST, **options)


def with_position(hits: list[tuple[str, int, float]], index: str = "products-v1") -> dict:
    """A search response whose hits carry their catalogue position as a docvalue field."""
    response = search_response([(doc, score) for doc, _, score in hits], index)
    for hit, (_, position, _) in zip(response["hits"]["hits"], hits):
        hit["fields"] = {"lab_position": [position]}
    return response


# --- connecting ----------------------------------------------------------------------------------

def test_connect_reads_the_version_and_sends_credentials_only_as_a_header(server):
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


def test_the_lucene_version_is_the_newest_among_the_segments_of_the_index_used(server):
    """The minimal distribution answers ``GET /`` with 405 and its nodes APIs do not tell Lucene's version."""
    server.route("GET", "/products-v1/_segments", segments("9.12.1", "10.3.2", "10.2.0"))
    server.route("POST", "/_msearch", Reply(200, {"took": 1, "responses": [
        {**search_response([("a", 1.0)], "products-v1"), "status": 200}]}))
    backend = connect(server)
    assert backend.describe()["lucene_version"] is None  # no index used yet: nothing asked
    backend.search_batch("products", [{"size": 1, "query": {"match_all": {}}}])
    assert backend.describe()["lucene_version"] == "10.3.2"
    assert len(server.sent("GET", "/products-v1/_segments")) == 1
    server.route("GET", "/products-v1/_segments", Reply(403, {"error": {
        "type": "security_exception", "reason": "action [indices:monitor/segments] is unauthorized"}, "status": 403}))
    assert backend.describe()["lucene_version"] is None  # a user without the monitor privilege: not known


def test_server_fusion_is_a_global_option_with_an_environment_variable(server, monkeypatch, tmp_path):
    from lab.cli import cli
    from lab.cli.support import lab_for

    assert connect(server).describe()["server_fusion"] is False

    def backend_of(*args: str, env: dict[str, str] | None = None):
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        ctx = cli.make_context("lab", ["--workspace", str(tmp_path), "--backend", "elasticsearch", "--url", server.url,
                                       *args, "leaderboard"], obj={})
        with ctx:
            ctx.invoke(cli.callback, **ctx.params)  # the group's own callback: options as the commands see them
            return lab_for(ctx).backend

    assert backend_of().describe()["server_fusion"] is False
    assert backend_of("--server-fusion").describe()["server_fusion"] is True
    assert backend_of(env={"ELASTICSEARCH_SERVER_FUSION": "1"}).describe()["server_fusion"] is True


@pytest.mark.parametrize("kind, why", [("opensearch", "its search pipelines"), ("embedded", "the engine does")])
def test_server_fusion_is_refused_on_other_backends(kind, why, tmp_path):
    from lab.backends.factory import open_backend

    with pytest.raises(LabError, match=f"--server-fusion: only the elasticsearch backend fuses on the server .*{why}"):
        open_backend(kind, tmp_path, url="http://127.0.0.1:9", server_fusion=True)


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


def test_a_name_elasticsearch_would_reject_is_refused_naming_elasticsearch_before_any_request(server):
    with pytest.raises(LabError, match="^'Products' cannot be an Elasticsearch index name \\(lowercase letters"):
        connect(server).build_index("Products", {"mappings": {}}, Documents(["a"], {"title": ["deck"]}))
    assert [(r.method, r.path) for r in server.requests] == [("GET", "/_nodes/plugins")]


def test_a_hybrid_query_without_a_fusing_pipeline_is_refused(server):
    body = {"size": 3, "query": {"hybrid": {"queries": [{"match": {"title": "deck"}}]}}}
    with pytest.raises(QueryError, match="^strategy 's': a hybrid query needs a search pipeline .* to fuse its "
                                         "sub-queries"):
        connect(server).search_batch("products", [body], strategy="s")


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


def test_a_backend_opened_by_name_takes_the_url_and_credentials_of_its_kind(server, monkeypatch, tmp_path):
    from lab.backends.factory import open_backend

    monkeypatch.setenv("ELASTICSEARCH_URL", server.url)
    monkeypatch.setenv("OPENSEARCH_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("ELASTICSEARCH_USER", "lab")
    monkeypatch.setenv("ELASTICSEARCH_PASSWORD", "s3cret")
    backend = open_backend("elasticsearch", tmp_path, timeout=5.0, batch_size=10)
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


# --- server-side fusion (retrievers) -----------------------------------------------------------------

TEXT = {"match": {"title": "deck"}}
NEAR = {"knn": {"v": {"vector": [1.0, 0.0], "k": 50}}}
KNN_RETRIEVER = {"knn": {"field": "v", "query_vector": [1.0, 0.0], "k": 50, "num_candidates": 50}}


def hybrid(size: int = 10, depth: int = 50, queries: tuple = (TEXT, NEAR)) -> dict:
    return {"size": size, "query": {"hybrid": {"queries": list(queries), "pagination_depth": depth}}}


def normalization(technique: str, combination: str = "arithmetic_mean", weights: list | None = None) -> dict:
    comb = {"technique": combination, **({"parameters": {"weights": weights}} if weights else {})}
    return {"phase_results_processors": [{"normalization-processor": {"normalization": {"technique": technique},
                                                                       "combination": comb}}]}


def rrf(rank_constant: int = 60, weights: list | None = None) -> dict:
    comb = {"technique": "rrf", "rank_constant": rank_constant, **({"parameters": {"weights": weights}} if weights else {})}
    return {"phase_results_processors": [{"score-ranker-processor": {"combination": comb}}]}


@pytest.fixture
def fusing(server):
    """A node that runs retrievers: the probe (_search) and the _msearch both answer with fused hits."""
    fused = search_response([("c", 0.032522), ("a", 0.016393)], "products-v1", total=3)
    server.route("POST", "/products/_search", Reply(200, fused))
    server.route("POST", "/_msearch", Reply(200, {"took": 1, "responses": [{**fused, "status": 200}]}))
    return server


def test_rrf_is_one_rrf_retriever_search_with_a_knn_retriever_for_the_knn_sub_query(fusing):
    backend = connect(fusing, server_fusion=True)
    result = backend.search_batch("products", [hybrid(size=10, depth=50)], rrf(rank_constant=20))[0]
    expected = {"_source": False, "size": 10, "retriever": {"rrf": {
        "retrievers": [{"standard": {"query": TEXT}}, KNN_RETRIEVER], "rank_constant": 20, "rank_window_size": 50}}}
    assert fusing.sent("POST", "/products/_search")[0].json() == expected  # the probe: the first query as it is
    assert fusing.sent("POST", "/_msearch")[0].ndjson() == [{"index": "products"}, expected]
    assert result.hits == [Hit("c", 0.032522), Hit("a", 0.016393)] and result.total == 3
    assert backend.describe()["server_fusion"] is True


def test_rrf_weights_become_each_retrievers_weight(fusing):
    connect(fusing, server_fusion=True).search_batch("products", [hybrid()], rrf(weights=[0.25, 0.75]))
    assert fusing.sent("POST", "/_msearch")[0].ndjson()[1]["retriever"] == {"rrf": {
        "retrievers": [{"retriever": {"standard": {"query": TEXT}}, "weight": 0.25},
                       {"retriever": KNN_RETRIEVER, "weight": 0.75}],
        "rank_constant": 60, "rank_window_size": 50}}


def test_l2_and_the_weighted_mean_become_a_linear_retriever_with_weights_over_their_sum(fusing):
    """The mean divides by the sum of the weights, Elasticsearch's linear retriever only sums: 0.5/2 and 1.5/2."""
    connect(fusing, server_fusion=True).search_batch("products", [hybrid(depth=20)],
                                                     normalization("l2", weights=[0.25, 0.75]))
    assert fusing.sent("POST", "/_msearch")[0].ndjson()[1]["retriever"] == {"linear": {
        "retrievers": [{"retriever": {"standard": {"query": TEXT}}, "weight": 0.25, "normalizer": "l2_norm"},
                       {"retriever": KNN_RETRIEVER, "weight": 0.75, "normalizer": "l2_norm"}],
        "rank_window_size": 20}}
    connect(fusing, server_fusion=True).search_batch("products", [hybrid(depth=20)], normalization("l2"))
    assert [r["weight"] for r in fusing.sent("POST", "/_msearch")[1].ndjson()[1]["retriever"]["linear"]["retrievers"]] \
        == [0.5, 0.5]


def test_a_filtered_or_boosted_knn_sub_query_stays_a_standard_retriever(fusing):
    boosted = {"knn": {"v": {"vector": [1.0, 0.0], "k": 50, "boost": 2}}}
    body = hybrid(queries=(TEXT, boosted))
    body["query"]["hybrid"]["filter"] = {"term": {"brand": "acme"}}
    connect(fusing, server_fusion=True).search_batch("products", [body], rrf())
    retrievers = fusing.sent("POST", "/_msearch")[0].ndjson()[1]["retriever"]["rrf"]["retrievers"]
    assert retrievers == [
        {"standard": {"query": {"bool": {"must": [TEXT], "filter": [{"term": {"brand": "acme"}}]}}}},
        {"standard": {"query": {"bool": {"must": [{"knn": {**KNN_RETRIEVER["knn"], "boost": 2}}],
                                         "filter": [{"term": {"brand": "acme"}}]}}}}]


@pytest.mark.parametrize(("body", "pipeline", "reason"), [
    (hybrid(), normalization("min_max"), "normalization min_max differs on Elasticsearch (its minmax scores the "
                                         "lowest hit 0, not 0.001"),
    (hybrid(), normalization("z_score"), "normalization z_score has no Elasticsearch counterpart"),
    (hybrid(), normalization("l2", "geometric_mean"), "combination geometric_mean has no Elasticsearch counterpart"),
    (hybrid(), normalization("l2", "harmonic_mean"), "combination harmonic_mean has no Elasticsearch counterpart"),
    (hybrid(size=100, depth=50), rrf(), "query.hybrid.pagination_depth 50 is below from + size 100"),
    (hybrid(queries=(TEXT,)), rrf(), "query.hybrid has 1 sub-query; Elasticsearch's rrf and linear retrievers"),
    ({**hybrid(), "explain": True}, rrf(), "explain: not translated into a retriever search"),
])
def test_what_elasticsearch_cannot_fuse_exactly_is_refused_in_one_line_before_any_search(fusing, body, pipeline,
                                                                                         reason):
    with pytest.raises(QueryError) as refused:
        connect(fusing, server_fusion=True).search_batch("products", [body], pipeline, strategy="s")
    text = str(refused.value)
    assert text.startswith(f"strategy 's': --server-fusion: {reason}") and "\n" not in text
    assert text.endswith("without --server-fusion the lab fuses the sub-queries itself")
    assert not fusing.sent("POST", "/products/_search") and not fusing.sent("POST", "/_msearch")


def test_an_index_of_several_shards_is_refused(fusing):
    fusing.route("GET", "/products/_settings/index.number_of_shards",
                 Reply(200, {"products-v1": {"settings": {"index": {"number_of_shards": "3"}}}}))
    with pytest.raises(QueryError, match="index 'products' has 3 shards, where equal fused scores follow shard "
                                         "order"):
        connect(fusing, server_fusion=True).search_batch("products", [hybrid()], rrf())


def test_a_node_without_the_retriever_is_refused_with_its_own_reason_and_nothing_else_is_sent(server):
    """What the integ-test distribution answers: it has no rank-rrf module."""
    server.route("POST", "/products/_search", Reply(400, {"error": {
        "root_cause": [{"type": "parsing_exception", "reason": "unknown retriever [rrf]", "line": 1, "col": 46}],
        "type": "parsing_exception", "reason": "unknown retriever [rrf]", "line": 1, "col": 46,
        "caused_by": {"type": "named_object_not_found_exception", "reason": "[1:46] unknown field [rrf]"}},
        "status": 400}))
    with pytest.raises(LabError) as refused:
        connect(server, server_fusion=True).search_batch("products", [hybrid()], rrf(), strategy="rrf")
    assert str(refused.value) == (
        f"strategy 'rrf': --server-fusion: Elasticsearch at {server.url} does not run the rrf retriever as this "
        "strategy needs: parsing_exception: unknown retriever [rrf] (caused by named_object_not_found_exception: "
        "[1:46] unknown field [rrf])")
    assert not server.sent("POST", "/_msearch")


def test_plain_queries_are_unchanged_by_server_fusion(fusing):
    connect(fusing, server_fusion=True).search_batch("products", [{"size": 2, "query": TEXT}])
    assert fusing.sent("POST", "/_msearch")[0].ndjson() == [{"index": "products"},
                                                           {"_source": False, "size": 2, "query": TEXT}]
    assert not fusing.sent("POST", "/products/_search")
