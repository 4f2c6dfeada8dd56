"""Feature values of (query, candidate) pairs: each query feature runs as an ordinary search restricted to the
candidates' ids through the backend interface (so a cluster answers it without the LTR plugin), built-ins are
computed here (cosine from the embedding cache), a whole column at a time."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
import pandas as pd

from ..backends.base import SearchResult
from ..context import Lab
from ..embeddings.vectors import normalise
from ..errors import LabError
from ..mapping import field_text, load_mapping, source_texts, vector_sources
from ..progress import ProgressFactory, silent
from .features import Feature, FeatureSet, builtin_column

COSINE_CHUNK_ROWS = 2048
"""Pairs whose vectors are gathered at once for the cosine (3 MB each side at 384 dimensions: they stay in the
CPU cache for the dot products, where one gather of all pairs would copy GBs)."""


@dataclass(frozen=True)
class Pairs:
    """The (query, candidate) pairs in row order: ``ids`` the distinct candidates (first seen first), each
    row's query (``query_rows``) and candidate (``id_rows``, into ``ids``)."""

    ids: list[str]
    query_rows: np.ndarray
    id_rows: np.ndarray

    @classmethod
    def of(cls, candidates: list[list[str]]) -> Pairs:
        """The pairs of query ``i`` with each of ``candidates[i]``."""
        id_rows, ids = pd.factorize(pd.Series(list(chain.from_iterable(candidates)), dtype=object), sort=False)
        query_rows = np.repeat(np.arange(len(candidates)), [len(c) for c in candidates])
        return cls(ids.tolist(), query_rows, id_rows.astype(np.int64))

    def rows_of(self, query_rows: np.ndarray, doc_ids: list[str]) -> np.ndarray:
        """The row of each (query, document) pair given, -1 where the document is no candidate of that query (a
        candidate listed twice for a query: its last row)."""
        id_rows = pd.Index(self.ids, dtype=object).get_indexer(doc_ids).astype(np.int64)
        width = len(self.ids) + 1
        keys = self.query_rows * width + self.id_rows
        order = np.argsort(keys, kind="stable")
        wanted = query_rows * width + id_rows
        at = np.searchsorted(keys[order], wanted, side="right") - 1
        found = (at >= 0) & (id_rows >= 0)
        found[found] = keys[order[at[found]]] == wanted[found]
        return np.where(found, order[np.maximum(at, 0)], -1)


def feature_values(lab: Lab, feature_set: FeatureSet, texts: list[str], candidates: list[list[str]],
                   progress: ProgressFactory | None = None) -> np.ndarray:
    """A float32 matrix: one row per (query, candidate) in the order of ``candidates`` flattened (query ``i``'s
    candidates ``candidates[i]``), one column per feature of ``feature_set``."""
    progress = progress or silent()
    pairs = Pairs.of(candidates)
    matrix = np.zeros((len(pairs.query_rows), len(feature_set.features)), dtype=np.float32)
    chosen: pd.DataFrame | None = None
    with progress(f"Features ({feature_set.name})", len(feature_set.features)) as advance:
        for column, feature in enumerate(feature_set.features):
            if feature.template is not None:
                matrix[:, column] = _query_feature(lab, feature_set, feature, texts, candidates, pairs)
            else:
                chosen = _candidate_products(lab.dataset.products, pairs.ids, feature) if chosen is None else chosen
                if feature.builtin == "cosine":
                    matrix[:, column] = _cosine(lab, feature, texts, chosen, pairs)
                elif feature.builtin == "cross_encoder":
                    matrix[:, column] = _cross_encoder(lab, feature_set, feature, texts, chosen, pairs)
                else:
                    matrix[:, column] = _text_builtin(feature, texts, chosen, pairs)
            advance(1)
    return matrix


def _candidate_products(products: pd.DataFrame, ids: list[str], feature: Feature) -> pd.DataFrame:
    """The dataset rows of the distinct candidates ``ids``; a LabError naming ``feature`` if one is no product."""
    row_of = {pid: i for i, pid in enumerate(products["product_id"].tolist())}
    missing = [pid for pid in ids if pid not in row_of]
    if missing:
        raise LabError(f"feature '{feature.name}': candidate '{missing[0]}' is not a product of the dataset")
    return products.iloc[[row_of[pid] for pid in ids]]


def _query_feature(lab: Lab, feature_set: FeatureSet, feature: Feature, texts: list[str],
                   candidates: list[list[str]], pairs: Pairs) -> np.ndarray:
    bodies: list[dict[str, Any]] = []
    for text, ids in zip(texts, candidates):
        clause = feature.template.render({"query_text": text})[0]["query"]
        bodies.append({"size": max(len(ids), 1),
                       "query": {"bool": {"must": [clause], "filter": [{"ids": {"values": list(ids)}}]}}})
    try:
        results = lab.backend.search_batch(lab.index_name, bodies, None, strategy=f"ltr-{feature_set.name}")
    except LabError as exc:
        raise LabError(f"{feature_set.path}: feature '{feature.name}' failed: {exc}") from None
    return _placed_scores(pairs, results)


def _placed_scores(pairs: Pairs, results: list[SearchResult]) -> np.ndarray:
    """Each pair's score among its query's hits (``results[i]`` of query ``i``), 0 where it is not a hit."""
    doc_ids = list(chain.from_iterable(result.doc_ids for result in results))
    scores = np.fromiter(chain.from_iterable(result.scores for result in results), dtype=np.float64,
                         count=len(doc_ids))
    rows = pairs.rows_of(np.repeat(np.arange(len(results)), [len(r.doc_ids) for r in results]), doc_ids)
    values = np.zeros(len(pairs.query_rows), dtype=np.float32)
    values[rows[rows >= 0]] = scores[rows >= 0]
    return values


def model_fingerprints(lab: Lab, feature_set: FeatureSet) -> dict[str, str]:
    """The fingerprint of every model the set's built-ins read, by ``cosine:<model>`` and
    ``cross_encoder:<reranker>``: logged values hold only for these versions of them."""
    from ..reranker.store import load_reranker_card

    found = {}
    for feature in feature_set.features:
        model = feature.settings.get("model")
        if feature.builtin == "cosine":
            found[f"cosine:{model}"] = lab.encoder(model).fingerprint
        elif feature.builtin == "cross_encoder":
            where = f"{feature_set.path}: feature '{feature.name}'"
            found[f"cross_encoder:{model}"] = load_reranker_card(lab.workspace, model, where)[1]["fingerprint"]
    return found


def _cosine(lab: Lab, feature: Feature, texts: list[str], chosen: pd.DataFrame, pairs: Pairs) -> np.ndarray:
    from ..embeddings import encode_cached

    kind, model = feature.settings["vector"], feature.settings["model"]
    sources = vector_sources(load_mapping(lab.mapping_path))
    if kind not in sources:
        raise LabError(f"feature '{feature.name}': vector '{kind}' is not a vector kind of the mapping "
                       f"(known: {', '.join(sources)})")
    encoder = lab.encoder(model)
    product_texts = source_texts(chosen, sources[kind])
    present = [i for i, t in enumerate(product_texts) if t is not None]
    product_vectors = np.zeros((len(pairs.ids), encoder.dimension), dtype=np.float32)
    if present:
        product_vectors[present] = encode_cached(encoder, [product_texts[i] for i in present], lab.embedding_cache)
    query_vectors = encode_cached(encoder, texts, lab.embedding_cache) if texts else np.zeros((0, encoder.dimension))
    product_vectors = normalise(product_vectors)
    query_vectors = normalise(np.asarray(query_vectors, dtype=np.float32))
    return row_dots(query_vectors, product_vectors, pairs.query_rows, pairs.id_rows)


def row_dots(left: np.ndarray, right: np.ndarray, left_rows: np.ndarray, right_rows: np.ndarray,
             chunk: int = COSINE_CHUNK_ROWS) -> np.ndarray:
    """``left[left_rows[k]] · right[right_rows[k]]`` for every k, float32: one einsum per ``chunk`` rows, each
    row's dot the same as one einsum over all rows gives."""
    dots = np.zeros(len(left_rows), dtype=np.float32)
    for start in range(0, len(left_rows), chunk):
        part = slice(start, start + chunk)
        dots[part] = np.einsum("ij,ij->i", left[left_rows[part]], right[right_rows[part]])
    return dots


def _cross_encoder(lab: Lab, feature_set: FeatureSet, feature: Feature, texts: list[str], chosen: pd.DataFrame,
                   pairs: Pairs) -> np.ndarray:
    """The reranker's score of (query, the field's text) for every pair, through its score cache."""
    from ..reranker.scorer import CrossEncoderScorer
    from ..reranker.store import load_reranker_card

    name, model = feature.settings["field"], feature.settings["model"]
    if name not in chosen.columns:
        raise LabError(f"feature '{feature.name}': field '{name}' is not a product field "
                       f"(known: {', '.join(chosen.columns)})")
    path, card = load_reranker_card(lab.workspace, model, f"{feature_set.path}: feature '{feature.name}'")
    column = field_text(chosen, name)
    queries = [texts[q] for q in pairs.query_rows.tolist()]
    fields = [column[i] or "" for i in pairs.id_rows.tolist()]
    return CrossEncoderScorer(path, card, lab.workspace).score(queries, fields)


def _text_builtin(feature: Feature, texts: list[str], chosen: pd.DataFrame, pairs: Pairs) -> np.ndarray:
    name = feature.settings.get("field")
    if name and name not in chosen.columns:
        raise LabError(f"feature '{feature.name}': field '{name}' is not a product field "
                       f"(known: {', '.join(chosen.columns)})")
    fields = field_text(chosen, name) if name else [None] * len(pairs.ids)
    return builtin_column(feature, texts, fields, pairs.query_rows, pairs.id_rows)
