"""Evaluation during training on the `val` split: retrieval against the catalogue, whole or a seeded sample
(InformationRetrievalEvaluator), and positive-vs-random similarity (EmbeddingSimilarityEvaluator)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import DataError
from .config import FinetuneConfig
from .examples import judged_pairs, sample_random_pairs

if TYPE_CHECKING:
    from sentence_transformers.sentence_transformer.evaluation import SequentialEvaluator

RELEVANT_LABEL = 1
"""Binary relevance for the retrieval evaluator: any judged grade above irrelevant."""
IR_NAME = "val"
PAIRS_NAME = "val-pairs"
PRIMARY_METRIC = f"eval_{IR_NAME}_cosine_ndcg@10"
SPEARMAN_METRIC = f"eval_{PAIRS_NAME}_spearman_cosine"
EVAL_BATCH_SIZE = 128


@dataclass
class ValidationData:
    """The val split as the evaluators see it."""

    split: str
    queries: dict[str, str]
    """Judged queries with at least one relevant product: id → text."""
    corpus: pd.Series
    """The whole catalogue: product id → text."""
    qrels: dict[str, dict[str, int]]
    """Graded judgments of those queries (for the lab's leaderboard metrics)."""
    judged: pd.DataFrame
    """Every judged pair of the split: query_id, query, product_id, product, relevance."""
    similarity_pairs: pd.DataFrame
    """query, product, score: 1 for positives (label ≥ min_label), 0 for random pairs."""


def build_validation_data(dataset: Any, config: FinetuneConfig, texts: pd.Series) -> ValidationData:
    """The evaluation data of ``config.eval_split`` against the whole catalogue ``texts``."""
    judged = judged_pairs(dataset, config.eval_split, texts)
    relevant = judged[judged["relevance"] >= RELEVANT_LABEL]
    if relevant.empty:
        raise DataError(f"split '{config.eval_split}' of dataset '{dataset.name}' has no judged relevant products: "
                        "evaluation during fine-tuning needs it")
    queries = dict(zip(relevant["query_id"], relevant["query"]))
    qrels: dict[str, dict[str, int]] = {}
    for qid, pid, label in zip(judged["query_id"], judged["product_id"], judged["relevance"]):
        if qid in queries:
            qrels.setdefault(qid, {})[pid] = int(label)
    positives = judged[judged["relevance"] >= config.min_label]
    if positives.empty:
        positives = relevant
    positives = positives.sample(n=min(len(positives), config.similarity_pairs), random_state=config.seed)
    exclude = set(zip(judged["query"], judged["product"]))
    random_pairs = sample_random_pairs(list(queries.values()), texts, len(positives), config.seed, exclude)
    pairs = pd.DataFrame({
        "query": positives["query"].tolist() + [q for q, _ in random_pairs],
        "product": positives["product"].tolist() + [p for _, p in random_pairs],
        "score": [1.0] * len(positives) + [0.0] * len(random_pairs)})
    return ValidationData(split=config.eval_split, queries=queries, corpus=texts, qrels=qrels,
                          judged=judged, similarity_pairs=pairs)


def sample_catalogue(validation: ValidationData, extra: int, seed: int) -> pd.Series:
    """The judged products of the val queries plus ``extra`` random others (seeded: the same for every model)."""
    judged = validation.corpus.index.isin(set(validation.judged["product_id"]))
    others = validation.corpus[~judged]
    picked = others.sample(n=min(extra, len(others)), random_state=seed)
    return pd.concat([validation.corpus[judged], picked])


def during_training(validation: ValidationData, config: FinetuneConfig) -> ValidationData:
    """What the evaluators search while training: the whole catalogue, or with ``config.eval_catalogue`` the val
    queries' judged products plus that many random others, which every evaluation re-encodes (the report after
    training searches the whole catalogue)."""
    if not config.eval_catalogue:
        return validation
    return replace(validation, corpus=sample_catalogue(validation, config.eval_catalogue, config.seed))


def make_evaluator(data: ValidationData, bf16: bool = False) -> SequentialEvaluator:
    """Retrieval on val (main score: cosine nDCG@10) then Pearson/Spearman on positive vs random pairs;
    encoding under bf16 autocast when ``bf16`` (the catalogue is re-encoded at every evaluation).

    ``evaluator.evaluators[0].corpus_vectors`` may hold the catalogue's vectors (in
    ``evaluator.evaluators[0].corpus`` order) to score a model whose catalogue vectors are known
    (the base model's, from the embedding cache) without encoding it again.
    """
    import torch
    from sentence_transformers.sentence_transformer.evaluation import (
        EmbeddingSimilarityEvaluator, InformationRetrievalEvaluator, SequentialEvaluator)

    class CatalogueRetrievalEvaluator(InformationRetrievalEvaluator):
        corpus_vectors: torch.Tensor | None = None

        def compute_all_metrics(self, model, corpus_model=None, corpus_embeddings=None, output_path=None):
            if corpus_embeddings is None:
                corpus_embeddings = self.corpus_vectors
            return super().compute_all_metrics(model, corpus_model, corpus_embeddings, output_path)

    class ValidationEvaluator(SequentialEvaluator):
        def __call__(self, model, *args, **kwargs):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                return super().__call__(model, *args, **kwargs)

    relevant_docs: dict[str, set[str]] = {}
    for qid, judged in data.qrels.items():
        relevant_docs[qid] = {pid for pid, label in judged.items() if label >= RELEVANT_LABEL}
    retrieval = CatalogueRetrievalEvaluator(
        queries=data.queries, corpus=data.corpus.to_dict(), relevant_docs=relevant_docs, name=IR_NAME,
        mrr_at_k=[10], ndcg_at_k=[10], accuracy_at_k=[10], precision_recall_at_k=[10, 100], map_at_k=[100],
        batch_size=EVAL_BATCH_SIZE, main_score_function="cosine", write_csv=False)
    similarity = EmbeddingSimilarityEvaluator(
        data.similarity_pairs["query"].tolist(), data.similarity_pairs["product"].tolist(),
        data.similarity_pairs["score"].tolist(), batch_size=EVAL_BATCH_SIZE, main_similarity="cosine",
        similarity_fn_names=["cosine"], name=PAIRS_NAME, write_csv=False)
    return ValidationEvaluator([retrieval, similarity], main_score_function=lambda scores: scores[0])
