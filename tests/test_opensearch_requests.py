"""What the OpenSearch backend sends, byte for byte, captured from opensearch-py by a local HTTP server and
validated against OpenSearch's published REST API specification."""

from __future__ import annotations

import base64
import json
import warnings

import numpy as np
import pytest

from lab.backends.base import Documents, Hit, SearchResult
from lab.backends.opensearch import OpenSearchBackend, pipeline_id
from lab.backends.opensearch_client import Endpoint, OpenSearchBackendWarning, Version, make_client
from lab.backends.opensearch_documents import cluster_index_body, index_actions, loaded_settings
from lab.errors import DataError, LabError, QueryError
from opensearch_support import (  # noqa: F401 (spec, server: fixtures)
    DOCS,
    FAST,
    HEADER,
    INDEX_BODY,
    KNN,
    MINMAX,
    RESPONSES,
    RRF,
    Recorded,
    Reply,
    ack,
    bm25,
    canned,
    connect,
    default_cluster,
    hybrid,
    msearch_reply,
    route_shards,
    search_response,
    server,
    spec,
)


def test_the_vendored_specification_validates_and_rejects(spec):
    """The validator is not vacuous: a wrong type and an undeclared key are both reported."""
    good = Recorded("PUT", "/_search/pipeline/p", {}, {}, json.dumps(MINMAX).encode())
    assert spec.request_errors(good) == []
    typo = json.loads(json.dumps(MINMAX))
    typo["phase_results_processors"][0]["normalization-processor"]["normalisation"] = {"technique": "min_max"}
    assert spec.request_errors(Recorded("PUT", "/_search/pipeline/p", {}, {}, json.dumps(typo).encode()))
    bad_shards = {"settings": {"index": {"number_of_shards": "one"}}}
    assert spec.request_errors(Recorded("PUT", "/products-v1", {}, {}, json.dumps(bad_shards).encode()))
    assert spec.request_errors(Recorded("POST", "/_msearch", {"search_pipeline": "p"}, {}, b"{}\n{}\n"))


def test_the_canned_responses_match_the_specification(spec):
    routes = {"info-2": ("GET", "/"), "info-3": ("GET", "/"), "cat-plugins": ("GET", "/_cat/plugins"), "explain": ("POST", "/i/_explain/1"),
              "hybrid-explain-search": ("POST", "/i/_search")}
    checked = 0
    for prefix, (method, path) in routes.items():
        for name in [n for n in RESPONSES if n.startswith(prefix)]:
            reply = canned(name)
            assert spec.response_errors(method, path, reply.status, reply.body) == [], name
            checked += 1
    assert checked >= 8


def test_connect_reads_the_cluster_and_sends_credentials_only_as_a_header(server):
    default_cluster(server)
    backend = connect(server, user="lab", password="s3cret pass")
    assert [(r.method, r.path, r.query) for r in server.requests] == [
        ("GET", "/", {}), ("GET", "/_cat/plugins", {"format": "json"})]
    expected = "Basic " + base64.b64encode(b"lab:s3cret pass").decode()
    assert all(r.headers["authorization"] == expected for r in server.requests)
    described = backend.describe()
    assert described == {"backend": "opensearch", "cluster_version": "2.19.1", "distribution": "opensearch",
                         "lucene_version": "9.12.1", "shards": 1, "index": None, "url": server.url}
    assert "s3cret" not in json.dumps(described)


def test_credentials_come_from_the_url_or_the_environment_and_never_reach_describe(server, monkeypatch):
    default_cluster(server)
    monkeypatch.setenv("OPENSEARCH_USER", "env-user")
    monkeypatch.setenv("OPENSEARCH_PASSWORD", "env-pass")
    backend = connect(server)
    assert server.requests[-1].headers["authorization"] == "Basic " + base64.b64encode(b"env-user:env-pass").decode()
    url_with_secret = server.url.replace("http://", "http://url-user:url%20pass@")
    backend = OpenSearchBackend.connect(url_with_secret, retry_policy=FAST)
    assert server.requests[-1].headers["authorization"] == "Basic " + base64.b64encode(b"url-user:url pass").decode()
    assert backend.describe()["url"] == server.url


def test_no_credentials_no_authorization_header(server, monkeypatch):
    monkeypatch.delenv("OPENSEARCH_USER", raising=False)
    monkeypatch.delenv("OPENSEARCH_PASSWORD", raising=False)
    default_cluster(server)
    connect(server)
    assert all("authorization" not in r.headers for r in server.requests)


def test_build_index_sends_exactly_these_requests(server):
    default_cluster(server, doc_count=lambda: 3)
    backend = connect(server)
    report = backend.build_index("products", INDEX_BODY, DOCS)
    assert report.indexed == 3 and report.failed == []
    calls = [(r.method, r.path, r.query) for r in server.requests[2:]]
    assert calls == [
        ("GET", "/products-v*/_alias", {}),
        ("HEAD", "/products", {}),
        ("PUT", "/products-v1", {}),
        ("POST", "/products-v1/_bulk", {}),
        ("PUT", "/products-v1/_settings", {}),
        ("POST", "/products-v1/_refresh", {}),
        ("POST", "/products-v1/_forcemerge", {"max_num_segments": "1"}),
        ("POST", "/products-v1/_refresh", {}),
        ("POST", "/products-v1/_count", {}),
        ("POST", "/_aliases", {}),
    ]
    create = server.sent("PUT", "/products-v1")[0].json()
    assert create == {
        "settings": {"index": {"knn": True, "number_of_shards": 1, "number_of_replicas": 0,
                               "similarity": {"default": {"type": "BM25"}}, "refresh_interval": "-1",
                               "sort.field": "lab_position", "sort.order": "asc"}},
        "mappings": {**INDEX_BODY["mappings"], "properties": {**INDEX_BODY["mappings"]["properties"],
                                                              "lab_position": {"type": "integer"}}},
    }
    assert server.sent("POST", "/products-v1/_bulk")[0].lines() == [
        '{"index":{"_id":"100001"}}',
        '{"product_title":"Simpson Strong-Tie 12-Gauge Angle","brand":"Simpson Strong-Tie",'
        '"title_vector_minilm":[0.1,-0.25,1e-05],"lab_position":0}',
        '{"index":{"_id":"100002"}}',
        '{"product_title":"BEHR Premium Textured DeckOver","lab_position":1}',
        '{"index":{"_id":"100003"}}',
        '{"brand":"Delta","title_vector_minilm":[0.5,0.5,-0.75],"lab_position":2}',
    ]
    assert server.sent("PUT", "/products-v1/_settings")[0].json() == {"index": {"refresh_interval": "1s"}}
    assert server.sent("POST", "/_aliases")[0].json() == {
        "actions": [{"add": {"index": "products-v1", "alias": "products"}}]}
    assert backend.describe()["index"] == "products-v1"


def test_vectors_are_sent_as_the_exact_float32_values():
    """Shortest round-trip decimals: the cluster parses back the very same float32 vector."""
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((50, 384)).astype(np.float32)
    vectors[3, 5] = np.float32(1.4e-45)  # the smallest subnormal
    docs = Documents([str(i) for i in range(50)], {}, {"v": vectors})
    parsed = np.array([json.loads(source)["v"] for _action, source in index_actions(docs)], dtype=np.float32)
    assert np.array_equal(parsed, vectors)


def test_shards_option_sets_the_count(server):
    default_cluster(server, doc_count=lambda: 3)
    backend = connect(server, shards=3)
    backend.build_index("products", INDEX_BODY, DOCS)
    assert server.sent("PUT", "/products-v1")[0].json()["settings"]["index"]["number_of_shards"] == 3
    assert backend.describe()["shards"] == 3


def test_rebuilding_loads_a_new_version_and_swaps_the_alias_atomically(server):
    existing = {"products-v3": {"aliases": {"products": {}}}, "products-v4": {"aliases": {}},
                "products-vendors-v1": {"aliases": {}}}
    default_cluster(server, existing=existing, doc_count=lambda: 3)
    connect(server).build_index("products", INDEX_BODY, DOCS)
    assert server.sent("PUT", "/products-v5")
    assert server.sent("POST", "/_aliases")[0].json() == {"actions": [
        {"add": {"index": "products-v5", "alias": "products"}}, {"remove_index": {"index": "products-v3"}}]}
    assert not server.sent("DELETE", ".*")


def test_a_concrete_index_with_the_alias_name_is_refused_before_anything_is_created(server):
    default_cluster(server)
    server.route("HEAD", "/products", Reply(200))
    backend = connect(server)
    with pytest.raises(LabError, match="'products' already exists .* not an alias managed by relevance-lab"):
        backend.build_index("products", INDEX_BODY, DOCS)
    assert not server.sent("PUT", ".*")


def test_invalid_index_names_and_duplicate_ids_are_refused_without_requests(server):
    default_cluster(server)
    backend = connect(server)
    with pytest.raises(LabError, match="cannot be an OpenSearch index name"):
        backend.build_index("SciFact", INDEX_BODY, DOCS)
    twice = Documents(["1", "1"], {"brand": ["a", "b"]}, {})
    with pytest.raises(DataError, match="'1' appears more than once"):
        backend.build_index("products", INDEX_BODY, twice)
    partly_nan = Documents(["1"], {}, {"title_vector_minilm": np.array([[0.1, np.nan, 0.2]], dtype=np.float32)})
    with pytest.raises(DataError, match="document '1' has NaN or infinite components"):
        backend.build_index("products", INDEX_BODY, partly_nan)
    assert len(server.requests) == 2  # connect only: every check comes before the first request


def test_search_batch_sends_msearch_lines_with_the_stored_pipeline(server):
    default_cluster(server)
    ranking = {"angle": [("100001", 7.25), ("100003", 1.5)], "deck": [("100002", 3.0)], "none": []}
    server.route("POST", "/_msearch",
                 msearch_reply(lambda body: ranking[body["query"]["hybrid"]["queries"][0]["match"]["product_title"]["query"]],
                               "products-v1"))
    route_shards(server)
    backend = connect(server, batch_size=2)
    bodies = [hybrid("angle"), hybrid("deck"), hybrid("none")]
    results = backend.search_batch("products", bodies, MINMAX, strategy="Hybrid MinMax")
    assert results == [SearchResult([Hit("100001", 7.25), Hit("100003", 1.5)], 2),
                       SearchResult([Hit("100002", 3.0)], 1), SearchResult([], 0)]
    name = pipeline_id("Hybrid MinMax", MINMAX)
    assert name.startswith("relevance-lab-hybrid-minmax-") and len(name) == len("relevance-lab-hybrid-minmax-") + 12
    put = server.sent("PUT", "/_search/pipeline/.*")
    assert [r.path for r in put] == [f"/_search/pipeline/{name}"] and put[0].json() == MINMAX
    searches = server.sent("POST", "/_msearch")
    assert [r.lines() for r in searches] == [
        [HEADER, json.dumps({**hybrid("angle"), "_source": False, "search_pipeline": name}, separators=(",", ":")),
         HEADER, json.dumps({**hybrid("deck"), "_source": False, "search_pipeline": name}, separators=(",", ":"))],
        [HEADER, json.dumps({**hybrid("none"), "_source": False, "search_pipeline": name}, separators=(",", ":"))],
    ]
    backend.search_batch("products", bodies[:1], MINMAX, strategy="Hybrid MinMax")
    assert len(server.sent("PUT", "/_search/pipeline/.*")) == 1  # stored once per session
    assert backend.describe()["index"] == "products-v1"


def test_search_without_pipeline_keeps_the_body_and_its_source_choice(server):
    default_cluster(server)
    server.route("POST", "/_msearch", msearch_reply(lambda body: [("100001", 2.5)], "products-v1"))
    route_shards(server)
    backend = connect(server)
    body = {**bm25("angle"), "_source": ["product_title"]}
    assert backend.search_batch("products", [body]) == [SearchResult([Hit("100001", 2.5)], 1)]
    assert server.sent("POST", "/_msearch")[0].ndjson() == [{"index": "products"}, body]
    assert not server.sent("PUT", "/_search/pipeline/.*")


def test_concurrent_batches_keep_the_query_order(server):
    default_cluster(server)
    server.route("POST", "/_msearch",
                 msearch_reply(lambda body: [(body["query"]["match"]["product_title"]["query"], 1.0)], "products-v1"))
    route_shards(server)
    backend = connect(server, batch_size=2, concurrency=3)
    seen = []
    results = backend.search_batch("products", [bm25(f"q{i}") for i in range(7)], progress=seen.append)
    assert [r.hits[0].doc_id for r in results] == [f"q{i}" for i in range(7)]
    assert len(server.sent("POST", "/_msearch")) == 4 and sorted(seen) == [1, 2, 2, 2]


def test_clusters_before_2_18_get_one_search_per_query_with_the_pipeline_parameter(server):
    default_cluster(server, version="2.17.1")
    server.route("POST", "/products/_search", lambda r: Reply(200, search_response([("100001", 0.75)], "products-v1")))
    route_shards(server)
    backend = connect(server)
    results = backend.search_batch("products", [hybrid("angle"), hybrid("deck")], MINMAX, strategy="hybrid")
    assert results == [SearchResult([Hit("100001", 0.75)], 1)] * 2
    sent = server.sent("POST", "/products/_search")
    name = pipeline_id("hybrid", MINMAX)
    assert [(r.query, r.json()) for r in sent] == [({"search_pipeline": name}, {**hybrid(q), "_source": False})
                                                    for q in ("angle", "deck")]
    assert not server.sent("POST", "/_msearch")


def test_a_hybrid_query_without_a_fusing_pipeline_is_refused_before_any_request(server):
    default_cluster(server)
    backend = connect(server)
    before = len(server.requests)
    with pytest.raises(QueryError, match="hybrid query needs a search pipeline .* unfused sub-query scores silently"):
        backend.search_batch("products", [hybrid("angle")], None, strategy="hybrid")
    only_request_processors = {"request_processors": [{"filter_query": {"query": {"term": {"brand": "Delta"}}}}]}
    with pytest.raises(QueryError, match="hybrid query needs a search pipeline"):
        backend.search_batch("products", [hybrid("angle")], only_request_processors, strategy="hybrid")
    assert len(server.requests) == before


@pytest.mark.parametrize("version, bodies, pipeline, message", [
    ("2.9.0", [hybrid("a")], MINMAX, "needs the hybrid query, which OpenSearch 2.10 introduced; .* runs 2.9.0"),
    ("2.17.1", [hybrid("a")], RRF, r"needs the score-ranker-processor \(RRF\), which OpenSearch 2.19 introduced"),
    ("2.17.1", [{**hybrid("a"), "query": {"hybrid": {**hybrid("a")["query"]["hybrid"], "pagination_depth": 50}}}],
     MINMAX, "needs pagination_depth on the hybrid query, which OpenSearch 2.19 introduced"),
    ("2.19.1", [hybrid("a")], {"phase_results_processors": [{"normalization-processor": {
        "normalization": {"technique": "z_score"}, "combination": {"technique": "arithmetic_mean"}}}]},
     "needs z_score normalization, which OpenSearch 3.0 introduced; the cluster at .* runs 2.19.1"),
])
def test_features_newer_than_the_cluster_are_refused_in_one_line(server, version, bodies, pipeline, message):
    default_cluster(server, version=version)
    backend = connect(server)
    before = len(server.requests)
    with pytest.raises(QueryError, match=message) as error:
        backend.search_batch("products", bodies, pipeline, strategy="hybrid")
    assert "\n" not in str(error.value) and str(error.value).startswith("strategy 'hybrid' needs")
    assert len(server.requests) == before


def test_z_score_and_rrf_are_accepted_by_a_3_x_cluster(server):
    default_cluster(server, version="3.1.0")
    server.route("POST", "/_msearch", msearch_reply(lambda body: [("100001", 0.5)], "products-v1"))
    route_shards(server)
    backend = connect(server)
    z_score = {"phase_results_processors": [{"normalization-processor": {
        "normalization": {"technique": "z_score"}, "combination": {"technique": "arithmetic_mean"}}}]}
    for strategy, pipeline in (("z", z_score), ("rrf", RRF)):
        assert backend.search_batch("products", [hybrid("a")], pipeline, strategy=strategy)[0].hits == [
            Hit("100001", 0.5)]
    assert [r.json() for r in server.sent("PUT", "/_search/pipeline/.*")] == [z_score, RRF]


def test_a_cluster_without_the_neural_search_plugin_is_refused_for_hybrid(server):
    default_cluster(server, plugins="cat-plugins-2.19.1-without-neural")
    backend = connect(server)
    with pytest.raises(QueryError, match="from the opensearch-neural-search plugin, which the cluster at"):
        backend.search_batch("products", [hybrid("a")], MINMAX, strategy="hybrid")


def test_put_vectors_adds_the_new_field_and_updates_every_document(server):
    default_cluster(server)
    mapping = {"products-v2": {"mappings": {"properties": {
        "product_title": {"type": "text", "analyzer": "english"},
        "title_vector_minilm": {**KNN, "method": {**KNN["method"], "parameters": {"ef_construction": 100, "m": 16}}}}}}}
    server.route("GET", "/products/_mapping", Reply(200, mapping))
    server.route("PUT", "/products/_mapping", ack())
    backend = connect(server)
    vectors = {"title_vector_minilm": np.array([[1, 0, 0], [0, 1, 0]], dtype=np.float32),
               "title_vector_ft": np.array([[0.5, 0.25, 0.125], [np.nan] * 3], dtype=np.float32)}
    report = backend.put_vectors("products", {"title_vector_minilm": KNN, "title_vector_ft": KNN},
                                 ["100001", "100002"], vectors)
    assert report.indexed == 2 and report.failed == []
    assert server.sent("PUT", "/products/_mapping")[0].json() == {"properties": {"title_vector_ft": KNN}}
    assert server.sent("POST", "/products/_bulk")[0].lines() == [
        '{"update":{"_id":"100001"}}', '{"doc":{"title_vector_minilm":[1.0,0.0,0.0],"title_vector_ft":[0.5,0.25,0.125]}}',
        '{"update":{"_id":"100002"}}', '{"doc":{"title_vector_minilm":[0.0,1.0,0.0],"title_vector_ft":null}}',
    ]
    assert [(r.method, r.path, r.query) for r in server.requests[2:]] == [
        ("GET", "/products/_mapping", {}), ("PUT", "/products/_mapping", {}), ("POST", "/products/_bulk", {}),
        ("POST", "/products/_refresh", {}), ("POST", "/products/_forcemerge", {"max_num_segments": "1"}),
        ("POST", "/products/_refresh", {})]


def test_put_vectors_refuses_to_remap_an_existing_field(server):
    default_cluster(server)
    server.route("GET", "/products/_mapping", Reply(200, {"products-v2": {"mappings": {"properties": {
        "title_vector_minilm": {**KNN, "dimension": 384}}}}}))
    backend = connect(server)
    with pytest.raises(DataError, match="field 'title_vector_minilm' of index 'products' is mapped as .*rebuild"):
        backend.put_vectors("products", {"title_vector_minilm": KNN}, ["1"],
                            {"title_vector_minilm": np.ones((1, 3), dtype=np.float32)})
    assert not server.sent("PUT", "/products/_mapping") and not server.sent("POST", "/products/_bulk")


def test_index_fields_and_count(server):
    default_cluster(server, doc_count=lambda: 54667)
    server.route("GET", "/products/_mapping", Reply(200, {"products-v2": {"mappings": {"properties": {
        "brand": {"type": "keyword"}}}}}))
    backend = connect(server)
    assert backend.index_fields("products") == {"brand": {"type": "keyword"}}
    assert backend.count("products") == 54667


def test_explain_uses_the_explain_api_for_plain_queries(server):
    default_cluster(server)
    server.route("POST", "/products/_explain/EVz1Q3sBgg5eWQP6RSte", canned("explain"))
    route_shards(server)
    backend = connect(server)
    body = {"size": 10, "query": {"match": {"customer_first_name": "Mary"}}}
    explanation = backend.explain("products", body, "EVz1Q3sBgg5eWQP6RSte")
    assert explanation == canned("explain").body["explanation"]
    assert server.sent("POST", "/products/_explain/.*")[0].json() == {"query": body["query"]}


def test_explain_of_a_hybrid_query_adds_the_hybrid_score_explanation_processor(server):
    default_cluster(server)
    server.route("POST", "/my-nlp-index/_search", canned("hybrid-explain-search"))
    server.route("GET", "/my-nlp-index/_settings/index.number_of_shards",
                 Reply(200, {"my-nlp-index": {"settings": {"index": {"number_of_shards": "2"}}}}))
    backend = connect(server)
    body = hybrid("horse", size=5)
    explanation = backend.explain("my-nlp-index", body, "5", MINMAX)
    assert explanation["description"] == "arithmetic_mean combination of:"
    assert [d["description"] for d in explanation["details"]] == ["min_max normalization of:"] * 2
    explain_pipeline = {**MINMAX, "response_processors": [{"hybrid_score_explanation": {}}]}
    name = pipeline_id("explain", explain_pipeline)
    assert server.sent("PUT", "/_search/pipeline/.*")[0].json() == explain_pipeline
    search = server.sent("POST", "/my-nlp-index/_search")[0]
    assert search.query == {"search_pipeline": name, "explain": "true"}
    assert search.json() == {**body, "_source": False}
    missing = backend.explain("my-nlp-index", body, "42", MINMAX)
    assert missing["value"] == 0.0 and "not among the 5 fused hits" in missing["description"]


def test_explaining_a_hybrid_query_needs_2_19(server):
    default_cluster(server, version="2.17.1")
    route_shards(server)
    backend = connect(server)
    with pytest.raises(QueryError, match="needs the hybrid_score_explanation processor, which OpenSearch 2.19"):
        backend.explain("products", hybrid("a"), "1", MINMAX)


def test_no_verify_certs_warns_once(monkeypatch):
    with pytest.warns(OpenSearchBackendWarning, match="not verified .* test cluster"):
        make_client(Endpoint.parse("https://localhost:9200"), ca_certs=None, verify_certs=False, timeout=5,
                    pool_size=10, retry_policy=FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_client(Endpoint.parse("http://localhost:9200"), ca_certs=None, verify_certs=False, timeout=5,
                    pool_size=10, retry_policy=FAST)


SORT = {"sort.field": "lab_position", "sort.order": "asc"}


@pytest.mark.parametrize("settings, expected", [
    ({}, {"index": {"number_of_shards": 2, "number_of_replicas": 0, "knn": True, "refresh_interval": "-1", **SORT}}),
    ({"number_of_shards": 1, "number_of_replicas": 1, "refresh_interval": "30s"},
     {"number_of_shards": 2, "number_of_replicas": 1, "refresh_interval": "-1", "index": {"knn": True, **SORT}}),
    ({"index.number_of_shards": 1, "index.knn": False},
     {"index.number_of_shards": 2, "index.knn": False,
      "index": {"number_of_replicas": 0, "refresh_interval": "-1", **SORT}}),
])
def test_index_settings_are_overridden_where_the_body_writes_them(spec, settings, expected):
    """Short, flat or nested: a setting is replaced in place, never written twice (OpenSearch would reject it)."""
    body = {"settings": settings, "mappings": {"properties": {"v": KNN}}}
    sent = cluster_index_body(body, shards=2, version=Version(3, 1))
    assert sent["settings"] == expected and body["settings"] == settings
    assert spec.request_errors(Recorded("PUT", "/products-v1", {}, {}, json.dumps(sent).encode())) == []
    assert loaded_settings(body) == {"index": {"refresh_interval": settings.get("refresh_interval", "1s")}}


def test_versions_compare_numerically():
    assert Version.parse("3.0.0-alpha1") == Version(3, 0, 0) > Version.parse("2.19.1") > Version.parse("2.9.0")
    assert str(Version.parse("2.10")) == "2.10.0"
    with pytest.raises(LabError, match="cannot read the cluster version 'unknown'"):
        Version.parse("unknown")


def cluster_at(server, version: str) -> None:
    """A healthy cluster reporting ``version`` (the 3.1.0 answer with its number changed)."""
    default_cluster(server, version="3.1.0")
    info = canned("info-3.1.0")
    info.body["version"]["number"] = version
    server.route("GET", "/", info)
    server.route("POST", "/_msearch", msearch_reply(lambda body: [("100001", 0.5)], "products-v1"))
    route_shards(server)


RRF_20 = {"phase_results_processors": [{"score-ranker-processor": {"combination": {"technique": "rrf",
                                                                                 "rank_constant": 20}}}]}
RRF_20_BEFORE_3_1 = {"phase_results_processors": [{"score-ranker-processor": {"combination": {
    "technique": "rrf", "parameters": {"rank_constant": 20}}}}]}


@pytest.mark.parametrize("version, sent", [("2.19.1", RRF_20_BEFORE_3_1), ("3.0.0", RRF_20_BEFORE_3_1),
                                           ("3.1.0", RRF_20)])
def test_rank_constant_is_sent_where_the_cluster_reads_it(server, version, sent):
    """neural-search 2.19/3.0 read rank_constant only from combination.parameters; 3.1 moved it up (PR #1322)."""
    cluster_at(server, version)
    backend = connect(server)
    backend.search_batch("products", [hybrid("a")], RRF_20, strategy="rrf")
    name = pipeline_id("rrf", sent)
    put = server.sent("PUT", "/_search/pipeline/.*")
    assert [(r.path, r.json()) for r in put] == [(f"/_search/pipeline/{name}", sent)]
    assert server.sent("POST", "/_msearch")[0].ndjson()[1]["search_pipeline"] == name
    assert RRF_20["phase_results_processors"][0]["score-ranker-processor"]["combination"] == {
        "technique": "rrf", "rank_constant": 20}


def test_integer_weights_are_sent_as_floats(server):
    """neural-search casts weights to a list of Double: ``[1, 0]`` would fail, ``[1.0, 0.0]`` is read."""
    cluster_at(server, "3.1.0")
    backend = connect(server)
    combination = {"technique": "arithmetic_mean", "parameters": {"weights": [1, 0]}}
    minmax = {"phase_results_processors": [{"normalization-processor": {
        "normalization": {"technique": "min_max"}, "combination": combination}}]}
    rrf = {"phase_results_processors": [{"score-ranker-processor": {"combination": {
        "technique": "rrf", "rank_constant": 60, "parameters": {"weights": [2, 1]}}}}]}
    backend.search_batch("products", [hybrid("a")], minmax, strategy="minmax")
    backend.search_batch("products", [hybrid("a")], rrf, strategy="rrf")
    put = server.sent("PUT", "/_search/pipeline/.*")
    assert b'"weights":[1.0,0.0]' in put[0].body and b'"weights":[2.0,1.0]' in put[1].body
    assert combination["parameters"]["weights"] == [1, 0]
    assert put[0].path.endswith(pipeline_id("minmax", put[0].json()))


def test_a_pipeline_a_3_x_cluster_reads_as_is_keeps_its_name(server):
    cluster_at(server, "3.1.0")
    connect(server).search_batch("products", [hybrid("a")], MINMAX, strategy="Hybrid MinMax")
    assert [r.path for r in server.sent("PUT", "/_search/pipeline/.*")] == [
        f"/_search/pipeline/{pipeline_id('Hybrid MinMax', MINMAX)}"]


@pytest.mark.parametrize("version, bound, message", [
    ("2.19.1", "lower_bounds", "needs lower_bounds in min_max normalization, which OpenSearch 3.0 introduced; "
                               "the cluster at .* runs 2.19.1"),
    ("3.1.0", "upper_bounds", "needs upper_bounds in min_max normalization, which OpenSearch 3.2 introduced; "
                              "the cluster at .* runs 3.1.0"),
])
def test_min_max_bounds_are_refused_before_their_version(server, version, bound, message):
    cluster_at(server, version)
    backend = connect(server)
    pipeline = {"phase_results_processors": [{"normalization-processor": {
        "normalization": {"technique": "min_max", "parameters": {bound: [{"mode": "clip", "min_score": 0.0}]}},
        "combination": {"technique": "arithmetic_mean"}}}]}
    with pytest.raises(QueryError, match=message) as error:
        backend.search_batch("products", [hybrid("a")], pipeline, strategy="hybrid")
    assert "\n" not in str(error.value)
    assert not server.sent("PUT", "/_search/pipeline/.*")


def test_lower_bounds_are_accepted_by_3_0(server):
    cluster_at(server, "3.0.0")
    pipeline = {"phase_results_processors": [{"normalization-processor": {
        "normalization": {"technique": "min_max", "parameters": {"lower_bounds": [{"mode": "apply", "min_score": 0.1},
                                                                                 {"mode": "ignore"}]}},
        "combination": {"technique": "arithmetic_mean"}}}]}
    assert connect(server).search_batch("products", [hybrid("a")], pipeline, strategy="hybrid")[0].total == 1
    assert server.sent("PUT", "/_search/pipeline/.*")[0].json() == pipeline


LEGACY_BODY = {"settings": {"index": {"similarity": {"default": {"type": "LegacyBM25"},
                                                     "title": {"type": "LegacyBM25"}}}},
               "mappings": {"properties": {"product_title": {"type": "text", "similarity": "title"}}}}


@pytest.mark.parametrize("version, sent_type", [("2.19.1", "BM25"), ("3.1.0", "LegacyBM25")])
def test_legacy_bm25_is_named_bm25_on_a_2_x_cluster(server, version, sent_type):
    """2.x has no LegacyBM25 type (index creation would fail): its BM25 is the legacy form."""
    default_cluster(server, version=version, doc_count=lambda: 3)
    connect(server).build_index("products", LEGACY_BODY, DOCS)
    similarity = server.sent("PUT", "/products-v1")[0].json()["settings"]["index"]["similarity"]
    assert similarity == {"default": {"type": sent_type}, "title": {"type": sent_type}}
    assert LEGACY_BODY["settings"]["index"]["similarity"]["default"] == {"type": "LegacyBM25"}


def test_flat_similarity_settings_are_translated_too():
    body = {"settings": {"index.similarity.default.type": "LegacyBM25", "similarity": {"t": {"type": "LegacyBM25"}}}}
    sent = cluster_index_body(body, 1, Version(2, 19, 1))["settings"]
    assert sent["index.similarity.default.type"] == "BM25" and sent["similarity"] == {"t": {"type": "BM25"}}


def test_the_index_is_sorted_on_catalogue_position_only_where_it_can_be():
    """Equal scores then come in catalogue order; k-NN's native engines and a body's own sort are left alone."""
    from lab.backends.opensearch_client import Version
    from lab.backends.opensearch_documents import cluster_index_body, is_position_sorted

    def body(engine: str, settings: dict | None = None) -> dict:
        return {"settings": settings or {}, "mappings": {"properties": {"t": {"type": "text"}, "v": {
            "type": "knn_vector", "dimension": 2, "method": {"name": "hnsw", "engine": engine}}}}}

    sent = cluster_index_body(body("lucene"), 1, Version(3, 5))
    assert is_position_sorted(sent) and sent["mappings"]["properties"]["lab_position"] == {"type": "integer"}
    assert sent["settings"]["index"]["sort.order"] == "asc"
    for unsortable in (body("faiss"), body("lucene", {"index": {"sort.field": "t"}})):
        sent = cluster_index_body(unsortable, 1, Version(3, 5))
        assert not is_position_sorted(sent) and "lab_position" not in sent["mappings"]["properties"]
