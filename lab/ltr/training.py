"""`lab ltr train`: LambdaMART (XGBoost ``rank:ndcg``) on the ``train`` rows of a feature log, early stopping on
``val``; never a ``test`` query. The model (XGBoost JSON, which the OpenSearch LTR plugin's ``xgboost+json``
parser reads once dumped, see export.py) and its card go to ``ltr/<dataset>/models/<name>/``."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..context import Lab
from ..errors import LabError
from ..evaluation.metrics import evaluate_ranking, mean_metrics
from ..workspace import atomic_path, read_json, refuse_overwrite, write_json
from .features import FeatureSet, load_feature_set
from .store import FeatureLog, ltr_dir
from .values import model_fingerprints

MODEL_FILE = "model.json"
CARD_FILE = "card.json"
UNJUDGED = ("zero", "drop")
"""How unjudged candidates train: as label 0, or left out (validation always counts them as 0, as runs do)."""
DEFAULT_PARAMS: dict[str, Any] = {"objective": "rank:ndcg", "eval_metric": "ndcg@10", "eta": 0.05, "max_depth": 6,
                                  "min_child_weight": 1.0, "subsample": 0.8, "colsample_bytree": 0.8,
                                  "tree_method": "hist", "seed": 0}
VAL_METRICS = ("ndcg@10", "mrr@10", "map@10")


@dataclass
class TrainedModel:
    """A stored LTR model: where, its card and the booster."""

    name: str
    path: Path
    card: dict[str, Any]
    booster: Any


def current_feature_set(record: dict[str, Any], what: str) -> FeatureSet:
    """The feature set a log or model recorded, read from its file as it is now; a LabError when the file is
    gone or changed since."""
    path = Path(record["path"])
    if not path.is_file():
        raise LabError(f"{path}: the feature set of {what} is gone: restore it, or log and train again")
    feature_set = load_feature_set(path)
    if feature_set.sha256 != record["sha256"]:
        raise LabError(f"{path} changed since {what} was made (sha256 {record['sha256'][:12]} then, "
                       f"{feature_set.sha256[:12]} now): run `lab ltr log --overwrite` and `lab ltr train` again")
    return feature_set


def check_models(lab: Lab, feature_set: FeatureSet, recorded: dict[str, str] | None, what: str) -> dict[str, str]:
    """The fingerprints of the models ``feature_set`` reads now; a LabError naming the first that differs from
    ``recorded`` (what ``what`` was made with; None: made before models were recorded, nothing to compare)."""
    current = model_fingerprints(lab, feature_set)
    for key, then in (recorded or {}).items():
        now = current.get(key)
        if now != then:
            kind, model = key.split(":", 1)
            noun = "cross-encoder" if kind == "cross_encoder" else "model"
            raise LabError(f"{what} was made with another version of {noun} '{model}' (fingerprint {then[:12]} "
                           f"then, {str(now)[:12]} now): run `lab ltr log --overwrite` and `lab ltr train` again")
    return current


def training_frame(log: FeatureLog, split: str, unjudged: str) -> pd.DataFrame:
    """The log's rows of ``split`` sorted by query and rank, label 0 for unjudged candidates (``zero``) or
    without them (``drop``)."""
    if unjudged not in UNJUDGED:
        raise LabError(f"--unjudged {unjudged!r}: expected one of {', '.join(UNJUDGED)}")
    frame = log.table[log.table["split"] == split]
    if unjudged == "drop":
        frame = frame[frame["judged"]]
    frame = frame.sort_values(["query_id", "rank"], kind="stable").reset_index(drop=True)
    if frame.empty:
        raise LabError(f"feature log '{log.name}' has no {split} rows"
                       f"{' with a judgment' if unjudged == 'drop' else ''}: log the {split} split "
                       f"(`lab ltr log --split {split}`)")
    return frame.assign(label=frame["label"].fillna(0.0))


def _matrix(frame: pd.DataFrame, names: list[str]) -> Any:
    import xgboost as xgb

    matrix = xgb.DMatrix(frame[names].to_numpy(np.float32), label=frame["label"].to_numpy(), feature_names=names)
    matrix.set_group(frame.groupby("query_id", sort=False).size().to_numpy())
    return matrix


def rerank_order(frame: pd.DataFrame, scores: np.ndarray) -> dict[str, list[str]]:
    """Each query's candidates by descending ``scores`` (ties keep the first stage's order)."""
    ordered = frame.assign(_score=scores).sort_values(["query_id", "_score", "rank"], ascending=[True, False, True],
                                                      kind="stable")
    return {qid: group["product_id"].tolist() for qid, group in ordered.groupby("query_id", sort=False)}


def train_model(lab: Lab, log: FeatureLog, name: str, unjudged: str = "zero", rounds: int = 1000,
                early_stopping: int = 50, params: dict[str, Any] | None = None, overwrite: bool = False) -> TrainedModel:
    """Train LambdaMART on ``log``'s train rows, stop early on its val rows (never test), score the reranked val
    candidates against the full val judgments and store model ``name`` with its card."""
    import xgboost as xgb

    target = ltr_dir(lab, "models", name, option="--name")
    refuse_overwrite(target, f"LTR model '{name}'", overwrite)
    dataset = lab.dataset
    if log.manifest["dataset"] != dataset.run_record(judgments=True):
        raise LabError(f"feature log '{log.name}' was made from another version of dataset '{dataset.name}' or "
                       "its judgments: run `lab ltr log --overwrite` again")
    feature_set = current_feature_set(log.manifest["feature_set"], f"feature log '{log.name}'")
    models = check_models(lab, feature_set, log.manifest.get("model_fingerprints"), f"feature log '{log.name}'")
    names = feature_set.names
    train = training_frame(log, "train", unjudged)
    val = training_frame(log, "val", "zero")
    dataset.assert_no_test_leakage(pd.concat([train["query_id"], val["query_id"]]).unique())
    settings = {**DEFAULT_PARAMS, **(params or {})}
    curve: dict[str, dict[str, list[float]]] = {}
    started = time.perf_counter()
    booster = xgb.train(settings, _matrix(train, names), num_boost_round=rounds,
                        evals=[(_matrix(train, names), "train"), (_matrix(val, names), "val")],
                        early_stopping_rounds=early_stopping, evals_result=curve, verbose_eval=False)
    seconds = time.perf_counter() - started
    best = int(booster.best_iteration)
    booster = booster[: best + 1]
    qrels = dataset.qrels_dict("val")
    first = {qid: g["product_id"].tolist() for qid, g in val.groupby("query_id", sort=False)}
    reranked = rerank_order(val, booster.predict(_matrix(val, names)))
    before = mean_metrics(evaluate_ranking(qrels, _with_unlogged(first, qrels), list(VAL_METRICS)))
    after = mean_metrics(evaluate_ranking(qrels, _with_unlogged(reranked, qrels), list(VAL_METRICS)))
    gain = booster.get_score(importance_type="gain")
    card = {"name": name, "kind": "xgboost rank:ndcg (LambdaMART)", "created": datetime.now(timezone.utc).isoformat(),
            "feature_set": feature_set.record(), "model_fingerprints": models, "log": log.name,
            "first_stage": log.manifest["first_stage"],
            "depth": log.manifest["depth"], "dataset": dataset.run_record(judgments=True), "unjudged": unjudged,
            "params": settings, "rounds": rounds, "early_stopping_rounds": early_stopping, "best_iteration": best,
            "trees": best + 1, "train": {"queries": int(train["query_id"].nunique()), "rows": len(train)},
            "val": {"queries": int(val["query_id"].nunique()), "rows": len(val), "first_stage": before,
                    "reranked": after},
            "val_curve": [round(v, 5) for v in curve["val"]["ndcg@10"]],
            "feature_importance_gain": {n: round(float(gain.get(n, 0.0)), 4) for n in names},
            "test_query_overlap": 0, "train_seconds": round(seconds, 2)}
    with atomic_path(target) as staged:
        staged.mkdir()
        booster.save_model(str(staged / MODEL_FILE))
        card["fingerprint"] = hashlib.sha256((staged / MODEL_FILE).read_bytes()).hexdigest()[:16]
        write_json(staged / CARD_FILE, card)
    return TrainedModel(name, target, card, booster)


def _with_unlogged(ranking: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> dict[str, list[str]]:
    """Every judged query in the ranking, those without candidates with none (they score 0, as in a run)."""
    return {qid: ranking.get(qid, []) for qid in qrels}


def load_model(lab: Lab, name: str) -> TrainedModel:
    """The stored LTR model ``name`` of the current dataset; a LabError saying how to train it when missing."""
    import xgboost as xgb

    path = ltr_dir(lab, "models", name, option="LTR model")
    if not (path / CARD_FILE).is_file():
        raise LabError(f"no LTR model '{name}' for dataset '{lab.current_dataset_name}' at {path}: "
                       f"run `lab ltr train --name {name}` first")
    booster = xgb.Booster()
    booster.load_model(str(path / MODEL_FILE))
    return TrainedModel(name, path, read_json(path / CARD_FILE), booster)


def predict(model: TrainedModel, values: np.ndarray) -> np.ndarray:
    """The model's scores for rows of feature values (columns in the card's feature order)."""
    import xgboost as xgb

    return model.booster.predict(xgb.DMatrix(values, feature_names=model.card["feature_set"]["features"]))
