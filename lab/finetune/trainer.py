"""The fine-tuning run: base model → ``<workspace>/models/<name>``, resumable, registered atomically.

Training happens in ``<workspace>/models/.<name>.training`` (checkpoints, the baseline
evaluation); only a finished, checked model with its card and report is renamed to
``models/<name>``, so a half-written model is never visible to ``load_encoder``.
"""

from __future__ import annotations

import errno
import io
import math
import os
import shutil
import time
from contextlib import contextmanager, redirect_stderr
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from .. import __version__
from ..errors import LabError
from ..progress import ProgressFactory, silent
from ..workspace import atomic_path, read_json, refuse_overwrite, workspace_path, write_json
from ..embeddings.models import resolve_model_dir
from .base_models import assert_same_pipeline, pipeline_signature
from .batches import LengthGroupedSampler
from .card import write_card
from .config import FinetuneConfig
from .examples import TrainingData, build_training_data, product_texts
from .mining import miner_for
from .monitor import DisplayCallback, Displays, FinalEvaluationCallback, LineLog, TrainingDisplay
from .report import REPORT_JSON, report_dir
from .triplets import add_triplet_evaluator, before_after
from .validation import PRIMARY_METRIC, ValidationData, build_validation_data, during_training, make_evaluator

RUN_FILE = "run.json"
BASELINE_FILE = "baseline.json"
CHECKPOINTS = "checkpoints"
TRAINING_LOG = "training.log"
"""Plain-text training log (steps, loss, evaluations, time left), kept in the model directory."""
SPACE_FACTOR = 8
"""Free space needed, in base-model sizes: two checkpoints (weights + optimizer state) and the model."""


@dataclass
class FinetuneResult:
    """A registered fine-tuned model."""

    name: str
    path: Path
    card: dict[str, Any]
    report: dict[str, Any]


def staging_dir(workspace: Path, name: str) -> Path:
    return model_dir(workspace, name).with_name(f".{name}.training")


def model_dir(workspace: Path, name: str) -> Path:
    return workspace_path(workspace, "models", name, option="model name")


def quiet_libraries() -> None:
    """No Hub access, no third-party progress bars or log chatter on the terminal."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    import datasets
    import transformers

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def use_bf16(config: FinetuneConfig) -> bool:
    """bf16 autocast: as configured, else where the CPU computes bf16 natively."""
    if config.bf16 is not None:
        return config.bf16
    from ..embeddings.precision import cpu_has_native_bf16

    return cpu_has_native_bf16()


def ensure_free_space(path: Path, needed: int) -> None:
    """Refuse to start when the disk holding ``path`` has less than ``needed`` bytes free."""
    path.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(path).free
    if free < needed:
        raise LabError(f"not enough disk space in {path}: {free / 2**30:.2f} GiB free, fine-tuning needs about "
                       f"{needed / 2**30:.2f} GiB (checkpoints and the model); free some space and rerun")


def _directory_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc)
    return "No space left on device" in text or "file write failed" in text


@contextmanager
def disk_errors(where: Path) -> Iterator[None]:
    """Turn a full disk during training or saving into one clear message."""
    try:
        yield
    except (OSError, RuntimeError) as exc:
        if _is_disk_full(exc):
            raise LabError(f"disk full while writing under {where}: free some space and rerun the same command "
                           "(training resumes from the last complete checkpoint)") from exc
        raise


def last_checkpoint(checkpoints: Path) -> Path | None:
    """The newest complete checkpoint (its trainer state is written last)."""
    complete = [p for p in checkpoints.glob("checkpoint-*")
                if p.name.split("-")[-1].isdigit() and (p / "trainer_state.json").is_file()
                and any(p.glob("*.safetensors"))]
    return max(complete, key=lambda p: int(p.name.split("-")[-1]), default=None)


def prepare_staging(workspace: Path, config: FinetuneConfig, fingerprints: dict[str, str],
                    restart: bool, staging: Path | None = None) -> tuple[Path, Path | None]:
    """The staging directory of this run (default: ``models/.<name>.training``) and the checkpoint to resume
    from (None: a fresh start).

    An interrupted run with the same settings, data and base model is resumed; one with other
    settings is refused unless ``restart`` discards it.
    """
    staging = staging or staging_dir(workspace, config.name)
    identity = {"run_hash": config.run_hash(), **fingerprints}
    if staging.exists() and restart:
        shutil.rmtree(staging)
    if staging.exists():
        previous = read_json(staging / RUN_FILE) if (staging / RUN_FILE).is_file() else {}
        if previous.get("identity") != identity:
            raise LabError(f"an interrupted fine-tuning run of '{config.name}' with other settings, data or base "
                           f"model is in {staging}: rerun it with the same options to resume, or pass --restart "
                           "to discard it")
        return staging, last_checkpoint(staging / CHECKPOINTS)
    staging.mkdir(parents=True)
    write_json(staging / RUN_FILE, {"identity": identity, "config": config.to_dict(),
                                    "started": datetime.now(timezone.utc).isoformat()})
    return staging, None


def training_arguments(config: FinetuneConfig, output_dir: Path, datasets: Any, bf16: bool):
    """The arguments of a run on judged pairs (``datasets``: the trainer's, by name): batches of rows of similar
    length with no text twice (in-batch negatives), evaluations spaced on the batches the sampler makes, the best
    model by val nDCG@10."""
    sampler = LengthGroupedSampler(distinct=True)
    per_epoch = sum(len(sampler(part, batch_size=config.batch_size, drop_last=False, valid_label_columns=None,
                                generator=None, seed=config.seed)) for part in datasets.values())
    return trainer_arguments(config, output_dir, per_epoch, bf16, selection_metric(config), sampler)


def selection_metric(config: FinetuneConfig) -> str:
    """What picks the best checkpoint and stops early: val triplet accuracy for the triplets objective
    (the job-matching study's measure), else val nDCG@10 against the catalogue."""
    from .triplets import TRIPLET_METRIC

    return TRIPLET_METRIC if config.objective == "triplets" else PRIMARY_METRIC


def trainer_arguments(config: FinetuneConfig, output_dir: Path, per_epoch: int, bf16: bool, metric: str,
                      batch_sampler: Any, arguments_class: Any = None):
    """Trainer arguments for ``per_epoch`` batches an epoch: evaluations (and checkpoints) evenly spaced, the
    last at the end of training (FinalEvaluationCallback), the best model by ``metric`` loaded at the end.
    ``arguments_class``: SentenceTransformerTrainingArguments unless given (CrossEncoderTrainingArguments)."""
    from sentence_transformers import SentenceTransformerTrainingArguments

    total = config.max_steps if config.max_steps > 0 else max(1, math.ceil(per_epoch * config.epochs))
    evals = max(1, math.ceil(total / per_epoch * config.evals_per_epoch))
    eval_steps = min(config.eval_steps or math.ceil(total / evals), total)
    return (arguments_class or SentenceTransformerTrainingArguments)(
        output_dir=str(output_dir), num_train_epochs=config.epochs, max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size, per_device_eval_batch_size=config.batch_size,
        learning_rate=config.learning_rate, warmup_steps=config.warmup_ratio, bf16=bf16, use_cpu=True,
        seed=config.seed, data_seed=config.seed, batch_sampler=batch_sampler,
        eval_strategy="steps", eval_steps=eval_steps, save_strategy="steps", save_steps=eval_steps,
        save_total_limit=2, load_best_model_at_end=True, metric_for_best_model=metric,
        greater_is_better=True, logging_steps=max(1, min(10, eval_steps)), report_to="none",
        disable_tqdm=True, dataloader_num_workers=0, save_only_model=False)


def make_loss(config: FinetuneConfig, model):
    from sentence_transformers.sentence_transformer import losses

    if config.loss == "cached-mnrl":
        return losses.CachedMultipleNegativesRankingLoss(model, mini_batch_size=config.mini_batch_size)
    return losses.MultipleNegativesRankingLoss(model)


def _baseline(lab: Any, staging: Path, evaluator, model, base_encoder, progress: ProgressFactory) -> dict[str, float]:
    """The evaluator's scores for the untrained base model (kept in staging across a resume); its
    catalogue vectors come from the embedding cache (usually filled by `lab index`)."""
    import torch

    from ..embeddings import encode_cached

    path = staging / BASELINE_FILE
    if path.is_file():
        return read_json(path)
    retrieval = evaluator.evaluators[0]
    with progress(f"Encoding catalogue ({base_encoder.key})", len(retrieval.corpus)) as advance:
        vectors = encode_cached(base_encoder, retrieval.corpus, lab.embedding_cache, progress=advance)
    retrieval.corpus_vectors = torch.from_numpy(vectors)
    try:
        scores = {f"eval_{k}": float(v) for k, v in evaluator(model).items()}
    finally:
        retrieval.corpus_vectors = None
    write_json(path, scores)
    return scores


def _train(trainer, checkpoint: Path | None, staging: Path) -> None:
    try:
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    except KeyboardInterrupt:
        done = last_checkpoint(staging / CHECKPOINTS)
        where = f"from {done.name}" if done else "from the start (no checkpoint yet)"
        raise LabError(f"fine-tuning interrupted at step {trainer.state.global_step}; nothing was registered. "
                       f"Rerun the same command to resume {where}") from None


def run_trainer(model: Any, args: Any, train_dataset: Any, loss: Any, evaluator: Any, config: FinetuneConfig,
                display: TrainingDisplay | None, checkpoint: Path | None, staging: Path,
                metric: str = PRIMARY_METRIC, trainer_class: Any = None) -> Any:
    """Train ``model`` (resuming from ``checkpoint``) with early stopping on the evaluator, feeding ``display``
    the loss and ``metric``; returns the trainer, its best model loaded. ``trainer_class``:
    SentenceTransformerTrainer unless given (CrossEncoderTrainer)."""
    from sentence_transformers import SentenceTransformerTrainer
    from transformers import EarlyStoppingCallback
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    with redirect_stderr(io.StringIO()):  # the model card's "Computing widget examples" bar
        trainer = (trainer_class or SentenceTransformerTrainer)(
            model=model, args=args, train_dataset=train_dataset, loss=loss, evaluator=evaluator,
            callbacks=[EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience),
                       FinalEvaluationCallback()])
    for noisy in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(noisy)
    with (staging / TRAINING_LOG).open("a", encoding="utf-8") as log:  # kept with the model; a resume appends
        shown = Displays(LineLog(log, f"training {config.name}", metric), *([display] if display else []))
        trainer.add_callback(DisplayCallback(shown, metric))
        try:
            _train(trainer, checkpoint, staging)
        finally:
            shown.stop()
    return trainer


def finetune(lab: Any, config: FinetuneConfig, display: TrainingDisplay | None = None,
             progress: ProgressFactory | None = None, overwrite: bool = False,
             restart: bool = False) -> FinetuneResult:
    """Fine-tune ``config.base`` on the current dataset and register it as ``models/<config.name>``."""
    from ..embeddings.models import load_sentence_transformer
    from .report import build_report

    quiet_libraries()
    progress = progress or silent()
    workspace = lab.workspace
    target = model_dir(workspace, config.name)
    refuse_overwrite(target, f"model '{config.name}'", overwrite)
    base_dir = resolve_model_dir(config.base, workspace)
    dataset = lab.dataset
    texts = product_texts(dataset.products, config.text_fields)
    data = build_training_data(dataset, config, texts, miner_for(lab, config, texts, progress))
    validation = build_validation_data(dataset, config, texts)
    base_encoder = lab.encoder(config.base)
    fingerprints = {"dataset": dataset.fingerprint(), "base_model": base_encoder.fingerprint}
    staging, checkpoint = prepare_staging(workspace, config, fingerprints, restart)
    ensure_free_space(staging, SPACE_FACTOR * _directory_bytes(base_dir))
    bf16 = use_bf16(config)
    started = time.perf_counter()
    with disk_errors(staging):
        model = load_sentence_transformer(base_dir)
        model.max_seq_length = config.max_seq_length
        evaluated = during_training(validation, config)
        evaluator = make_evaluator(evaluated, bf16)
        if config.objective == "triplets":
            add_triplet_evaluator(evaluator, dataset, config)
        baseline = _baseline(lab, staging, evaluator, model, base_encoder, progress)
        datasets = data.to_datasets(config.seed)
        trainer = run_trainer(model, training_arguments(config, staging / CHECKPOINTS, datasets, bf16),
                              datasets, make_loss(config, model), evaluator, config,
                              display, checkpoint, staging, selection_metric(config))
        seconds = time.perf_counter() - started
        final = staging / "model"
        shutil.rmtree(final, ignore_errors=True)
        model.save(str(final))
        shutil.copyfile(staging / TRAINING_LOG, final / TRAINING_LOG)
        assert_same_pipeline(base_dir, final)
        card = model_card(config, dataset, base_encoder, data, validation, trainer, baseline, bf16, seconds,
                          checkpoint, base_dir, len(evaluated.corpus))
        triplets = before_after(lab, config.base, final, dataset, progress) if config.objective == "triplets" else None
        report = build_report(lab, final, card, validation, trainer.state.log_history, baseline, progress)
        card["metrics"]["leaderboard"] = report["metrics"]
        encoded = validation.corpus.tolist()
        if triplets is not None:  # test-split triplet accuracy before/after, its texts filed with the catalogue's
            encoded += triplets.pop("texts")
            card["metrics"]["triplets"] = report["triplets"] = triplets
            write_json(report_dir(final) / REPORT_JSON, report)
        write_card(final, card)
        refile_cached_vectors(lab, final, report["encoder_namespace"], encoded)
        with atomic_path(target) as registered:
            final.rename(registered)
    lab.forget_encoder(config.name)  # a replaced model of this name may be loaded already
    shutil.rmtree(staging, ignore_errors=True)
    return FinetuneResult(config.name, target, card, report)


def refile_cached_vectors(lab: Any, model_path: Path, namespace: str, texts: list[str]) -> None:
    """File the catalogue vectors the report encoded under the fingerprint the registered model has
    (its card and report are among the fingerprinted files), so `lab index --model NAME` reads
    them from the cache instead of encoding the catalogue again."""
    from ..embeddings import load_encoder
    from ..embeddings.cache import text_key

    registered = load_encoder(str(model_path), lab.workspace)
    if registered.cache_namespace == namespace:
        return
    keys = [text_key(text) for text in dict.fromkeys(texts)]
    positions, vectors = lab.embedding_cache.lookup(namespace, keys, registered.dimension)
    lab.embedding_cache.store(registered.cache_namespace, [keys[i] for i in positions], vectors)


def model_card(config: FinetuneConfig, dataset: Any, base_encoder: Any, data: TrainingData,
               validation: ValidationData, trainer: Any, baseline: dict[str, float], bf16: bool,
               seconds: float, resumed_from: Path | None, base_dir: Path,
               evaluated_products: int) -> dict[str, Any]:
    """Everything the card records: data, splits, hyper-parameters, training, metrics, hashes;
    ``evaluated_products``: the catalogue the evaluators searched during training."""
    best = best_evaluation(trainer.state, selection_metric(config))
    metric_names = [k for k in baseline if k.startswith("eval_") and k in best]
    return {
        "name": config.name,
        "created": datetime.now(timezone.utc).isoformat(),
        "lab_version": __version__,
        "base_model": {"key": config.base, "path": str(base_dir), "fingerprint": base_encoder.fingerprint},
        "dataset": dataset.run_record(),
        "pipeline": pipeline_signature(base_dir),
        "data": {"train": data.summary(),
                 "eval": {"split": validation.split, "queries": len(validation.queries),
                          "judged_pairs": len(validation.judged), "catalogue_products": len(validation.corpus),
                          "products_searched_during_training": evaluated_products,
                          "similarity_pairs": len(validation.similarity_pairs)}},
        "config": config.to_dict(),
        "training": training_summary(trainer.state, selection_metric(config), seconds, bf16, resumed_from),
        "metrics": {"evaluator": {"base": {k: baseline[k] for k in metric_names},
                                  "finetuned": {k: float(best[k]) for k in metric_names}}},
    }


def best_evaluation(state: Any, metric: str) -> dict[str, Any]:
    """The logged evaluation of the best checkpoint (else the one best by ``metric``; {} without any)."""
    evals = [h for h in state.log_history if metric in h]
    best = next((h for h in evals if h.get("step") == _checkpoint_step(state.best_model_checkpoint)), None)
    return best or (max(evals, key=lambda h: h[metric]) if evals else {})


def training_summary(state: Any, metric: str, seconds: float, bf16: bool, resumed_from: Path | None) -> dict[str, Any]:
    """The card's account of training: steps, the best step by ``metric``, early stop, time, precision."""
    import torch

    return {"steps": state.global_step, "max_steps": state.max_steps, "epochs": round(state.epoch or 0, 4),
            "best_step": best_evaluation(state, metric).get("step"), "best_metric": state.best_metric,
            "primary_metric": metric, "stopped_early": state.global_step < state.max_steps,
            "seconds": round(seconds, 1), "bf16": bf16, "torch_threads": torch.get_num_threads(),
            "resumed_from": resumed_from.name if resumed_from else None}


def _checkpoint_step(path: str | None) -> int | None:
    if not path:
        return None
    tail = path.rstrip("/").rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else None

