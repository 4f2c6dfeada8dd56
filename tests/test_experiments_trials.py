"""Tuning trials on the embedded engine share clause matches between trials; their rankings must be
exactly what the embedded backend returns for a run with the same params (boosts of 1 included:
Lucene flattens an unboosted nested disjunction, which changes the float sums; more queries than one
msearch batch, whose k-NN matrix products round per batch)."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from lab.backends.base import Documents
from lab.backends.embedded import BATCH_SIZE, EmbeddedBackend
from lab.context import default_mapping_path, default_queries_dir
from lab.data import generate_demo
from lab.engine import EmbeddedIndex, TrialSearcher
from lab.backends.base import BatchSearcher
from lab.experiments.trial_search import TrialSearch, has_second_stage
from lab.mapping import META_KEY, load_mapping, text_fields, vector_fields
from lab.runner import render_bodies
from lab.templates import load_templates

DIM = 32
MODEL = "minilm"


def _hashed_vectors(texts: list[str | None]) -> np.ndarray:
    """Bag-of-words vectors hashed into DIM buckets (unit length; NaN rows for absent text)."""
    out = np.full((len(texts), DIM), np.nan, dtype=np.float32)
    for i, text in enumerate(texts):
        if text:
            row = np.zeros(DIM, dtype=np.float32)
            for token in text.lower().split():
                row[zlib.crc32(token.encode()) % DIM] += 1.0
            out[i] = row / np.linalg.norm(row)
    return out


def _text(value) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    dataset = generate_demo(seed=5, n_products=200, n_queries=270)
    body = load_mapping(default_mapping_path())
    properties = body["mappings"]["properties"]
    for declared in body["mappings"]["_meta"][META_KEY]["models"]:
        for name in vector_fields(body, declared):
            if declared == MODEL:
                properties[name]["dimension"] = DIM  # small hashed vectors instead of MiniLM's 384
            else:
                del properties[name]
    products = dataset.products
    fields = {f: [_text(v) for v in products[f]] for f in text_fields(body) if f in products.columns}
    vectors = {}
    for name, (_kind, sources) in vector_fields(body, MODEL).items():
        joined = [" ".join(t for t in parts if t) or None
                  for parts in zip(*([_text(v) for v in products[s]] for s in sources))]
        vectors[name] = _hashed_vectors(joined)
    backend = EmbeddedBackend(tmp_path_factory.mktemp("ws"))
    backend.build_index("demo", body, Documents(products["product_id"].tolist(), fields, vectors))
    texts = dataset.queries["query_text"].tolist()
    assert len(texts) > BATCH_SIZE
    return backend, texts, _hashed_vectors(texts)


def _reference(backend: EmbeddedBackend, template, params, texts, vectors) -> list[list[str]]:
    bodies, pipeline = render_bodies(template, params, texts, vectors, 100)
    return [[hit.doc_id for hit in result.hits] for result in backend.search_batch("demo", bodies, pipeline)]


def _memoized(backend: EmbeddedBackend, **options) -> TrialSearcher:
    return TrialSearcher(EmbeddedIndex.load(backend.root / "demo"), BATCH_SIZE, **options)


POINTS = {
    "textsearch_boosted": [{"title_boost": 1, "description_boost": 1}, {"title_boost": 8, "description_boost": 1},
                           {"title_boost": 1, "description_boost": 3}, {"title_boost": 2, "description_boost": 3}],
    "hybrid_boosted": [{"knn_boost": 1, "title_boost": 8}, {"knn_boost": 50, "title_boost": 8},
                       {"knn_boost": 50, "title_boost": 1}],
    "hybrid_minmax": [{"weights": [0.3, 0.7], "window": 50, "title_boost": 1},
                      {"weights": [0.8, 0.2], "window": 50, "title_boost": 1},
                      {"weights": [0.8, 0.2], "window": 20, "title_boost": 4}],
    "rrf": [{"rank_constant": 10, "window": 20}, {"rank_constant": 60, "window": 20}, {"rank_constant": 60, "window": 50}],
    "rrf_multi": [{"rank_constant": 5}, {"rank_constant": 60}],
    "vectorsearch_multifield_boosted": [{"title_boost": 1, "description_boost": 1}, {"title_boost": 8, "description_boost": 4}],
    "vectorsearch": [{"k": 10}, {"k": 100}],
}

@pytest.mark.parametrize("strategy", sorted(POINTS))
def test_memoized_trials_rank_exactly_as_msearch(engine, strategy):
    backend, texts, vectors = engine
    template = load_templates(default_queries_dir())[strategy]
    vectors = vectors if template.models() else None
    memoized = _memoized(backend)
    trials = TrialSearch(memoized, template, texts, vectors, 100)
    for point in POINTS[strategy]:
        params = template.resolve_params(point)
        expected = _reference(backend, template, params, texts, vectors)
        assert trials.rankings(params) == expected, point
    assert memoized.memo.entries  # clauses were shared, not recomputed


def test_a_tiny_memory_budget_drops_entries_but_stays_exact(engine):
    backend, texts, vectors = engine
    template = load_templates(default_queries_dir())["hybrid_boosted"]
    memoized = _memoized(backend, budget_bytes=50_000)
    trials = TrialSearch(memoized, template, texts, vectors, 100)
    for point in POINTS["hybrid_boosted"]:
        params = template.resolve_params(point)
        assert trials.rankings(params) == _reference(backend, template, params, texts, vectors)
        assert memoized.memo.bytes <= 50_000


def test_other_backends_search_every_trial(engine):
    backend, texts, vectors = engine
    template = load_templates(default_queries_dir())["rrf"]
    trials = TrialSearch(BatchSearcher(backend, "demo", template.name), template, texts, vectors, 100)
    for point in POINTS["rrf"][:2]:
        params = template.resolve_params(point)
        assert trials.rankings(params) == _reference(backend, template, params, texts, vectors)


def test_the_embedded_backend_searches_trials_with_the_engine(engine):
    backend, _, _ = engine
    assert isinstance(backend.trial_searcher("demo", "rrf"), TrialSearcher)


def test_the_shipped_templates_with_a_second_stage_are_the_ltr_and_rerank_ones():
    templates = load_templates(default_queries_dir())
    staged = {name for name in templates if has_second_stage(templates[name])}
    assert staged == {"ltr_textsearch_boosted", "ltr_finetune", "rerank_cross_encoder", "rrf_finetune_rerank"}
