"""Feature values of (query, candidate) pairs: each query feature runs as an ordinary search restricted to the
candidates' ids through the backend interface (so a cluster answers it without the LTR plugin), built-ins are
computed here (cosine from the embedding cache)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..context import Lab
from ..embeddings.vectors import normalise
from ..errors import LabError
from ..mapping import field_text, load_mapping, source_texts, vector_sources
from ..progress import ProgressFactory, silent
from .features import Feature, FeatureSet, builtin_value


def feature_values(lab: Lab, feature_set: FeatureSet, texts: list[str], candidates: list[list[str]],
                   progress: ProgressFactory | None = None) -> np.ndarray:
    """A float32 matrix: one row per (query, candidate) in the order of ``candidates`` flattened (query ``i``'s
    candidates ``candidates[i]``), one column per feature of ``feature_set``."""
    progress = progress or silent()
    offsets = np.cumsum([0] + [len(c) for c in candidates])
    matrix = np.zeros((int(offsets[-1]), len(feature_set.features)), dtype=np.float32)
    products = lab.dataset.products
    row_of = {pid: i for i, pid in enumerate(products["product_id"].tolist())}
    with progress(f"Features ({feature_set.name})", len(feature_set.features)) as advance:
        for column, feature in enumerate(feature_set.features):
            if feature.template is not None:
                matrix[:, column] = _query_feature(lab, feature_set, feature, texts, candidates, offsets)
            elif feature.builtin == "cosine":
                matrix[:, column] = _cosine(lab, feature, texts, candidates, products, row_of)
            elif feature.builtin == "cross_encoder":
                matrix[:, column] = _cross_encoder(lab, feature_set, feature, texts, candidates, products, row_of)
            else:
                matrix[:, column] = _text_builtin(feature, texts, candidates, products, row_of)
            advance(1)
    return matrix


def _query_feature(lab: Lab, feature_set: FeatureSet, feature: Feature, texts: list[str],
                   candidates: list[list[str]], offsets: np.ndarray) -> np.ndarray:
    bodies: list[dict[str, Any]] = []
    for text, ids in zip(texts, candidates):
        clause = feature.template.render({"query_text": text})[0]["query"]
        bodies.append({"size": max(len(ids), 1),
                       "query": {"bool": {"must": [clause], "filter": [{"ids": {"values": list(ids)}}]}}})
    try:
        results = lab.backend.search_batch(lab.index_name, bodies, None, strategy=f"ltr-{feature_set.name}")
    except LabError as exc:
        raise LabError(f"{feature_set.path}: feature '{feature.name}' failed: {exc}") from None
    values = np.zeros(int(offsets[-1]), dtype=np.float32)
    for i, (ids, result) in enumerate(zip(candidates, results)):
        position = {pid: offsets[i] + k for k, pid in enumerate(ids)}
        for hit in result.hits:
            if hit.doc_id in position:
                values[position[hit.doc_id]] = hit.score
    return values


def _cosine(lab: Lab, feature: Feature, texts: list[str], candidates: list[list[str]], products: Any,
            row_of: dict[str, int]) -> np.ndarray:
    from ..embeddings import encode_cached

    kind, model = feature.settings["vector"], feature.settings["model"]
    sources = vector_sources(load_mapping(lab.mapping_path))
    if kind not in sources:
        raise LabError(f"feature '{feature.name}': vector '{kind}' is not a vector kind of the mapping "
                       f"(known: {', '.join(sources)})")
    encoder = lab.encoder(model)
    unique_ids = list(dict.fromkeys(pid for ids in candidates for pid in ids))
    missing = [pid for pid in unique_ids if pid not in row_of]
    if missing:
        raise LabError(f"feature '{feature.name}': candidate '{missing[0]}' is not a product of the dataset")
    chosen = products.iloc[[row_of[pid] for pid in unique_ids]]
    product_texts = source_texts(chosen, sources[kind])
    present = [i for i, t in enumerate(product_texts) if t is not None]
    product_vectors = np.zeros((len(unique_ids), encoder.dimension), dtype=np.float32)
    if present:
        product_vectors[present] = encode_cached(encoder, [product_texts[i] for i in present], lab.embedding_cache)
    query_vectors = encode_cached(encoder, texts, lab.embedding_cache) if texts else np.zeros((0, encoder.dimension))
    product_vectors = normalise(product_vectors)
    query_vectors = normalise(np.asarray(query_vectors, dtype=np.float32))
    column = {pid: i for i, pid in enumerate(unique_ids)}
    query_rows = np.repeat(np.arange(len(texts)), [len(c) for c in candidates])
    product_rows = np.array([column[pid] for ids in candidates for pid in ids], dtype=np.int64)
    if not len(product_rows):
        return np.zeros(0, dtype=np.float32)
    return np.einsum("ij,ij->i", query_vectors[query_rows], product_vectors[product_rows]).astype(np.float32)


def _cross_encoder(lab: Lab, feature_set: FeatureSet, feature: Feature, texts: list[str],
                   candidates: list[list[str]], products: Any, row_of: dict[str, int]) -> np.ndarray:
    """The reranker's score of (query, the field's text) for every candidate, through its score cache."""
    from ..reranker.scorer import CrossEncoderScorer
    from ..reranker.store import load_reranker_card

    name, model = feature.settings["field"], feature.settings["model"]
    if name not in products.columns:
        raise LabError(f"feature '{feature.name}': field '{name}' is not a product field "
                       f"(known: {', '.join(products.columns)})")
    path, card = load_reranker_card(lab.workspace, model, f"{feature_set.path}: feature '{feature.name}'")
    column = field_text(products, name)
    queries = [text for text, ids in zip(texts, candidates) for _ in ids]
    fields = [column[row_of[pid]] or "" for ids in candidates for pid in ids]
    return CrossEncoderScorer(path, card, lab.workspace).score(queries, fields)


def _text_builtin(feature: Feature, texts: list[str], candidates: list[list[str]], products: Any,
                  row_of: dict[str, int]) -> np.ndarray:
    name = feature.settings.get("field")
    column = field_text(products, name) if name else []
    if name and name not in products.columns:
        raise LabError(f"feature '{feature.name}': field '{name}' is not a product field "
                       f"(known: {', '.join(products.columns)})")
    values = []
    for text, ids in zip(texts, candidates):
        for pid in ids:
            values.append(builtin_value(feature, text, column[row_of[pid]] if name else None))
    return np.asarray(values, dtype=np.float32)
