"""Hard-negative candidates: each training query's top-k products by the base model or by BM25."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..progress import ProgressFactory
from .examples import Miner
from .retrieval import top_k

BM25_FIELD = "product_title"


def base_model_miner(lab: Any, base: str, texts: pd.Series, k: int, progress: ProgressFactory) -> Miner:
    """Candidates from exact cosine search with the base model (catalogue vectors from the cache)."""
    from ..embeddings import encode_cached

    def mine(queries: list[str]) -> list[list[str]]:
        encoder = lab.encoder(base)
        products = texts.tolist()
        with progress(f"Encoding catalogue ({base})", len(products)) as advance:
            corpus = encode_cached(encoder, products, lab.embedding_cache, progress=advance)
        with progress(f"Encoding training queries ({base})", len(queries)) as advance:
            vectors = encode_cached(encoder, queries, lab.embedding_cache, progress=advance)
        ids = texts.index.to_numpy()
        return [ids[row].tolist() for row in top_k(vectors, corpus, k)]

    return mine


def bm25_miner(lab: Any, k: int, progress: ProgressFactory, field: str = BM25_FIELD) -> Miner:
    """Candidates from a BM25 match query on ``field`` against the current index (any backend)."""

    def mine(queries: list[str]) -> list[list[str]]:
        bodies = [{"query": {"match": {field: text}}, "size": k} for text in queries]
        with progress("Mining BM25 candidates", len(bodies)) as advance:
            results = lab.backend.search_batch(lab.index_name, bodies, None, strategy="finetune-mining",
                                               progress=advance)
        return [[hit.doc_id for hit in result.hits] for result in results]

    return mine


def miner_for(lab: Any, config: Any, texts: pd.Series, progress: ProgressFactory) -> Miner | None:
    """The miner a run's settings ask for (``negatives``, ``mine_from``, ``mine_top_k``, ``base``), or None
    when it trains without hard negatives."""
    if config.negatives == "none":
        return None
    if config.mine_from == "bm25":
        return bm25_miner(lab, config.mine_top_k, progress)
    return base_model_miner(lab, config.base, texts, config.mine_top_k, progress)
