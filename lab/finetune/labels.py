"""`lab finetune --objective labels`: full fine-tune on class labels (Kern AI's label-similarity study).

Training pairs are (anchor, positive) records sharing a label: within each label, records in a
seeded random cycle, each the anchor of one pair and the positive of the next. Batches hold at most
one pair per label (:mod:`.label_sampler`), so MNRL's in-batch negatives always carry other labels.
The model is evaluated during training by top-k same-class precision on the `val` records; the
registered model is compared with the base model on the held-out `test` records.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from .. import __version__
from ..data.labels import LabelledRecords, labelled_records
from ..errors import LabError
from ..evaluation.neighbors import DEFAULT_KS, capped_ks, mean_precision, neighbor_precision
from ..evaluation.neighbor_report import NeighborEvaluation, evaluate_models
from ..progress import ProgressFactory, silent
from ..workspace import atomic_path, read_json, refuse_overwrite, write_json
from .base_models import assert_same_pipeline, pipeline_signature
from .card import write_card
from .config import FinetuneConfig
from .examples import product_texts
from .monitor import TrainingDisplay
from .trainer import (BASELINE_FILE, CHECKPOINTS, SPACE_FACTOR, TRAINING_LOG, disk_errors, ensure_free_space, make_loss,
                      model_dir, prepare_staging, quiet_libraries, run_trainer, trainer_arguments, training_summary,
                      use_bf16)

EVAL_NAME = "val-neighbors"
MAIN_K = 10
EVAL_BATCH_SIZE = 128


@dataclass
class LabelTrainingData:
    """The (anchor, positive) pairs of one run and what they come from."""

    pairs: pd.DataFrame
    """anchor_id, anchor, positive_id, positive, label."""
    column: str
    records: int

    @property
    def classes(self) -> int:
        return int(self.pairs["label"].nunique())

    def summary(self, batch_size: int) -> dict[str, Any]:
        from .label_sampler import effective_batch_size

        return {"objective": "labels", "label_column": self.column, "split": "train", "records": self.records,
                "pairs": len(self.pairs), "classes": self.classes,
                "pairs_per_batch": effective_batch_size(batch_size, self.classes)}

    def to_dataset(self):
        """The trainer's dataset (anchor, positive), in pair order: the batch sampler shuffles."""
        from datasets import Dataset

        return Dataset.from_dict({"anchor": self.pairs["anchor"].tolist(), "positive": self.pairs["positive"].tolist()})


def label_pairs(records: LabelledRecords, seed: int) -> pd.DataFrame:
    """One pair per record of a label with at least two records: the record and its successor in a
    seeded random cycle over the label's records (anchor_id, anchor, positive_id, positive, label)."""
    rng = np.random.default_rng(seed)
    rows = []
    for label in sorted(set(records.labels)):
        members = np.flatnonzero(records.labels == label)
        if len(members) < 2:
            continue
        cycle = members[rng.permutation(len(members))]
        for anchor, positive in zip(cycle, np.roll(cycle, -1)):
            rows.append((records.product_ids[anchor], records.texts[anchor], records.product_ids[positive],
                         records.texts[positive], label))
    return pd.DataFrame(rows, columns=["anchor_id", "anchor", "positive_id", "positive", "label"])


def build_label_data(records: LabelledRecords, seed: int) -> LabelTrainingData:
    """The training pairs of ``records``; LabError unless two labels have two records each."""
    pairs = label_pairs(records, seed)
    if pairs["label"].nunique() < 2:
        raise LabError(f"label column '{records.column}': {len(records):,} training records leave "
                       f"{pairs['label'].nunique()} label(s) with two or more records; at least 2 are needed "
                       "(pairs share a label, in-batch negatives come from other labels)")
    return LabelTrainingData(pairs=pairs, column=records.column, records=len(records))


def load_label_records(lab: Any, config: FinetuneConfig) -> LabelledRecords:
    """The current dataset's products labelled by ``config.label_column``, with the text the model reads."""
    dataset = lab.dataset
    return labelled_records(dataset.products, config.label_column,
                            product_texts(dataset.products, config.text_fields), dataset.name)


def encode_with(model: Any) -> Callable[[list[str]], np.ndarray]:
    """Texts → vectors of an in-memory SentenceTransformer (fp32)."""
    return lambda texts: model.encode(texts, batch_size=EVAL_BATCH_SIZE, convert_to_numpy=True,
                                      show_progress_bar=False)


def main_k(records: LabelledRecords) -> int:
    """The evaluator's main k: 10, or fewer where the median class has fewer other records to find."""
    others = int(np.median(list(records.class_counts().values()))) - 1
    return max(1, min(MAIN_K, others, len(records) - 1))


def make_neighbor_evaluator(records: LabelledRecords, ks: Sequence[int] = DEFAULT_KS):
    """A sentence-transformers evaluator: precision@k among ``records`` (main score: :func:`main_k`)."""
    from sentence_transformers.base.evaluation import BaseEvaluator

    capped = capped_ks(ks, len(records))
    main = main_k(records)

    class NeighborEvaluator(BaseEvaluator):
        def __init__(self) -> None:
            super().__init__()
            self.name = EVAL_NAME
            self.primary_metric = f"{EVAL_NAME}_precision@{main}"

        def __call__(self, model, output_path=None, epoch=-1, steps=-1) -> dict[str, float]:
            frame = neighbor_precision(encode_with(model)(records.texts.tolist()), records.labels,
                                       sorted({*capped, main}))
            metrics = self.prefix_name_to_metrics(mean_precision(frame), self.name)
            self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
            return metrics

    return NeighborEvaluator()


@dataclass
class LabelRun:
    """A finished training run on labels: the best model (in memory) and how it got there."""

    config: FinetuneConfig
    model: Any
    trainer: Any
    staging: Path
    data: LabelTrainingData
    val_records: int
    baseline: dict[str, float]
    metric: str
    seconds: float
    resumed_from: Path | None
    bf16: bool


def train_on_labels(lab: Any, config: FinetuneConfig, train: LabelledRecords, val: LabelledRecords,
                    display: TrainingDisplay | None = None, restart: bool = False) -> LabelRun:
    """Train ``config.base`` on ``train``'s label pairs in ``models/.<config.name>.training`` (resumable),
    evaluated on ``val``; the staging directory is left for the caller to register or discard."""
    from ..embeddings.models import load_sentence_transformer, resolve_model_dir
    from .label_sampler import batch_sizes, label_grouped_sampler

    quiet_libraries()
    data = build_label_data(train, config.seed)
    base_dir = resolve_model_dir(config.base, lab.workspace)
    fingerprints = {"dataset": lab.dataset.fingerprint(), "base_model": lab.encoder(config.base).fingerprint,
                    "train_records": hashlib.sha256("\n".join(sorted(train.product_ids)).encode()).hexdigest()[:16]}
    staging, checkpoint = prepare_staging(lab.workspace, config, fingerprints, restart)
    ensure_free_space(staging, SPACE_FACTOR * sum(f.stat().st_size for f in base_dir.rglob("*") if f.is_file()))
    bf16 = use_bf16(config)
    evaluator = make_neighbor_evaluator(val)
    metric = f"eval_{evaluator.primary_metric}"
    started = time.perf_counter()
    with disk_errors(staging):
        model = load_sentence_transformer(base_dir)
        model.max_seq_length = config.max_seq_length
        baseline_path = staging / BASELINE_FILE
        if not baseline_path.is_file():
            write_json(baseline_path, {f"eval_{k}": v for k, v in evaluator(model).items()})
        baseline = read_json(baseline_path)
        per_epoch = len(batch_sizes(data.pairs["label"].value_counts().tolist(), config.batch_size))
        args = trainer_arguments(config, staging / CHECKPOINTS, per_epoch, bf16, metric,
                                 label_grouped_sampler(data.pairs["label"]))
        trainer = run_trainer(model, args, data.to_dataset(), make_loss(config, model), evaluator, config,
                              display, checkpoint, staging, metric)
    return LabelRun(config=config, model=model, trainer=trainer, staging=staging, data=data, val_records=len(val),
                    baseline=baseline, metric=metric, seconds=time.perf_counter() - started,
                    resumed_from=checkpoint, bf16=bf16)


def label_model_card(lab: Any, run: LabelRun, base_dir: Path) -> dict[str, Any]:
    """The card of a model trained on labels (same layout as the pairs objective's card)."""
    from .trainer import best_evaluation

    config, dataset = run.config, lab.dataset
    best = best_evaluation(run.trainer.state, run.metric)
    names = [k for k in run.baseline if k in best]
    return {
        "name": config.name,
        "created": datetime.now(timezone.utc).isoformat(),
        "lab_version": __version__,
        "objective": "labels",
        "base_model": {"key": config.base, "path": str(base_dir), "fingerprint": lab.encoder(config.base).fingerprint},
        "dataset": dataset.run_record(),
        "pipeline": pipeline_signature(base_dir),
        "data": {"train": run.data.summary(config.batch_size),
                 "eval": {"split": "val", "records": run.val_records, "label_column": config.label_column}},
        "config": config.to_dict(),
        "training": training_summary(run.trainer.state, run.metric, run.seconds, run.bf16, run.resumed_from),
        "metrics": {"evaluator": {"base": {k: run.baseline[k] for k in names},
                                  "finetuned": {k: float(best[k]) for k in names}}},
    }


def register_label_model(lab: Any, run: LabelRun) -> Path:
    """Save the run's model with its card as ``models/<name>`` (atomically) and drop the staging directory."""
    from ..embeddings.models import resolve_model_dir

    base_dir = resolve_model_dir(run.config.base, lab.workspace)
    target = model_dir(lab.workspace, run.config.name)
    with disk_errors(run.staging):
        final = run.staging / "model"
        shutil.rmtree(final, ignore_errors=True)
        run.model.save(str(final))
        shutil.copyfile(run.staging / TRAINING_LOG, final / TRAINING_LOG)
        assert_same_pipeline(base_dir, final)
        write_card(final, label_model_card(lab, run, base_dir))
        if target.exists():
            shutil.rmtree(target)
        with atomic_path(target) as registered:
            final.rename(registered)
    lab.forget_encoder(run.config.name)  # a replaced model of this name may be loaded already
    shutil.rmtree(run.staging, ignore_errors=True)
    return target


@dataclass
class LabelFinetuneResult:
    """A registered model trained on labels, and base vs fine-tuned precision on the test records."""

    name: str
    path: Path
    card: dict[str, Any]
    evaluation: NeighborEvaluation


def refuse_existing(lab: Any, config: FinetuneConfig, overwrite: bool) -> None:
    refuse_overwrite(model_dir(lab.workspace, config.name), f"model '{config.name}'", overwrite)


def finetune_labels(lab: Any, config: FinetuneConfig, display: TrainingDisplay | None = None,
                    progress: ProgressFactory | None = None, overwrite: bool = False, restart: bool = False,
                    ks: Sequence[int] = DEFAULT_KS, pool: str = "split") -> LabelFinetuneResult:
    """Fine-tune on ``config.label_column``'s train records, register ``models/<name>``, and evaluate base vs
    fine-tuned on the test records."""
    from .card import load_card

    refuse_existing(lab, config, overwrite)
    records = load_label_records(lab, config)
    run = train_on_labels(lab, config, records.split("train"), records.split("val"), display, restart)
    path = register_label_model(lab, run)
    evaluation = evaluate_models(lab, [config.base, config.name], records, "test", pool, ks, progress or silent())
    return LabelFinetuneResult(config.name, path, load_card(path), evaluation)
