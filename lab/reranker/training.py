"""``lab finetune --objective cross-encoder``: a sentence-transformers CrossEncoder initialised from the base
model's weights (its classification head new, seeded), trained with pointwise binary cross-entropy on the graded
judgments of the `train` split (label / top grade: 0, 0.5, 1 on Home Depot's 0..2) plus, per training query, up to
``negatives_per_query`` products from BM25's (or the base model's) top ``mine_top_k`` that nobody judged for it
(label 0) — or, with a ``teacher``, on the same pairs labelled by an LTR model (lab.reranker.distill) —, in
batches of pairs of similar length; or (``rank_loss`` listnet) listwise, a batch of queries with all their pairs, the
model's softmax over each query's pairs brought to the targets' (the teacher's raw scores, else the grades). Every
evaluation reranks the `val` queries' top ``rerank_window`` hits of the first-stage strategy and scores nDCG@10 as
the leaderboard does; the best checkpoint by it is kept, training stops early, never reads a `test` query, resumes
after an interruption and is registered as ``rerankers/<name>`` only when complete."""

from __future__ import annotations

import io
import math
import shutil
import time
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import __version__
from ..errors import DataError, LabError
from ..evaluation.metrics import DEFAULT_METRICS, evaluate_ranking, mean_metrics
from ..finetune.batches import LengthGroupedSampler
from ..finetune.config import FinetuneConfig
from ..finetune.examples import judged_pairs, product_texts, refuse_test_queries
from ..finetune.mining import miner_for
from ..finetune.trainer import (CHECKPOINTS, SPACE_FACTOR, TRAINING_LOG, disk_errors, ensure_free_space,
                                prepare_staging, quiet_libraries, run_trainer, trainer_arguments, training_summary,
                                use_bf16)
from ..progress import ProgressFactory, silent
from ..workspace import atomic_path, read_json, refuse_overwrite, write_json
from .distill import teacher_labels
from .quantized import Int8CrossEncoder, int8_graph
from .scorer import load_cross_encoder, predict, token_lengths
from .store import CARD_JSON, CARD_MD, files_fingerprint, reranker_dir

EVAL_NAME = "val_rerank"
PRIMARY_METRIC = f"eval_{EVAL_NAME}_ndcg@10"
EVAL_BATCH_SIZE = 64
RANK_LOSS_DESCRIPTIONS = {
    "pointwise": "binary cross-entropy on each pair's label",
    "listnet": "ListNet: cross-entropy between the softmax of the model's scores and the softmax of the {target} "
               "over each query's pairs",
}
PRECISION_TOLERANCE = 0.002
"""int8 (ONNX Runtime) or else bf16 inference is used where it moves the val rerank nDCG@10 of the trained model by
at most this; fp32 otherwise."""


@dataclass
class RerankValidation:
    """The val queries as each evaluation sees them: the first stage's top ``window`` and the judgments."""

    split: str
    first_stage: str
    window: int
    queries: dict[str, str]
    """query id → text, in evaluation order."""
    candidates: dict[str, list[str]]
    """query id → the first stage's top ``window`` product ids."""
    qrels: dict[str, dict[str, int]]
    texts: pd.Series
    """product id → the text the reranker reads."""

    def pairs(self) -> tuple[list[str], list[str]]:
        queries = [self.queries[q] for q, ids in self.candidates.items() for _ in ids]
        texts = [self.texts.get(p, "") for ids in self.candidates.values() for p in ids]
        return queries, texts


def rerank_metrics(scores: np.ndarray, validation: RerankValidation) -> dict[str, float]:
    """The leaderboard's mean metrics of the candidates reordered by ``scores`` (one per candidate, in
    ``validation.pairs()`` order; equal scores keep the first-stage order)."""
    ranking, offset = {}, 0
    for qid, ids in validation.candidates.items():
        own = scores[offset:offset + len(ids)]
        offset += len(ids)
        ranking[qid] = [ids[i] for i in np.argsort(-own, kind="stable")]
    return mean_metrics(evaluate_ranking(validation.qrels, ranking, DEFAULT_METRICS))


def first_stage_metrics(validation: RerankValidation) -> dict[str, float]:
    """The same metrics of the first stage's own order."""
    return mean_metrics(evaluate_ranking(validation.qrels, validation.candidates, DEFAULT_METRICS))


def model_metrics(model: Any, validation: RerankValidation, bf16: bool) -> dict[str, float]:
    """The metrics of ``model`` reranking the val candidates."""
    queries, texts = validation.pairs()
    return rerank_metrics(predict(model, queries, texts, EVAL_BATCH_SIZE, bf16), validation)


def build_validation(lab: Any, config: FinetuneConfig, texts: pd.Series,
                     progress: ProgressFactory) -> RerankValidation:
    """The first stage's top ``config.rerank_window`` for the judged queries of ``config.eval_split`` (a seeded
    sample of ``config.max_eval_queries`` when set)."""
    from ..runner import execute_strategy
    from ..templates import template_named

    template = template_named(lab.templates(), config.first_stage)
    if template.rerank is not None or (template.pipeline or {}).get("response_processors"):
        raise LabError(f"--first-stage {config.first_stage}: the first stage must not rerank itself (it has a "
                       "rerank stage); name the strategy it reranks")
    outcome = execute_strategy(lab, template, config.eval_split, size=config.rerank_window, progress=progress)
    ranking = outcome.ranking
    candidates = {qid: group["product_id"].tolist() for qid, group in ranking.groupby("query_id", sort=False)}
    qrels_all = lab.dataset.qrels_dict(config.eval_split)
    ids = [qid for qid in candidates if qid in qrels_all]
    if config.max_eval_queries and len(ids) > config.max_eval_queries:
        rng = np.random.default_rng(config.seed)
        ids = [ids[i] for i in sorted(rng.choice(len(ids), config.max_eval_queries, replace=False))]
    if not ids:
        raise DataError(f"split '{config.eval_split}' of dataset '{lab.dataset.name}' has no judged query with "
                        f"{config.first_stage} hits: validation needs some")
    queries = lab.dataset.queries_for(config.eval_split)
    text_of = dict(zip(queries["query_id"].astype(str), queries["query_text"].astype(str)))
    return RerankValidation(config.eval_split, config.first_stage, config.rerank_window,
                            {qid: text_of[qid] for qid in ids}, {qid: candidates[qid] for qid in ids},
                            {qid: qrels_all[qid] for qid in ids}, texts)


def training_pairs(lab: Any, config: FinetuneConfig, texts: pd.Series,
                   progress: ProgressFactory) -> tuple[pd.DataFrame, dict[str, Any]]:
    """query_id, query, product_id, product, label, target: every judged pair of the training split (label = grade /
    top grade, target = grade) and, with ``negatives`` unjudged, mined unjudged products (label and target 0) — with
    a ``teacher``, label and target are its scaled and raw scores —; and the card's summary."""
    dataset = lab.dataset
    judged = judged_pairs(dataset, config.train_split, texts)
    if judged.empty:
        raise DataError(f"split '{config.train_split}' of dataset '{dataset.name}' has no judged queries with "
                        "product text: nothing to train the cross-encoder on")
    overlap = refuse_test_queries(dataset, judged)
    top = max(1, int(dataset.qrels["relevance"].max()))
    pairs = judged.assign(label=judged["relevance"] / top)
    mined = pd.DataFrame(columns=pairs.columns)
    if config.negatives == "unjudged":
        queries = judged.drop_duplicates("query_id")
        found = miner_for(lab, config, texts, progress)(queries["query"].tolist())
        seen = set(zip(judged["query_id"], judged["product_id"]))
        rows = []
        for qid, query, candidates in zip(queries["query_id"], queries["query"], found):
            fresh = [p for p in candidates if (qid, p) not in seen and p in texts.index]
            rows += [(qid, query, p, texts[p], -1, 0.0) for p in fresh[:config.negatives_per_query]]
        mined = pd.DataFrame(rows, columns=["query_id", "query", "product_id", "product", "relevance", "label"])
    pairs = pd.concat([pairs, mined], ignore_index=True)
    pairs = pairs.assign(target=pairs["relevance"].clip(lower=0).astype(float))
    teacher = None
    if config.teacher:
        taught = teacher_labels(lab, config.teacher, pairs, progress)
        pairs, teacher = pairs.assign(label=taught.scaled, target=taught.scores), taught.record
    if len(pairs) < config.batch_size:
        raise DataError(f"{len(pairs)} training pairs is fewer than one batch (--batch-size {config.batch_size}): "
                        "lower --batch-size")
    grades = judged["relevance"].value_counts().sort_index()
    summary = {"split": config.train_split, "queries": int(judged["query_id"].nunique()), "pairs": len(pairs),
               "judged_pairs": len(judged), "judged_by_grade": {str(k): int(v) for k, v in grades.items()},
               "mined_negatives": len(mined), "negatives": config.negatives,
               "mined_from": config.mine_from if config.negatives == "unjudged" else None,
               "mine_top_k": config.mine_top_k, "test_query_overlap": overlap,
               "label": f"LTR model '{config.teacher}' score, min-max within the query" if teacher else f"grade / {top}",
               "loss": RANK_LOSS_DESCRIPTIONS[config.rank_loss].format(
                   target=f"LTR model '{config.teacher}' raw scores" if teacher else "grades (unjudged: 0)"),
               "teacher": teacher}
    return pairs, summary


def training_data(model: Any, pairs: pd.DataFrame, config: FinetuneConfig) -> tuple[Any, Any, Any]:
    """The trainer's dataset, loss and batch sampler for ``config.rank_loss``: pairs in batches of similar length
    (pointwise), or one row per query holding all its pairs (listnet)."""
    from datasets import Dataset
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss, ListNetLoss

    if config.rank_loss == "listnet":
        groups = pairs.groupby("query_id", sort=False)
        train = Dataset.from_dict({"query": groups["query"].first().tolist(),
                                   "docs": groups["product"].agg(list).tolist(),
                                   "labels": groups["target"].agg(lambda t: t.astype(float).tolist()).tolist()})
        return (train.shuffle(seed=config.seed), ListNetLoss(model, mini_batch_size=EVAL_BATCH_SIZE),
                BatchSamplers.BATCH_SAMPLER)
    train = Dataset.from_dict({"query": pairs["query"].tolist(), "product": pairs["product"].tolist(),
                               "label": pairs["label"].astype(float).tolist()}).shuffle(seed=config.seed)
    batches = LengthGroupedSampler(token_lengths(model, list(train["query"]), list(train["product"])))
    return train, BinaryCrossEntropyLoss(model), batches


def make_evaluator(validation: RerankValidation, bf16: bool) -> Any:
    """A sentence-transformers evaluator: the val rerank metrics of the model being trained."""
    from sentence_transformers.base.evaluation.evaluator import BaseEvaluator

    class RerankEvaluator(BaseEvaluator):
        def __init__(self) -> None:
            super().__init__()
            self.name, self.primary_metric = EVAL_NAME, "ndcg@10"

        def __call__(self, model: Any, output_path: str | None = None, epoch: int = -1,
                     steps: int = -1) -> dict[str, float]:
            return self.prefix_name_to_metrics(model_metrics(model, validation, bf16), self.name)

    return RerankEvaluator()


@dataclass
class RerankerResult:
    """A registered reranker."""

    name: str
    path: Path
    card: dict[str, Any]


def check_layers(base_dir: Path, layers: int | None, base: str) -> None:
    """LabError when ``--layers`` asks for more transformer layers than the base model has."""
    if layers is None:
        return
    config = read_json(base_dir / "config.json")
    have = config.get("num_hidden_layers")
    if have is None or layers > have:
        raise LabError(f"--layers {layers}: the base model '{base}' has {have or 'no count of'} transformer layers")


def keep_first_layers(model: Any, layers: int) -> None:
    """Cut ``model``'s transformer to its first ``layers`` layers; the config saved with it says so."""
    backbone = model.model.base_model
    backbone.encoder.layer = backbone.encoder.layer[:layers]
    model.model.config.num_hidden_layers = layers


def train_reranker(lab: Any, config: FinetuneConfig, display: Any = None, progress: ProgressFactory | None = None,
                   overwrite: bool = False, restart: bool = False) -> RerankerResult:
    """Train a cross-encoder from ``config.base`` on the current dataset and register it as
    ``rerankers/<config.name>`` (see the module's docstring)."""
    import torch
    from sentence_transformers.cross_encoder import CrossEncoder, CrossEncoderTrainer, CrossEncoderTrainingArguments

    from ..embeddings.models import model_files_digest, resolve_model_dir
    from ..embeddings.precision import cpu_has_native_bf16

    quiet_libraries()
    progress = progress or silent()
    workspace = lab.workspace
    target = reranker_dir(workspace, config.name)
    refuse_overwrite(target, f"cross-encoder '{config.name}'", overwrite)
    base_dir = resolve_model_dir(config.base, workspace)
    check_layers(base_dir, config.layers, config.base)
    dataset = lab.dataset
    texts = product_texts(dataset.products, config.text_fields)
    pairs, summary = training_pairs(lab, config, texts, progress)
    validation = build_validation(lab, config, texts, progress)
    fingerprints = {"dataset": dataset.fingerprint(), "base_model": model_files_digest(base_dir)}
    staging, checkpoint = prepare_staging(workspace, config, fingerprints, restart,
                                          staging=target.with_name(f".{config.name}.training"))
    ensure_free_space(staging, SPACE_FACTOR * sum(f.stat().st_size for f in base_dir.rglob("*") if f.is_file()))
    bf16 = use_bf16(config)
    started = time.perf_counter()
    with disk_errors(staging):
        torch.manual_seed(config.seed)  # the new classification head
        with redirect_stderr(io.StringIO()), redirect_stdout(io.StringIO()):
            model = CrossEncoder(str(base_dir), num_labels=1, max_length=config.max_seq_length, device="cpu",
                                 local_files_only=True)
        if config.layers is not None:
            keep_first_layers(model, config.layers)
        train, loss, batches = training_data(model, pairs, config)
        args = trainer_arguments(config, staging / CHECKPOINTS, math.ceil(len(train) / config.batch_size), bf16,
                                 PRIMARY_METRIC, batches, CrossEncoderTrainingArguments)
        trainer = run_trainer(model, args, train, loss, make_evaluator(validation, bf16),
                              config, display, checkpoint, staging, PRIMARY_METRIC, CrossEncoderTrainer)
        seconds = time.perf_counter() - started
        final = staging / "model"
        shutil.rmtree(final, ignore_errors=True)
        with redirect_stderr(io.StringIO()), redirect_stdout(io.StringIO()):
            model.save(str(final))
        saved = load_cross_encoder(final)  # the trained model's forward stays under the trainer's bf16 autocast
        fingerprint = files_fingerprint(final)
        reranked = model_metrics(saved, validation, bf16=False)
        reranked_bf16 = model_metrics(saved, validation, bf16=True) if cpu_has_native_bf16() else None
        int8 = int8_graph(workspace, config.name, final, fingerprint, config.max_seq_length)
        reranked_int8 = model_metrics(Int8CrossEncoder(int8, final, config.max_seq_length), validation, bf16=False)
        deltas = {name: None if metrics is None else metrics["ndcg@10"] - reranked["ndcg@10"]
                  for name, metrics in (("int8", reranked_int8), ("bf16", reranked_bf16))}
        precision = next((name for name, delta in deltas.items()
                          if delta is not None and abs(delta) <= PRECISION_TOLERANCE), "fp32")
        shutil.copyfile(staging / TRAINING_LOG, final / TRAINING_LOG)
        card = {
            "name": config.name, "objective": "cross-encoder", "created": datetime.now(timezone.utc).isoformat(),
            "lab_version": __version__,
            "base_model": {"key": config.base, "path": str(base_dir), "fingerprint": fingerprints["base_model"]},
            "dataset": dataset.run_record(),
            "data": {"train": summary,
                     "eval": {"split": validation.split, "first_stage": validation.first_stage,
                              "window": validation.window, "queries": len(validation.queries),
                              "pairs": sum(len(c) for c in validation.candidates.values())}},
            "config": config.to_dict(),
            "training": training_summary(trainer.state, PRIMARY_METRIC, seconds, bf16, checkpoint),
            "metrics": {"split": validation.split, "first_stage": first_stage_metrics(validation),
                        "reranked": reranked, "reranked_bf16": reranked_bf16, "reranked_int8": reranked_int8},
            "inference": {"precision": precision, "bf16": precision == "bf16",
                          "bf16_ndcg@10_delta": deltas["bf16"], "int8_ndcg@10_delta": deltas["int8"],
                          "tolerance": PRECISION_TOLERANCE},
            "fingerprint": fingerprint,
        }
        write_json(final / CARD_JSON, card)
        (final / CARD_MD).write_text(render_card(card), encoding="utf-8")
        with atomic_path(target) as registered:
            final.rename(registered)
    shutil.rmtree(staging, ignore_errors=True)
    return RerankerResult(config.name, target, card)


def render_card(card: dict[str, Any]) -> str:
    """The card as a short human-readable model card."""
    import json

    metrics, training = card["metrics"], card["training"]
    processor = {"rerank": {"ml_opensearch": {"model_id": card["name"]},
                            "context": {"document_fields": card["config"]["text_fields"]}}}
    lines = [f"# {card['name']}", "",
             f"A cross-encoder reranker trained from `{card['base_model']['key']}` on the graded judgments of dataset "
             f"`{card['dataset']['name']}` by relevance-lab {card['lab_version']} on {card['created']}. Use it in a "
             f"template's search pipeline: `\"response_processors\": [{json.dumps(processor)}]`.", "",
             "## Training", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in {**card["data"]["train"], **training}.items()]
    lines += ["", f"## Reranking the top {card['data']['eval']['window']} of `{card['data']['eval']['first_stage']}` "
              f"on `{metrics['split']}` ({card['data']['eval']['queries']} queries)", "",
              "| metric | first stage | reranked |", "|---|---:|---:|"]
    lines += [f"| {m} | {metrics['first_stage'][m]:.4f} | {metrics['reranked'][m]:.4f} |" for m in metrics["reranked"]]
    return "\n".join(lines) + "\n"
