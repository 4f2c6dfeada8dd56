"""Choosing a base model: candidates evaluated on the val split before any training."""

from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..progress import ProgressFactory, silent
from .base_models import candidates
from .config import FinetuneConfig
from .examples import IRRELEVANT_LABEL, product_texts
from .report import encode_normalised
from .retrieval import dense_metrics, dense_ranking
from .validation import ValidationData, build_validation_data, sample_catalogue

SPEED_SAMPLE = 256


def val_triplets(validation: ValidationData, min_label: int, seed: int) -> pd.DataFrame:
    """(query, positive, negative) per positive val pair: the negative is a product judged irrelevant
    for the query when there is one, else a random catalogue product not judged for it."""
    judged = validation.judged
    rng = np.random.default_rng(seed)
    irrelevant = judged[judged["relevance"] == IRRELEVANT_LABEL].groupby("query_id")["product"].apply(list).to_dict()
    judged_ids = judged.groupby("query_id")["product_id"].apply(set).to_dict()
    catalogue_ids = validation.corpus.index.to_numpy()
    rows = []
    for qid, query, positive in judged.loc[judged["relevance"] >= min_label, ["query_id", "query", "product"]].itertuples(index=False):
        pool = irrelevant.get(qid)
        if pool:
            negative = pool[int(rng.integers(len(pool)))]
        else:
            pid = catalogue_ids[int(rng.integers(len(catalogue_ids)))]
            while pid in judged_ids.get(qid, ()):
                pid = catalogue_ids[int(rng.integers(len(catalogue_ids)))]
            negative = validation.corpus[pid]
        rows.append((query, positive, negative))
    return pd.DataFrame(rows, columns=["query", "positive", "negative"])


def evaluate_candidate(lab: Any, key: str, validation: ValidationData, triplets: pd.DataFrame,
                       progress: ProgressFactory) -> dict[str, Any]:
    """Leaderboard metrics of exact cosine search on val, triplet accuracy and encoding speed."""
    encoder = lab.encoder(key)
    catalogue = validation.corpus
    query_ids, query_texts = list(validation.queries), list(validation.queries.values())
    texts = catalogue.tolist() + query_texts + triplets.to_numpy().ravel().tolist()
    vectors = encode_normalised(lab, encoder, texts, f"Encoding val split and catalogue ({key})", progress)
    ranking = dense_ranking(query_ids, np.stack([vectors[t] for t in query_texts]), catalogue.index.tolist(),
                            np.stack([vectors[t] for t in catalogue.tolist()]))
    metrics, _ = dense_metrics(validation.qrels, ranking)
    stack = lambda column: np.stack([vectors[t] for t in triplets[column]])
    if len(triplets):
        anchors = stack("query")
        accuracy = float(np.mean(np.einsum("ij,ij->i", anchors, stack("positive"))
                                 > np.einsum("ij,ij->i", anchors, stack("negative"))))
    else:
        accuracy = float("nan")
    sample = catalogue.sample(n=min(SPEED_SAMPLE, len(catalogue)), random_state=0).tolist()
    started = time.perf_counter()
    encoder.encode(sample)
    speed = len(sample) / max(time.perf_counter() - started, 1e-9)
    return {"model": key, **metrics, "triplet_accuracy": accuracy, "triplets": len(triplets),
            "dimension": encoder.dimension, "texts_per_second": round(speed, 1), "precision": encoder.precision,
            "fingerprint": encoder.fingerprint[:12]}


def compare_models(lab: Any, keys: Sequence[str] | None = None, config: FinetuneConfig | None = None,
                   sample: int | None = None, progress: ProgressFactory | None = None) -> pd.DataFrame:
    """One row per candidate base model, best val nDCG@10 first.

    ``sample``: search the val queries' judged products plus this many random others instead of
    the whole catalogue (faster for large models; the same corpus for every candidate).
    """
    config = config or FinetuneConfig()
    progress = progress or silent()
    dataset = lab.dataset
    texts = product_texts(dataset.products, config.text_fields)
    validation = build_validation_data(dataset, config, texts)
    if sample is not None:
        validation.corpus = sample_catalogue(validation, sample, config.seed)
    triplets = val_triplets(validation, config.min_label, config.seed)
    rows = [evaluate_candidate(lab, key, validation, triplets, progress) for key in dict.fromkeys(keys or candidates())]
    table = pd.DataFrame(rows).sort_values("ndcg@10", ascending=False).reset_index(drop=True)
    table.attrs.update({"split": validation.split, "queries": len(validation.queries),
                        "catalogue": len(validation.corpus)})
    return table
