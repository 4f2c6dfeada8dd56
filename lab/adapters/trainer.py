"""Training an adapter: base-model vectors from the embedding cache, MNRL with in-batch negatives on the
judged positives of the train split, early stopping on val nDCG@10, the best epoch saved atomically."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from .. import __version__
from ..errors import DataError, LabError
from ..evaluation.metrics import PRIMARY_METRIC
from ..finetune.examples import TrainingData, build_training_data, product_texts
from ..finetune.mining import miner_for
from ..embeddings.vectors import normalise
from ..finetune.retrieval import dense_metrics, dense_ranking
from ..finetune.validation import ValidationData, build_validation_data
from ..progress import ProgressFactory, silent
from ..workspace import refuse_overwrite
from .batches import no_duplicate_batches
from .config import AdapterConfig
from .encoder import normalises
from .heads import adapt, forward, make_head
from .keys import adapter_key, is_adapter_key
from .store import adapter_dir, save_adapter

RANKING_DEPTH = 100


@dataclass
class AdapterResult:
    """A trained, saved adapter."""

    name: str
    key: str
    path: Path
    card: dict[str, Any]


@dataclass
class TrainingVectors:
    """Base-model vectors of everything training and evaluation read, and the examples as row indices."""

    catalogue: np.ndarray
    """Unit-length vectors of the catalogue texts, one row per product (``product_ids`` order)."""
    product_ids: list[str]
    anchors: np.ndarray
    """One row per training example: its query's vector."""
    positives: np.ndarray
    negatives: np.ndarray
    """Catalogue rows of each example's positive and hard negative (-1: none)."""
    val_ids: list[str]
    val_queries: np.ndarray


def base_vectors(lab: Any, base: Any, texts: pd.Series, data: TrainingData, validation: ValidationData,
                 progress: ProgressFactory) -> TrainingVectors:
    """Everything from the embedding cache (encoded and cached where missing)."""
    from ..embeddings import encode_cached

    def encode(label: str, items: list[str]) -> np.ndarray:
        with progress(f"{label} ({base.key}, from the cache)", len(set(items))) as advance:
            return encode_cached(base, items, lab.embedding_cache, progress=advance)

    catalogue = normalise(encode("Catalogue vectors", texts.tolist()))
    row = {pid: i for i, pid in enumerate(texts.index)}
    examples = data.examples
    anchors = encode("Training query vectors", examples["anchor"].tolist())
    val_queries = encode("Val query vectors", list(validation.queries.values()))
    negatives = np.array([row[p] if isinstance(p, str) else -1 for p in examples["negative_id"]], dtype=np.int64)
    return TrainingVectors(catalogue=catalogue, product_ids=texts.index.tolist(), anchors=anchors,
                           positives=np.array([row[p] for p in examples["product_id"]], dtype=np.int64),
                           negatives=negatives, val_ids=list(validation.queries), val_queries=val_queries)


def mnrl_loss(head: torch.nn.Module, anchors: torch.Tensor, candidates: torch.Tensor, scale: float,
              normalise_output: bool) -> torch.Tensor:
    """Cross-entropy over ``scale``·cos(adapter(anchor i), candidate j); candidate i is anchor i's positive,
    every other candidate (the batch's other positives, then its hard negatives) a negative."""
    queries = torch.nn.functional.normalize(forward(head, anchors, normalise_output), dim=1)
    scores = scale * queries @ candidates.T
    return torch.nn.functional.cross_entropy(scores, torch.arange(len(anchors)))


def validation_metrics(head: torch.nn.Module, vectors: TrainingVectors, validation: ValidationData,
                       normalise_output: bool) -> dict[str, float]:
    """Leaderboard metrics of exact cosine search: adapted val queries against the base catalogue vectors."""
    queries = adapt(head, vectors.val_queries, normalise_output)
    ranking = dense_ranking(vectors.val_ids, queries, vectors.product_ids, vectors.catalogue, RANKING_DEPTH)
    return dense_metrics(validation.qrels, ranking)[0]


def _batch_tensors(vectors: TrainingVectors, batch: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    negatives = vectors.negatives[batch]
    rows = np.concatenate([vectors.positives[batch], negatives[negatives >= 0]])
    return torch.from_numpy(vectors.anchors[batch]), torch.from_numpy(vectors.catalogue[rows])


def fit(head: torch.nn.Module, config: AdapterConfig, data: TrainingData, vectors: TrainingVectors,
        validation: ValidationData, normalise_output: bool, progress: ProgressFactory) -> dict[str, Any]:
    """Train ``head`` epoch by epoch, evaluating on val after each; the best epoch's weights are loaded
    back into ``head`` (epoch 0, the identity, when no epoch beats the base model)."""
    examples = data.examples
    keys = (examples["query_id"].tolist(), examples["product_id"].tolist(),
            [p if isinstance(p, str) else None for p in examples["negative_id"]])
    rng = np.random.default_rng(config.seed)
    optimizer = torch.optim.Adam(head.parameters(), lr=config.learning_rate)
    before = validation_metrics(head, vectors, validation, normalise_output)
    first = no_duplicate_batches(*keys, config.batch_size, rng)
    if not first:
        raise DataError(f"no batch of {config.batch_size} training pairs without a repeated query or product: "
                        "lower --batch-size")
    with torch.no_grad():
        initial = float(np.mean([mnrl_loss(head, *_batch_tensors(vectors, b), config.scale, normalise_output).item()
                                 for b in first]))
    history = [{"epoch": 0, "loss": initial, PRIMARY_METRIC: before[PRIMARY_METRIC]}]
    best = {"epoch": 0, "score": before[PRIMARY_METRIC], "state": copy.deepcopy(head.state_dict()), "metrics": before}
    steps, waited, batches = 0, 0, first
    with progress(f"Training {config.kind} adapter '{config.name}' (epochs)", config.epochs) as advance:
        for epoch in range(1, config.epochs + 1):
            if epoch > 1:
                batches = no_duplicate_batches(*keys, config.batch_size, rng)
            head.train()
            losses = []
            for batch in batches:
                optimizer.zero_grad()
                loss = mnrl_loss(head, *_batch_tensors(vectors, batch), config.scale, normalise_output)
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
            head.eval()
            steps += len(batches)
            metrics = validation_metrics(head, vectors, validation, normalise_output)
            history.append({"epoch": epoch, "loss": float(np.mean(losses)), PRIMARY_METRIC: metrics[PRIMARY_METRIC]})
            advance(1)
            if metrics[PRIMARY_METRIC] > best["score"]:
                best = {"epoch": epoch, "score": metrics[PRIMARY_METRIC], "state": copy.deepcopy(head.state_dict()),
                        "metrics": metrics}
                waited = 0
            else:
                waited += 1
                if waited >= config.patience:
                    break
    head.load_state_dict(best["state"])
    return {"before": before, "after": best["metrics"], "best_epoch": best["epoch"], "history": history,
            "epochs_run": history[-1]["epoch"], "stopped_early": history[-1]["epoch"] < config.epochs,
            "steps": steps}


def train_adapter(lab: Any, config: AdapterConfig, progress: ProgressFactory | None = None,
                  overwrite: bool = False) -> AdapterResult:
    """Train an adapter on the current dataset and save it as ``<workspace>/adapters/<config.name>``."""
    progress = progress or silent()
    target = adapter_dir(lab.workspace, config.name)
    refuse_overwrite(target, f"adapter '{config.name}'", overwrite)
    if is_adapter_key(config.base):
        raise LabError(f"--base '{config.base}' is an adapter: train adapters on a model (minilm, a fine-tuned model)")
    dataset = lab.dataset
    data_config = config.data_config()
    texts = product_texts(dataset.products, config.text_fields)
    data = build_training_data(dataset, data_config, texts, miner_for(lab, config, texts, progress))
    validation = build_validation_data(dataset, data_config, texts)
    base = lab.encoder(config.base)
    normalise_output = normalises(base)
    started = time.perf_counter()
    vectors = base_vectors(lab, base, texts, data, validation, progress)
    vectors_seconds = time.perf_counter() - started
    torch.manual_seed(config.seed)
    head = make_head(config.kind, base.dimension, config.hidden)
    started = time.perf_counter()
    outcome = fit(head, config, data, vectors, validation, normalise_output, progress)
    seconds = time.perf_counter() - started
    card = {
        "name": config.name, "kind": config.kind, "key": adapter_key(config.base, config.name),
        "created": datetime.now(timezone.utc).isoformat(), "lab_version": __version__,
        "base_model": {"key": config.base, "fingerprint": base.fingerprint, "dimension": base.dimension,
                       "normalises": normalise_output, "precision": base.precision},
        "dataset": dataset.run_record(),
        "data": {"train": data.summary(),
                 "eval": {"split": validation.split, "queries": len(validation.queries),
                          "catalogue_products": len(vectors.product_ids)}},
        "config": config.to_dict(),
        "training": {"seconds": round(seconds, 2), "vectors_seconds": round(vectors_seconds, 2),
                     "epochs_run": outcome["epochs_run"], "best_epoch": outcome["best_epoch"],
                     "stopped_early": outcome["stopped_early"], "steps": outcome["steps"],
                     "parameters": sum(p.numel() for p in head.parameters()),
                     "torch_threads": torch.get_num_threads(), "history": outcome["history"]},
        "metrics": {"split": validation.split, "before": outcome["before"], "after": outcome["after"]},
        "test_query_overlap": data.test_overlap,
    }
    save_adapter(target, head, card)
    lab.forget_encoder(card["key"])  # a replaced adapter of this name may be loaded already
    return AdapterResult(config.name, card["key"], target, card)
