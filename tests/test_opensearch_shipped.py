"""The shipped index body (mappings/products.json) and every shipped strategy (queries/*.json), sent by the
OpenSearch backend to a local recording server: each request must be an operation of OpenSearch's published
API specification, and each strategy's version needs must be what the backend gates on."""

from __future__ import annotations

import numpy as np
import pytest

from lab.backends.base import Documents
from lab.backends.opensearch import pipeline_id
from lab.backends.opensearch_client import Version
from lab.backends.opensearch_features import body_features, pipeline_features
from lab.errors import QueryError
from lab.context import default_mapping_path, default_queries_dir
from lab.mapping import load_mapping, text_fields, vector_fields
from lab.templates import load_templates
from opensearch_support import (  # noqa: F401 (spec, server: fixtures)
    connect,
    default_cluster,
    Reply,
    msearch_reply,
    route_shards,
    search_response,
    server,
    spec,
)

TEMPLATES = load_templates(default_queries_dir())
DIMENSION = 384
CLUSTERS = ("2.9.0", "2.17.1", "2.19.1", "3.1.0")


def render(template, text: str) -> tuple[dict, dict | None]:
    values = {**template.params, "query_text": text, "size": 100}
    if "query_vector" in template.placeholders:
        values["query_vector"] = np.linspace(-1, 1, DIMENSION, dtype=np.float32).tolist()
    return template.render(values)


def test_the_shipped_index_body_is_sent_as_a_valid_create_request(server):
    body = load_mapping(default_mapping_path())
    ids = ["100001", "100002"]
    fields = {name: ["Simpson Strong-Tie 12-Gauge Angle", None] for name in text_fields(body)}
    vectors = {name: np.vstack([np.full(DIMENSION, 0.5, np.float32), np.full(DIMENSION, np.nan, np.float32)])
               for name in vector_fields(body, "minilm")}
    default_cluster(server, doc_count=lambda: 2)
    report = connect(server).build_index("products", body, Documents(ids, fields, vectors))
    assert report.failed == [] and report.indexed == 2
    sent = server.sent("PUT", "/products-v1")[0].json()
    assert sent["mappings"] == {**body["mappings"], "properties": {**body["mappings"]["properties"],
                                                                   "lab_position": {"type": "integer"}}}
    assert sent["settings"]["index"] == {**body["settings"]["index"], "refresh_interval": "-1",
                                         "sort.field": "lab_position", "sort.order": "asc"}


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_every_shipped_strategy_is_sent_as_valid_msearch_lines(server, name):
    template = TEMPLATES[name]
    bodies, pipelines = zip(*(render(template, text) for text in ("angle bracket", "deck paint")))
    pipeline = pipelines[0]
    default_cluster(server, version="3.1.0")
    route_shards(server)
    server.route("POST", "/_msearch", msearch_reply(lambda body: [("100001", 1.0)], "products-v1"))
    results = connect(server).search_batch("products", list(bodies), pipeline, strategy=name)
    assert [len(r.hits) for r in results] == [1, 1]
    lines = server.sent("POST", "/_msearch")[0].ndjson()
    expected_extra = {"_source": False, **({"search_pipeline": pipeline_id(name, pipeline)} if pipeline else {})}
    assert lines == [{"index": "products"}, {**bodies[0], **expected_extra},
                     {"index": "products"}, {**bodies[1], **expected_extra}]
    puts = server.sent("PUT", "/_search/pipeline/.*")
    assert [r.json() for r in puts] == ([pipeline] if pipeline else [])


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_every_shipped_strategy_runs_on_the_oldest_cluster_it_needs_and_is_refused_below(server, name):
    body, pipeline = render(TEMPLATES[name], "angle bracket")
    needs = body_features(body) | (pipeline_features(pipeline) if pipeline else set())
    oldest = max((feature.since for feature in needs), default=Version(1, 0))
    supported = min(v for v in CLUSTERS if Version.parse(v) >= oldest)
    default_cluster(server, version=supported)
    route_shards(server)
    server.route("POST", "/_msearch", msearch_reply(lambda body: [("100001", 1.0)], "products-v1"))
    server.route("POST", "/products/_search", Reply(200, search_response([("100001", 1.0)], "products-v1")))
    assert connect(server).search_batch("products", [body], pipeline, strategy=name)[0].hits
    older = [v for v in CLUSTERS if Version.parse(v) < oldest]
    if older:
        default_cluster(server, version=max(older, key=Version.parse))
        with pytest.raises(QueryError, match=f"strategy '{name}' needs .* which OpenSearch"):
            connect(server).search_batch("products", [body], pipeline, strategy=name)
