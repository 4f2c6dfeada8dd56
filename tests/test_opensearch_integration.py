"""The whole loop against a real OpenSearch cluster: runs only when $OPENSEARCH_URL is set.

    docker compose up -d
    OPENSEARCH_URL=http://localhost:9200 python -m pytest tests/test_opensearch_integration.py -ra

Credentials come from $OPENSEARCH_USER/$OPENSEARCH_PASSWORD. The indices and pipelines the backend tests
create (``relevance-lab-it-*``, ``relevance-lab-*``) are deleted afterwards; the CLI test leaves its ``demo``
index (an alias to ``demo-vN``) and its strategies' pipelines, as `lab demo` would.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from lab.backends.base import Documents
from lab.backends.check import check_backends
from lab.backends.opensearch import PIPELINE_PREFIX, OpenSearchBackend
from lab.backends.opensearch_client import Version
from lab.cli import cli
from lab.context import default_mapping_path
from lab.mapping import load_mapping, text_fields, vector_fields

URL = os.environ.get("OPENSEARCH_URL")
pytestmark = [
    pytest.mark.opensearch,
    pytest.mark.skipif(not URL, reason="no cluster: set OPENSEARCH_URL (e.g. http://localhost:9200 after "
                                       "`docker compose up -d`) to run the OpenSearch integration tests"),
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
    fields = {"product_id": ids, "product_title": titles,
              "product_description": [t if i % 3 else None for i, t in enumerate(titles)]}
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


def test_hybrid_with_a_stored_pipeline_and_its_explanation(backend, alias):
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
    embedded.build_index(alias, body, docs)
    backend.build_index(alias, body, docs)
    bodies = [match(" ".join(WORDS[i:i + 2])) for i in range(0, len(WORDS), 2)]
    bodies += [knn(docs.vectors["title_vector_minilm"][i]) for i in range(3)]
    comparison = check_backends(embedded, backend, alias, bodies)
    assert comparison.agreeing == len(bodies), comparison.summary()


def test_the_whole_cli_loop(tmp_path: Path):
    args = ["--workspace", str(tmp_path), "--backend", "opensearch", "--url", URL]
    result = CliRunner().invoke(cli, [*args, "demo", "--products", "300", "--queries", "60"], obj={},
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    manifests = [json.loads(p.read_text()) for p in (tmp_path / "runs" / "demo").glob("*/manifest.json")]
    assert {"textsearch", "vectorsearch"} <= {m["strategy"] for m in manifests}
    for manifest in manifests:
        backend = manifest["backend"]
        assert backend["backend"] == "opensearch" and backend["shards"] == 1 and backend["cluster_version"]
        assert "password" not in json.dumps(backend).lower()
