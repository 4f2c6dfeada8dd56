"""Triplets in evaluation: TripletEvaluator on the val triplets during fine-tuning, and triplet accuracy
of any models on a split (``lab eval triplets``). Training on triplets (``lab finetune --objective
triplets``) reads them in :func:`lab.finetune.examples.triplet_training_data`.

Triplet accuracy is the share of (anchor, positive, negative) triplets whose anchor is more
cosine-similar to the positive than to the negative (sentence-transformers' TripletEvaluator with
margin 0).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd

from ..data.triplets import triplet_texts
from ..embeddings.vectors import normalise
from ..errors import DataError, LabError
from ..progress import ProgressFactory, silent
from .config import FinetuneConfig

if TYPE_CHECKING:
    from sentence_transformers.sentence_transformer.evaluation import SequentialEvaluator

TRIPLETS_NAME = "val-triplets"
TRIPLET_METRIC = f"eval_{TRIPLETS_NAME}_cosine_accuracy"
EVALUATION_SPLIT = "test"


def add_triplet_evaluator(evaluator: SequentialEvaluator, dataset: Any, config: FinetuneConfig) -> SequentialEvaluator:
    """``evaluator`` with a TripletEvaluator on the ``config.eval_split`` triplets appended (its
    main score, val nDCG@10, unchanged); metric ``eval_val-triplets_cosine_accuracy``."""
    from sentence_transformers.sentence_transformer.evaluation import TripletEvaluator

    triplets = triplet_texts(dataset, config.eval_split)
    if triplets.empty:
        raise DataError(f"split '{config.eval_split}' of dataset '{dataset.name}' has no triplets to evaluate on")
    evaluator.evaluators.append(TripletEvaluator(
        triplets["anchor"].tolist(), triplets["positive"].tolist(), triplets["negative"].tolist(),
        similarity_fn_names=["cosine"], name=TRIPLETS_NAME, batch_size=128, write_csv=False))
    return evaluator


def unique_texts(triplets: pd.DataFrame) -> list[str]:
    """The distinct anchor, positive and negative texts of ``triplets``, first seen first."""
    return list(dict.fromkeys(triplets[["anchor", "positive", "negative"]].to_numpy().ravel().tolist()))


def accuracy(anchors: np.ndarray, positives: np.ndarray, negatives: np.ndarray) -> float:
    """Share of rows where cos(anchor, positive) > cos(anchor, negative); NaN without rows."""
    if not len(anchors):
        return float("nan")
    a, p, n = normalise(anchors), normalise(positives), normalise(negatives)
    return float(np.mean(np.einsum("ij,ij->i", a, p) > np.einsum("ij,ij->i", a, n)))


def triplet_accuracy(lab: Any, model: str, split: str = EVALUATION_SPLIT, dataset: Any = None,
                     progress: ProgressFactory | None = None) -> dict[str, Any]:
    """Triplet accuracy (cosine) of ``model`` (a model key, fine-tuned name or path) on the triplets of
    ``split`` of ``dataset`` (default: the lab's current dataset); vectors through the embedding cache."""
    from ..embeddings import encode_cached

    dataset = dataset if dataset is not None else lab.dataset
    triplets = triplet_texts(dataset, split)
    if triplets.empty:
        raise LabError(f"split '{split}' of dataset '{dataset.name}' has no triplets")
    encoder = lab.encoder(model)
    texts = unique_texts(triplets)
    progress = progress or silent()
    with progress(f"Encoding {split} triplets ({Path(model).name})", len(texts)) as advance:
        vectors = encode_cached(encoder, texts, lab.embedding_cache, progress=advance)
    row = {text: i for i, text in enumerate(texts)}
    stack = lambda column: vectors[[row[t] for t in triplets[column]]]
    return {"model": model, "split": split, "triplets": int(len(triplets)),
            "anchors": int(triplets["anchor_id"].nunique()),
            "accuracy": accuracy(stack("anchor"), stack("positive"), stack("negative")),
            "fingerprint": encoder.fingerprint[:12]}


def compare_triplet_accuracy(lab: Any, models: Sequence[str], split: str = EVALUATION_SPLIT,
                             progress: ProgressFactory | None = None) -> pd.DataFrame:
    """One row per model (in the order given): model, split, triplets, anchors, accuracy, fingerprint."""
    if not models:
        raise LabError("name at least one model (--model minilm --model NAME)")
    return pd.DataFrame([triplet_accuracy(lab, model, split, progress=progress) for model in dict.fromkeys(models)])


def before_after(lab: Any, base: str, model_path: Path, dataset: Any,
                 progress: ProgressFactory | None = None) -> dict[str, Any]:
    """Test-split triplet accuracy of the base model and of the model at ``model_path`` (the report's
    ``triplets`` section; NaN when the split has no triplets) and the texts encoded for it."""
    texts = unique_texts(triplet_texts(dataset, EVALUATION_SPLIT))
    if not texts:
        return {"split": EVALUATION_SPLIT, "triplets": 0, "anchors": 0, "base": float("nan"),
                "finetuned": float("nan"), "texts": []}
    base_row = triplet_accuracy(lab, base, EVALUATION_SPLIT, dataset, progress)
    tuned_row = triplet_accuracy(lab, str(model_path), EVALUATION_SPLIT, dataset, progress)
    return {"split": EVALUATION_SPLIT, "triplets": base_row["triplets"], "anchors": base_row["anchors"],
            "base": base_row["accuracy"], "finetuned": tuned_row["accuracy"], "texts": texts}
