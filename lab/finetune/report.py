"""The before/after report of a fine-tune: val metrics, similarity per relevance label, training
curves, the pairs that moved most. Saved as ``report/report.json`` + PNG plots in the model directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import LabError
from ..progress import ProgressFactory, silent
from ..workspace import read_json, write_json
from ..embeddings.vectors import normalise
from .retrieval import dense_metrics, dense_ranking
from .validation import PRIMARY_METRIC, SPEARMAN_METRIC, ValidationData

REPORT_DIR = "report"
REPORT_JSON = "report.json"
PLOTS = {"metrics": "metrics_before_after.png", "similarity": "similarity_by_label.png",
         "curves": "training_curves.png"}
RANKING_DEPTH = 100
TOP_PAIRS = 10
RANDOM_LABEL = "random"


def report_dir(model_path: Path) -> Path:
    return model_path / REPORT_DIR


def encode_normalised(lab: Any, encoder: Any, texts: list[str], label: str, progress: ProgressFactory) -> dict[str, np.ndarray]:
    from ..embeddings import encode_cached

    unique = list(dict.fromkeys(texts))
    with progress(label, len(unique)) as advance:
        matrix = normalise(encode_cached(encoder, unique, lab.embedding_cache, progress=advance))
    return dict(zip(unique, matrix))


def _pair_similarity(vectors: dict[str, np.ndarray], queries: list[str], products: list[str]) -> np.ndarray:
    if not queries:
        return np.empty(0, dtype=np.float32)
    return np.einsum("ij,ij->i", np.stack([vectors[q] for q in queries]), np.stack([vectors[p] for p in products]))


def labelled_pairs(validation: ValidationData) -> pd.DataFrame:
    """Every judged val pair plus the evaluator's random pairs (label ``random``)."""
    judged = validation.judged[["query", "product", "relevance"]].rename(columns={"relevance": "label"})
    judged = judged.assign(label=judged["label"].astype(str))
    random_pairs = validation.similarity_pairs[validation.similarity_pairs["score"] == 0.0]
    random_pairs = pd.DataFrame({"query": random_pairs["query"], "product": random_pairs["product"],
                                 "label": RANDOM_LABEL})
    return pd.concat([judged, random_pairs], ignore_index=True)


def movers(pairs: pd.DataFrame, min_label: int, n: int = TOP_PAIRS) -> dict[str, list[dict[str, Any]]]:
    """The judged pairs whose similarity moved most the right way (relevant up, irrelevant down) and
    the wrong way."""
    judged = pairs[pairs["label"] != RANDOM_LABEL].copy()
    label = judged["label"].astype(int)
    direction = np.where(label >= min_label, 1.0, np.where(label == 0, -1.0, 0.0))
    judged["gain"] = (judged["finetuned"] - judged["base"]) * direction
    judged = judged[direction != 0]
    columns = ["query", "product", "label", "base", "finetuned", "gain"]
    improved = judged.nlargest(n, "gain")[columns]
    deteriorated = judged.nsmallest(n, "gain")[columns]
    as_records = lambda frame: [{k: (round(float(v), 4) if isinstance(v, (float, np.floating)) else v)
                                 for k, v in row.items()} for row in frame.to_dict("records")]
    return {"improved": as_records(improved), "deteriorated": as_records(deteriorated)}


def training_curves(log_history: list[dict[str, Any]], baseline: dict[str, float]) -> dict[str, list[dict[str, float]]]:
    """Loss per logged step; val nDCG@10 and Spearman per evaluation, step 0 being the base model."""
    loss = [{"step": h["step"], "loss": float(h["loss"])} for h in log_history if "loss" in h]
    evals = [{"step": 0, "ndcg@10": baseline.get(PRIMARY_METRIC), "spearman": baseline.get(SPEARMAN_METRIC)}]
    evals += [{"step": h["step"], "ndcg@10": h.get(PRIMARY_METRIC), "spearman": h.get(SPEARMAN_METRIC)}
              for h in log_history if PRIMARY_METRIC in h]
    return {"loss": loss, "eval": evals}


def build_report(lab: Any, model_path: Path, card: dict[str, Any], validation: ValidationData,
                 log_history: list[dict[str, Any]], baseline: dict[str, float],
                 progress: ProgressFactory | None = None) -> dict[str, Any]:
    """Compare the base model and the fine-tuned model at ``model_path`` on the val split; write the
    report (JSON + plots) into ``model_path/report``."""
    from ..embeddings import load_encoder

    progress = progress or silent()
    encoders = {"base": lab.encoder(card["base_model"]["key"]), "finetuned": load_encoder(str(model_path), lab.workspace)}
    pairs = labelled_pairs(validation)
    query_ids, query_texts = list(validation.queries), list(validation.queries.values())
    catalogue = validation.corpus
    metrics: dict[str, dict[str, float]] = {}
    per_query: dict[str, pd.Series] = {}
    for role, encoder in encoders.items():
        texts = catalogue.tolist() + query_texts + pairs["query"].tolist() + pairs["product"].tolist()
        vectors = encode_normalised(lab, encoder, texts, f"Encoding val split and catalogue ({role})", progress)
        corpus = np.stack([vectors[t] for t in catalogue.tolist()])
        queries = np.stack([vectors[t] for t in query_texts])
        ranking = dense_ranking(query_ids, queries, catalogue.index.tolist(), corpus, RANKING_DEPTH)
        metrics[role], frame = dense_metrics(validation.qrels, ranking)
        per_query[role] = frame["ndcg@10"]
        pairs[role] = _pair_similarity(vectors, pairs["query"].tolist(), pairs["product"].tolist())
    report = {
        "name": card["name"], "base_model": card["base_model"]["key"], "dataset": card["dataset"]["name"],
        "split": validation.split, "queries": len(query_ids), "test_query_overlap": card["data"]["train"]["test_query_overlap"],
        "metrics": {"base": metrics["base"], "finetuned": metrics["finetuned"]},
        "queries_improved": int((per_query["finetuned"] > per_query["base"]).sum()),
        "queries_worse": int((per_query["finetuned"] < per_query["base"]).sum()),
        "similarity": {label: {"base": group["base"].round(5).tolist(), "finetuned": group["finetuned"].round(5).tolist()}
                       for label, group in pairs.groupby("label", sort=True)},
        "curves": training_curves(log_history, baseline),
        "pairs": movers(pairs, card["config"]["min_label"]),
        "plots": dict(PLOTS),
        "encoder_namespace": encoders["finetuned"].cache_namespace,
    }
    write_report(report_dir(model_path), report)
    return report


def write_report(directory: Path, report: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    write_json(directory / REPORT_JSON, report)
    draw_plots(directory, report)


def load_report(model_path: Path) -> dict[str, Any]:
    path = report_dir(model_path) / REPORT_JSON
    if not path.is_file():
        raise LabError(f"no report at {path}: the model was not made by `lab finetune`")
    return read_json(path)


def draw_plots(directory: Path, report: dict[str, Any], only_missing: bool = False) -> list[Path]:
    """The report's PNG plots (each redrawn unless ``only_missing`` and present); their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drawers = {"metrics": _plot_metrics, "similarity": _plot_similarity, "curves": _plot_curves}
    paths = []
    for key, drawer in drawers.items():
        path = directory / PLOTS[key]
        if not (only_missing and path.is_file()):
            figure = drawer(plt, report)
            figure.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})
            plt.close(figure)
        paths.append(path)
    return paths


def _plot_metrics(plt, report):
    base, tuned = report["metrics"]["base"], report["metrics"]["finetuned"]
    names = [m for m in base if not m.startswith("judged@")]
    figure, axis = plt.subplots(figsize=(8, 4))
    x = np.arange(len(names))
    axis.bar(x - 0.2, [base[m] for m in names], 0.4, label=f"base ({report['base_model']})")
    axis.bar(x + 0.2, [tuned[m] for m in names], 0.4, label=f"fine-tuned ({report['name']})")
    axis.set_xticks(x, names)
    axis.set_title(f"{report['dataset']} · {report['split']} · {report['queries']} queries · exact cosine search")
    axis.legend()
    return figure


def _label_order(labels):
    return sorted(labels, key=lambda label: (label != RANDOM_LABEL, int(label) if label.isdigit() else -1))


def _plot_similarity(plt, report):
    labels = _label_order(report["similarity"])
    figure, axis = plt.subplots(figsize=(8, 4.5))
    data, positions, colours = [], [], []
    for i, label in enumerate(labels):
        for j, role in enumerate(("base", "finetuned")):
            data.append(report["similarity"][label][role])
            positions.append(i * 3 + j)
            colours.append("tab:blue" if role == "base" else "tab:orange")
    boxes = axis.boxplot(data, positions=positions, widths=0.8, patch_artist=True, showfliers=False)
    for patch, colour in zip(boxes["boxes"], colours):
        patch.set_facecolor(colour)
    axis.set_xticks([i * 3 + 0.5 for i in range(len(labels))],
                    [f"{label}\n(n={len(report['similarity'][label]['base'])})" for label in labels])
    axis.set_xlabel("relevance label (random = unjudged random pairs)")
    axis.set_ylabel("cosine similarity")
    axis.legend([boxes["boxes"][0], boxes["boxes"][1]], ["base", "fine-tuned"])
    axis.set_title("query–product similarity by relevance label")
    return figure


def _plot_curves(plt, report):
    curves = report["curves"]
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    if curves["loss"]:
        left.plot([p["step"] for p in curves["loss"]], [p["loss"] for p in curves["loss"]])
    left.set_xlabel("step")
    left.set_ylabel("training loss")
    left.set_title("loss")
    for key, label in (("ndcg@10", "val nDCG@10"), ("spearman", "val Spearman (pos vs random)")):
        points = [p for p in curves["eval"] if p.get(key) is not None]
        right.plot([p["step"] for p in points], [p[key] for p in points], marker="o", label=label)
    right.set_xlabel("step (0 = base model)")
    right.set_title("evaluation on val")
    right.legend()
    return figure


def similarity_summary(report: dict[str, Any]) -> pd.DataFrame:
    """Per label: pairs, and median similarity under each model."""
    rows = []
    for label in _label_order(report["similarity"]):
        values = report["similarity"][label]
        rows.append({"label": label, "pairs": len(values["base"]),
                     "base median": float(np.median(values["base"])) if values["base"] else float("nan"),
                     "fine-tuned median": float(np.median(values["finetuned"])) if values["finetuned"] else float("nan")})
    return pd.DataFrame(rows)
