"""`lab explain`: each hit's score broken down per clause, from the embedded engine's explanations
(BM25 per field and term; k-NN similarity, normalisation and fusion for hybrid queries)."""

from __future__ import annotations

import json
import zlib

import numpy as np
import pytest
from click.testing import CliRunner
from rich.console import Console
from rich.tree import Tree

from lab.cli import cli
from lab.cli.experiments import _add_explanation
from lab.context import Lab
from lab.engine import Documents, EmbeddedIndex
from lab.errors import LabError
from lab.experiments.explain import contributions, explain_query
from lab.mapping import META_KEY, vector_fields
from lab.runner import render_bodies
from lab.templates import load_templates

from demo_support import demo_lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Lab:
    lab = demo_lab(tmp_path_factory.mktemp("ws"), seed=41, n_products=200, n_queries=60)
    return lab


def invoke(lab: Lab, *args: str):
    return CliRunner().invoke(cli, ["--workspace", str(lab.workspace), *args], obj={}, catch_exceptions=False)


def _judged_query(lab: Lab) -> tuple[str, dict[str, int]]:
    """The most judged query that BM25 finds at least 5 hits for, and its judgments."""
    qrels, queries = lab.dataset.qrels, lab.dataset.queries.set_index("query_id")
    template = load_templates(lab.queries_dir)["textsearch"]
    for qid in qrels.groupby("query_id").size().sort_values(ascending=False, kind="stable").index:
        text = queries.at[qid, "query_text"]
        bodies, _ = render_bodies(template, template.params, [text], None, 5)
        if len(lab.backend.search_batch(lab.index_name, bodies)[0].hits) == 5:
            judged = qrels[qrels["query_id"] == qid]
            return text, dict(zip(judged["product_id"], judged["relevance"]))
    raise AssertionError("no judged query with 5 BM25 hits")


def test_hits_with_bm25_per_field_and_term(lab):
    template = load_templates(lab.queries_dir)["textsearch_boosted"]
    text, labels = _judged_query(lab)
    hits = explain_query(lab, template, text, top=3)
    assert [h.rank for h in hits] == [1, 2, 3]
    assert hits[0].score >= hits[1].score >= hits[2].score
    for hit in hits:
        assert hit.explanation["value"] == pytest.approx(hit.score, rel=1e-6)
        parts = contributions(hit.explanation)
        assert parts and {p.kind for p in parts} == {"bm25"}
        assert {p.field for p in parts} <= {"product_title", "product_description", "attributes"}
        assert sum(p.value for p in parts) == pytest.approx(hit.score, rel=1e-5)
        assert hit.label == labels.get(hit.product_id)


def test_a_document_outside_the_top_is_explained_too(lab):
    template = load_templates(lab.queries_dir)["textsearch"]
    text, _ = _judged_query(lab)
    top = explain_query(lab, template, text, top=1)
    everything = lab.backend.search_batch(lab.index_name, render_bodies(template, template.params, [text], None, 100)[0])
    ranked = [h.doc_id for h in everything[0].hits]
    unranked = next(p for p in lab.dataset.products["product_id"] if p not in ranked)
    hits = explain_query(lab, template, text, top=1, doc_ids=[ranked[4], unranked])
    assert [h.product_id for h in hits] == [top[0].product_id, ranked[4], unranked]
    assert hits[1].rank == 5 and hits[2].rank is None and hits[2].score is None
    assert hits[2].explanation["value"] == 0.0


def test_bad_input(lab):
    template = load_templates(lab.queries_dir)["textsearch"]
    with pytest.raises(LabError, match="give the query text"):
        explain_query(lab, template, "  ")
    with pytest.raises(LabError, match="no such product"):
        explain_query(lab, template, "drill", doc_ids=["nope"])
    with pytest.raises(LabError, match="unknown param"):
        explain_query(lab, template, "drill", overrides={"knn_boost": 3})


def test_cli_tree_and_json(lab):
    text, _ = _judged_query(lab)
    result = invoke(lab, "explain", "--strategy", "textsearch_boosted", "--query", text, "--top", "2")
    assert result.exit_code == 0, result.output
    assert "#1 " in result.output and "#2 " in result.output
    assert "weight(product_title:" in result.output and "× idf" in result.output and "boost 8" in result.output
    assert "n, number of documents containing term" not in result.output
    full = invoke(lab, "explain", "--strategy", "textsearch_boosted", "--query", text, "--top", "1", "--full")
    assert "n, number of documents containing term" in full.output
    data = json.loads(invoke(lab, "explain", "--strategy", "textsearch", "--query", text, "--format", "json").output)
    assert data["strategy"] == "textsearch" and len(data["hits"]) == 3
    assert {"value", "description", "details"} <= set(data["hits"][0]["explanation"])
    assert "unknown strategy 'nope'" in invoke(lab, "explain", "--strategy", "nope", "--query", "x").output


def test_hybrid_explanations_show_normalisation_and_fusion(lab):
    """The engine's hybrid explanation (vectors: hashed bags of words), as `lab explain` renders it."""
    mapping = json.loads(lab.mapping_path.read_text())
    props = mapping["mappings"]["properties"]
    for declared in mapping["mappings"]["_meta"][META_KEY]["models"]:
        for name in vector_fields(mapping, declared):
            if declared == "minilm":
                props[name]["dimension"] = 16
            else:
                del props[name]
    index = EmbeddedIndex.create(mapping)
    products = lab.dataset.products
    texts = products["product_title"].tolist()
    vectors = {name: _hashed(texts) for name in vector_fields(mapping, "minilm")}
    index.add(Documents(products["product_id"].tolist(), {"product_title": texts}, vectors))
    template = load_templates(lab.queries_dir)["hybrid_minmax"]
    text, _ = _judged_query(lab)
    bodies, pipeline = render_bodies(template, template.params, [text], _hashed([text]), 5)
    top = index.search(bodies[0], pipeline)["hits"]["hits"][0]
    tree = index.explain(top["_id"], bodies[0], pipeline)
    assert tree["value"] == pytest.approx(top["_score"], rel=1e-6)
    parts = contributions(tree)
    assert {p.kind for p in parts} == {"bm25", "knn"}
    knn = next(p for p in parts if p.kind == "knn")
    assert knn.field == "text_vector_minilm"
    assert knn.path[0].startswith("arithmetic_mean") and "min_max normalization" in knn.path[1]
    console = Console(record=True, width=200)
    rendered = Tree("hit")
    _add_explanation(rendered, tree, full=False)
    console.print(rendered)
    text_out = console.export_text()
    assert "arithmetic_mean" in text_out and "min_max normalization of:" in text_out and "KnnQuery" in text_out


def _hashed(texts: list[str]) -> np.ndarray:
    out = np.zeros((len(texts), 16), dtype=np.float32)
    for i, text in enumerate(texts):
        for token in str(text).lower().split():
            out[i, zlib.crc32(token.encode()) % 16] += 1
        out[i] /= max(np.linalg.norm(out[i]), 1e-9)
    return out
