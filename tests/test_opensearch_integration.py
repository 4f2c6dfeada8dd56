"""The whole loop against a real OpenSearch cluster: runs only when $OPENSEARCH_URL is set.

    export OPENSEARCH_URL=$(scripts/opensearch-local start)    # or `docker compose up -d`
    python -m pytest tests/test_opensearch_integration.py -ra

CI (.ci/run) starts a local node and sets $OPENSEARCH_URL; with CI=true and no URL this module fails
instead of skipping. Credentials come from $OPENSEARCH_USER/$OPENSEARCH_PASSWORD. The indices and
pipelines the backend tests create (``relevance-lab-it-*``, ``relevance-lab-*``) are deleted afterwards;
the CLI test leaves its ``demo`` index (an alias to ``demo-vN``) and its strategies' pipelines, as
`lab demo` would.
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
from opensearchpy.exceptions import RequestError, TransportError

from lab.backends.base import Documents
from lab.backends.check import check_backends
from lab.backends.opensearch import PIPELINE_PREFIX, OpenSearchBackend
from lab.backends.opensearch_client import Version
from lab.backends.opensearch_documents import embedded_index_body
from lab.backends import opensearch_features as features
from lab.backends.opensearch_features import NEURAL_PLUGIN, is_hybrid
from lab.context import default_mapping_path, default_queries_dir
from lab.errors import DataError, LabError, QueryError
from lab.mapping import load_mapping, text_fields, vector_fields
from lab.reranker.stage import split_rerank
from lab.templates import load_templates
from cluster_support import cli_loop, live_url

URL = live_url("OPENSEARCH_URL", "OpenSearch")
pytestmark = [
    pytest.mark.opensearch,
    pytest.mark.skipif(not URL, reason="no cluster: set OPENSEARCH_URL (e.g. the URL that `scripts/opensearch-local start` "
                                       "prints) to run the OpenSearch integration tests"),
]
MINMAX = {"phase_results_processors": [{"normalization-processor": {
    "normalization": {"technique": "min_max"}, "combination": {"technique": "arithmetic_mean"}}}]}
WORDS = "angle bracket deck paint screw drill wood door hinge shelf tile grout".split()


@pytest.fixture(scope="module")
def backend() -> OpenSearchBackend:
    return OpenSearchBackend.connect(URL, verify_certs=os.environ.get("OPENSEARCH_VERIFY_CERTS", "1") != "0")


def lab_pipelines(backend: OpenSearchBackend) -> set[str]:
    return {name for name in backend.client.search_pipeline.get(ignore=[404]) if name.startswith(PIPELINE_PREFIX)}


@pytest.fixture
def alias(backend):
    """A fresh alias name; its indices and the pipelines the test stored are deleted afterwards."""
    name = f"relevance-lab-it-{uuid.uuid4().hex[:8]}"
    pipelines = lab_pipelines(backend)
    yield name
    for index in backend.client.indices.get_alias(index=f"{name}-v*"):
        backend.client.indices.delete(index=index)
    for pipeline in lab_pipelines(backend) - pipelines:
        backend.client.search_pipeline.delete(id=pipeline)


def catalogue(n: int = 40, seed: int = 3) -> tuple[dict, Documents]:
    """The shipped mapping with the base model's fields, and ``n`` products with unit vectors."""
    body = load_mapping(default_mapping_path())
    properties = body["mappings"]["properties"]
    keep = set(text_fields(body)) | set(vector_fields(body, "minilm"))
    body["mappings"]["properties"] = {k: v for k, v in properties.items() if k in keep}
    rng = np.random.default_rng(seed)
    ids = [str(100001 + i) for i in range(n)]
    titles = [" ".join(rng.choice(WORDS, size=int(rng.integers(2, 6)))) for _ in ids]
    descriptions = [" ".join(rng.choice(WORDS, size=int(rng.integers(3, 30)))) for _ in ids]
    fields = {"product_id": ids, "product_title": titles,
              "product_description": [d if i % 3 else None for i, d in enumerate(descriptions)],
              "attributes": [" ".join(rng.choice(WORDS, size=3)) if i % 2 else None for i in range(n)]}
    vectors = {}
    for name in vector_fields(body, "minilm"):
        matrix = rng.standard_normal((n, 384)).astype(np.float32)
        vectors[name] = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    return body, Documents(ids, fields, vectors)


def match(text: str, size: int = 10) -> dict:
    return {"size": size, "query": {"match": {"product_title": {"query": text}}}}


def knn(vector: np.ndarray, size: int = 10) -> dict:
    return {"size": size, "query": {"knn": {"title_vector_minilm": {"vector": vector.tolist(), "k": size}}}}


def test_index_search_explain_rebuild(backend, alias):
    body, docs = catalogue()
    assert backend.build_index(alias, body, docs).indexed == len(docs)
    assert backend.count(alias) == len(docs)
    assert set(backend.index_fields(alias)) == set(body["mappings"]["properties"])
    results = backend.search_batch(alias, [match("deck paint"), knn(docs.vectors["title_vector_minilm"][0])])
    assert results[0].hits and all(h.score > 0 for h in results[0].hits)
    assert results[1].hits[0].doc_id == docs.ids[0]
    top = results[0].hits[0]
    explanation = backend.explain(alias, match("deck paint"), top.doc_id)
    assert explanation["value"] == pytest.approx(top.score, rel=1e-6)
    described = backend.describe()
    assert described["index"] == f"{alias}-v1" and described["shards"] == 1
    assert described["cluster_version"] == backend.cluster.number

    backend.build_index(alias, body, docs)
    assert backend.client.indices.exists(index=f"{alias}-v2")
    assert not backend.client.indices.exists(index=f"{alias}-v1")
    assert backend.search_batch(alias, [match("deck paint")])[0] == results[0]


def test_put_vectors_adds_a_model_in_place(backend, alias):
    body, docs = catalogue()
    backend.build_index(alias, body, docs)
    field = {"title_vector_it": body["mappings"]["properties"]["title_vector_minilm"]}
    vectors = {"title_vector_it": docs.vectors["title_vector_minilm"][::-1].copy()}
    report = backend.put_vectors(alias, field, docs.ids, vectors)
    assert report.failed == [] and report.indexed == len(docs)
    query = {"size": 1, "query": {"knn": {"title_vector_it": {"vector": vectors["title_vector_it"][0].tolist(), "k": 1}}}}
    assert backend.search_batch(alias, [query])[0].hits[0].doc_id == docs.ids[0]
    assert backend.count(alias) == len(docs)


def needs_neural_search(backend: OpenSearchBackend) -> None:
    """Skip, saying why, on a cluster without the neural-search plugin (CI's 2.19.1 node has it: never skips there)."""
    if NEURAL_PLUGIN not in (backend.cluster.plugins or ()):
        pytest.skip(f"the cluster at {URL} has no {NEURAL_PLUGIN} plugin (Maven Central serves org.opensearch.plugin:"
                    "neural-search for 2.19.1 only: `scripts/opensearch-local start --version 2.19.1 --plugins "
                    "knn,neural-search` installs it, as CI does); "
                    "test_hybrid_strategies_are_refused_without_neural_search runs instead")


def test_hybrid_with_a_stored_pipeline_and_its_explanation(backend, alias):
    needs_neural_search(backend)
    if backend.cluster.version < Version(2, 19):
        pytest.skip(f"hybrid explanation needs OpenSearch 2.19; the cluster runs {backend.cluster.number}")
    body, docs = catalogue()
    backend.build_index(alias, body, docs)
    hybrid = {"size": 10, "query": {"hybrid": {"queries": [
        match("deck paint")["query"], knn(docs.vectors["title_vector_minilm"][1])["query"]]}}}
    result = backend.search_batch(alias, [hybrid], MINMAX, strategy="it-hybrid")[0]
    assert result.hits and all(0.0 <= h.score <= 1.0 for h in result.hits)
    explanation = backend.explain(alias, hybrid, result.hits[0].doc_id, MINMAX)
    assert explanation["value"] == pytest.approx(result.hits[0].score, rel=1e-5)
    assert "combination" in explanation["description"]


def test_the_embedded_engine_agrees_on_bm25_and_knn(backend, alias, tmp_path):
    engine = pytest.importorskip("lab.engine")
    if not hasattr(engine, "EmbeddedIndex"):
        pytest.skip("the embedded engine (lab.engine.EmbeddedIndex) is not available yet")
    from lab.backends.embedded import EmbeddedBackend

    body, docs = catalogue()
    embedded = EmbeddedBackend(tmp_path)
    embedded.build_index(alias, embedded_index_body(body, backend.cluster.version), docs)
    backend.build_index(alias, body, docs)
    bodies = [match(" ".join(WORDS[i:i + 2])) for i in range(0, len(WORDS), 2)]
    bodies += [knn(docs.vectors["title_vector_minilm"][i]) for i in range(3)]
    comparison = check_backends(embedded, backend, alias, bodies)
    assert comparison.agreeing == len(bodies), comparison.summary()


def test_the_whole_cli_loop(tmp_path: Path):
    manifests, rows = cli_loop(tmp_path, "opensearch", URL)
    assert {"textsearch", "vectorsearch"} <= {m["strategy"] for m in manifests}
    with urllib.request.urlopen(URL) as root:  # GET /, read without the lab's client
        lucene_version = json.load(root)["version"]["lucene_version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", lucene_version)
    for manifest in manifests:
        backend = manifest["backend"]
        assert backend["backend"] == "opensearch" and backend["shards"] == 1 and backend["cluster_version"]
        assert backend["lucene_version"] == lucene_version  # as the node itself says
        assert "password" not in json.dumps(backend).lower()
    assert {"textsearch", "textsearch_boosted", "vectorsearch"} <= rows.keys()
    assert "100.0%" in rows["textsearch_boosted"]  # BM25: every top 10 identical, scores within 1e-5


# --- every shipped strategy, the cluster against the embedded engine ---------------------------------

SHIPPED_OVERRIDES = {"vectorsearch_finetune": {"model": "minilm"}, "rrf_finetune": {"model": "minilm"},
                     "rerank_cross_encoder": {"rerank_window": 10},
                     "rrf_finetune_rerank": {"model": "minilm", "rerank_window": 10}}
"""Templates of a fine-tuned model run here on the base model's fields (the same DSL, other vectors); rerank
windows within the 10 hits searched."""
QUERY_TEXTS = ["deck paint", "angle bracket screw", "wood door hinge", "tile grout shelf", "drill"]


def shipped_bodies(template, docs: Documents) -> tuple[list[dict], dict | None]:
    """The template rendered for every query text, with a stored product vector as the query vector, as a run
    sends it to the backend: a rerank response processor taken off (the runner reranks the backend's hits)."""
    params = template.resolve_params(SHIPPED_OVERRIDES.get(template.name))
    bodies, pipeline = [], None
    for i, text in enumerate(QUERY_TEXTS):
        vector = docs.vectors["text_vector_minilm"][(7 * i) % len(docs)].tolist()
        body, pipeline = template.render({**params, "query_text": text, "query_vector": vector, "size": 10})
        bodies.append(body)
    bodies, pipeline, _ = split_rerank(template, bodies, pipeline)
    return bodies, pipeline


@pytest.fixture(scope="module")
def both_backends(backend, tmp_path_factory):
    """One small catalogue (HNSW is exact at this size) in the embedded engine and on the cluster."""
    from lab.backends.embedded import EmbeddedBackend

    name = f"relevance-lab-it-shipped-{uuid.uuid4().hex[:8]}"
    body, docs = catalogue(n=120, seed=11)
    embedded = EmbeddedBackend(tmp_path_factory.mktemp("embedded"))
    embedded.build_index(name, embedded_index_body(body, backend.cluster.version), docs)  # 2.x: legacy BM25
    backend.build_index(name, body, docs)
    yield embedded, name, docs
    for index in backend.client.indices.get_alias(index=f"{name}-v*"):
        backend.client.indices.delete(index=index)


@pytest.mark.parametrize("strategy", sorted(load_templates(default_queries_dir())))
def test_every_shipped_strategy_scores_as_the_embedded_engine(backend, both_backends, strategy):
    embedded, index, docs = both_backends
    template = load_templates(default_queries_dir())[strategy]
    bodies, pipeline = shipped_bodies(template, docs)
    if any(is_hybrid(b) for b in bodies):
        needs_neural_search(backend)
    comparison = check_backends(embedded, backend, index, bodies, pipeline, labels=QUERY_TEXTS,
                                strategy=f"it-{strategy}", tolerance=1e-5)
    assert all(q.cluster_total and q.rows for q in comparison.queries)
    assert comparison.agreeing == len(bodies), comparison.summary()


def test_hybrid_strategies_are_refused_without_neural_search(backend, both_backends):
    """The lab refuses in one line what the cluster cannot run, and the cluster indeed cannot run it."""
    if NEURAL_PLUGIN in (backend.cluster.plugins or ()):
        pytest.skip("the cluster has the neural-search plugin: the hybrid strategies run above")
    _, index, docs = both_backends
    templates = load_templates(default_queries_dir())
    hybrid = [t for t in templates.values() if any(is_hybrid(b) for b in shipped_bodies(t, docs)[0])]
    assert {"hybrid_minmax", "rrf", "rrf_multi"} <= {t.name for t in hybrid}
    for template in hybrid:
        bodies, pipeline = shipped_bodies(template, docs)
        with pytest.raises(QueryError, match=f"needs the hybrid query from the {NEURAL_PLUGIN} plugin") as refused:
            backend.search_batch(index, bodies, pipeline, strategy=template.name)
        assert "\n" not in str(refused.value)
    with pytest.raises(RequestError, match="unknown query \\[hybrid\\]"):
        backend.client.search(index=index, body=shipped_bodies(templates["rrf"], docs)[0][0])


def test_explain_on_the_cluster_equals_the_hit_scores(backend, both_backends):
    _, index, docs = both_backends
    templates = load_templates(default_queries_dir())
    for strategy in ("textsearch_boosted", "vectorsearch", "hybrid_boosted"):
        body = shipped_bodies(templates[strategy], docs)[0][0]
        hits = backend.search_batch(index, [body], strategy=f"it-{strategy}")[0].hits
        for hit in hits[:3]:
            explanation = backend.explain(index, body, hit.doc_id)
            assert explanation["value"] == pytest.approx(hit.score, rel=1e-6), (strategy, hit)


# --- the index lifecycle -----------------------------------------------------------------------------

def with_an_immense_term(docs: Documents, at: int) -> Documents:
    """``docs`` with document ``at``'s product_id a keyword term over Lucene's 32766 bytes: that document alone
    is refused."""
    product_ids = list(docs.ids)
    product_ids[at] = "9" * 40_000
    return Documents(docs.ids, {**docs.fields, "product_id": product_ids}, docs.vectors)


def test_a_partial_bulk_failure_is_listed_and_keeps_the_previous_index(backend, alias):
    body, docs = catalogue()
    backend.build_index(alias, body, docs)
    report = backend.build_index(alias, body, with_an_immense_term(docs, 5))
    assert [doc for doc, _ in report.failed] == [docs.ids[5]]
    assert "immense term" in report.failed[0][1] and report.indexed == len(docs) - 1
    assert backend.client.indices.get_alias(name=alias) == {f"{alias}-v1": {"aliases": {alias: {}}}}
    assert not backend.client.indices.exists(index=f"{alias}-v2")
    assert backend.count(alias) == len(docs)


def test_a_mapping_conflict_is_one_line(backend, alias):
    body, docs = catalogue()
    backend.build_index(alias, body, docs)
    field = {"title_vector_minilm": {**body["mappings"]["properties"]["title_vector_minilm"], "dimension": 8}}
    with pytest.raises(DataError, match="field 'title_vector_minilm' of index .* is mapped as") as conflict:
        backend.put_vectors(alias, field, docs.ids, {"title_vector_minilm": np.ones((len(docs), 8), np.float32)})
    assert "\n" not in str(conflict.value)
    backend.client.indices.create(index=f"{alias}-plain")
    try:
        with pytest.raises(LabError, match="already exists .* not an alias managed by relevance-lab"):
            backend.build_index(f"{alias}-plain", body, docs)
    finally:
        backend.client.indices.delete(index=f"{alias}-plain")


# --- beyond one shard ------------------------------------------------------------------------------

def test_three_shards_score_as_one_with_dfs_query_then_fetch(backend, alias):
    body, docs = catalogue(n=90, seed=5)
    sharded = OpenSearchBackend.connect(URL, shards=3,
                                        verify_certs=os.environ.get("OPENSEARCH_VERIFY_CERTS", "1") != "0")
    backend.build_index(alias, body, docs)
    sharded.build_index(f"{alias}-3", body, docs)
    try:
        assert sharded.describe()["shards"] == 3
        nodes = {row["node"] for row in backend.client.cat.shards(index=f"{alias}-3-v1", format="json")}
        if os.environ.get("OPENSEARCH_EXPECT_NODES"):  # CI's 3.x cluster has two nodes: the shards span both
            assert len(nodes) == int(os.environ["OPENSEARCH_EXPECT_NODES"]), nodes
        bodies = [match(" ".join(WORDS[i:i + 3])) for i in range(0, len(WORDS), 3)]
        one = backend.search_batch(alias, bodies)
        three = sharded.search_batch(f"{alias}-3", bodies)
        for a, b in zip(one, three):  # equal scores may come in another order from three shards
            assert a.total == b.total and [h.score for h in b.hits] == pytest.approx([h.score for h in a.hits], rel=1e-6)
            scores = {h.doc_id: h.score for h in a.hits}
            assert all(h.score == pytest.approx(scores[h.doc_id], rel=1e-6) for h in b.hits if h.doc_id in scores)
        # Without dfs, each shard scores with its own statistics: the test above can fail.
        plain = sharded.client.search(index=f"{alias}-3", body=bodies[0], params={"search_type": "query_then_fetch"})
        assert [h["_score"] for h in plain["hits"]["hits"]] != pytest.approx([h.score for h in one[0].hits], rel=1e-6)
    finally:
        for index in backend.client.indices.get_alias(index=f"{alias}-3-v*"):
            backend.client.indices.delete(index=index)


# --- version gates: what the lab allows is what the cluster accepts ----------------------------------

def probes(client, index: str, vector: list[float]) -> dict:
    """For each feature of lab/backends/opensearch_features.py, a request that only a cluster with it accepts (or,
    for min_max bounds, which 2.19 accepts and ignores, applies)."""
    text = {"match": {"product_title": "deck"}}
    near = {"knn": {"text_vector_minilm": {"vector": vector, "k": 5}}}

    def pipeline(processor: dict, **extra):
        def send():
            name = f"relevance-lab-it-probe-{uuid.uuid4().hex[:8]}"
            client.search_pipeline.put(id=name, body={"phase_results_processors": [processor], **extra})
            client.search_pipeline.delete(id=name)
        return send

    def hybrid(**extra):
        return lambda: client.search(index=index, body={"query": {"hybrid": {"queries": [text, near], **extra}}})

    def normalization(technique: str = "min_max", **parameters):
        normalization = {"technique": technique, **({"parameters": parameters} if parameters else {})}
        return pipeline({"normalization-processor": {"normalization": normalization,
                                                     "combination": {"technique": "arithmetic_mean"}}})

    def bounded(**parameters):
        """min_max bounds: neural-search 2.19 accepts any normalization ``parameters`` and ignores them (its
        ScoreNormalizationFactory never passes them on), so a stored pipeline proves nothing there; the probe is
        that hybrid scores through the bounds differ from plain min_max. Clip bounds outside the scores (lower
        0, upper 100) move every sub-query's min or max, so a cluster that applies them changes the scores."""
        def send():
            scores = []
            for settings in ({}, {"parameters": parameters}):
                name = f"relevance-lab-it-probe-{uuid.uuid4().hex[:8]}"
                client.search_pipeline.put(id=name, body={"phase_results_processors": [{"normalization-processor": {
                    "normalization": {"technique": "min_max", **settings},
                    "combination": {"technique": "arithmetic_mean"}}}]})
                try:
                    answer = client.search(index=index, body={"size": 20, "query": {"hybrid": {"queries": [text, near]}}},
                                           params={"search_pipeline": name})
                finally:
                    client.search_pipeline.delete(id=name)
                scores.append([(hit["_id"], hit["_score"]) for hit in answer["hits"]["hits"]])
            if scores[0] == scores[1]:
                raise RuntimeError(f"accepted {', '.join(parameters)} but scored as plain min_max: ignored")
        return send

    def msearch_pipeline():
        name = f"relevance-lab-it-probe-{uuid.uuid4().hex[:8]}"
        client.search_pipeline.put(id=name, body={"description": "probe"})
        try:
            answer = client.msearch(body=[{"index": index}, {"query": text, "search_pipeline": name}])
            if "error" in answer["responses"][0]:
                raise RuntimeError(answer["responses"][0]["error"])
        finally:
            client.search_pipeline.delete(id=name)

    def knn_vector():
        name = f"relevance-lab-it-probe-{uuid.uuid4().hex[:8]}"
        client.indices.create(index=name, body={"settings": {"index.knn": True}, "mappings": {"properties": {
            "v": {"type": "knn_vector", "dimension": 2}}}})
        client.indices.delete(index=name)

    def rerank_pipeline():
        name = f"relevance-lab-it-probe-{uuid.uuid4().hex[:8]}"
        client.search_pipeline.put(id=name, body={"response_processors": [{"rerank": {
            "ml_opensearch": {"model_id": "probe"}, "context": {"document_fields": ["product_title"]}}}]})
        client.search_pipeline.delete(id=name)

    def empty_pipeline():
        client.search_pipeline.put(id="relevance-lab-it-probe", body={"description": "probe"})
        client.search_pipeline.delete(id="relevance-lab-it-probe")

    return {
        features.KNN_QUERY: lambda: client.search(index=index, body={"query": near}),
        features.KNN_VECTOR: knn_vector,
        features.SEARCH_PIPELINES: empty_pipeline,
        features.MSEARCH_PIPELINE: msearch_pipeline,
        features.HYBRID: hybrid(),
        features.HYBRID_PAGINATION: hybrid(pagination_depth=10),
        features.HYBRID_FILTER: hybrid(filter=text),
        features.NORMALIZATION: normalization(),
        features.Z_SCORE: normalization("z_score"),
        features.MIN_MAX_LOWER_BOUNDS: bounded(lower_bounds=[{"mode": "clip", "min_score": 0.0}] * 2),
        features.MIN_MAX_UPPER_BOUNDS: bounded(upper_bounds=[{"mode": "clip", "max_score": 100.0}] * 2),
        features.SCORE_RANKER: pipeline({"score-ranker-processor": {"combination": {"technique": "rrf"}}}),
        features.RRF_WEIGHTS: pipeline({"score-ranker-processor": {"combination": {
            "technique": "rrf", "parameters": {"weights": [0.4, 0.6]}}}}),
        features.RERANK_PROCESSOR: rerank_pipeline,
        features.HYBRID_EXPLANATION: pipeline(
            {"normalization-processor": {"normalization": {"technique": "min_max"}}},
            response_processors=[{"hybrid_score_explanation": {}}]),
    }


def test_every_version_gate_matches_what_the_cluster_accepts(backend, both_backends):
    _, index, docs = both_backends
    known = {value for value in vars(features).values() if isinstance(value, features.Feature)}
    checks = probes(backend.client, index, docs.vectors["text_vector_minilm"][0].tolist())
    assert set(checks) == known, f"features without a probe: {sorted(f.name for f in known - set(checks))}"
    disagreements = []
    for feature, probe in checks.items():
        try:
            features.require(backend.cluster, {feature}, "probe", URL)
            allowed = True
        except QueryError:
            allowed = False
        try:
            probe()
            accepted, answer = True, "accepted"
        except (TransportError, RuntimeError) as exc:
            accepted, answer = False, str(exc)[:200]
        if allowed != accepted:
            disagreements.append(f"{feature.name}: lab {'allows' if allowed else 'refuses'}, cluster {answer}")
    assert not disagreements, f"OpenSearch {backend.cluster.number}: " + "; ".join(disagreements)


def test_equal_scores_come_in_catalogue_order_after_updates(backend, alias, tmp_path):
    """The index is sorted on catalogue position: re-adding every document in reverse (vector updates are
    delete + add in Lucene) leaves ties in the embedded engine's order, which a plain index would reverse."""
    from lab.backends.embedded import EmbeddedBackend

    body, docs = catalogue(n=30)
    docs = Documents(docs.ids, {**docs.fields, "product_title": ["deck paint"] * len(docs)}, docs.vectors)
    backend.build_index(alias, body, docs)
    field = {"title_vector_it": body["mappings"]["properties"]["title_vector_minilm"]}
    reverse = docs.ids[::-1]
    backend.put_vectors(alias, field, reverse, {"title_vector_it": docs.vectors["title_vector_minilm"][::-1].copy()})
    embedded = EmbeddedBackend(tmp_path)
    embedded.build_index(alias, embedded_index_body(body, backend.cluster.version), docs)
    query = [match("deck", size=30)]
    cluster_order = [h.doc_id for h in backend.search_batch(alias, query)[0].hits]
    assert len({h.score for h in backend.search_batch(alias, query)[0].hits}) == 1
    assert cluster_order == [h.doc_id for h in embedded.search_batch(alias, query)[0].hits] == docs.ids


def test_a_legacy_bm25_mapping_is_created_and_scored_as_the_engine_does(backend, alias, tmp_path):
    """2.x has no type LegacyBM25 (its BM25 is the legacy form): the lab translates it; 3.x has it natively."""
    from lab.backends.embedded import EmbeddedBackend

    body, docs = catalogue()
    body["settings"]["index"]["similarity"] = {"default": {"type": "LegacyBM25"}}
    backend.build_index(alias, body, docs)
    embedded = EmbeddedBackend(tmp_path)
    embedded.build_index(alias, embedded_index_body(body, backend.cluster.version), docs)
    bodies = [match(" ".join(WORDS[i:i + 2])) for i in range(0, len(WORDS), 2)]
    comparison = check_backends(embedded, backend, alias, bodies)
    assert comparison.agreeing == len(bodies), comparison.summary()
    modern = EmbeddedBackend(tmp_path / "modern")
    modern.build_index(alias, catalogue()[0], docs)
    legacy_top, modern_top = backend.search_batch(alias, bodies[:1])[0].hits[0], modern.search_batch(alias, bodies[:1])[0].hits[0]
    assert legacy_top.score == pytest.approx(2.2 * modern_top.score, rel=1e-6)  # × (1 + k1)
