"""Run a strategy template over a query split, score it with ranx and store the run."""

from __future__ import annotations

import hashlib
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

from . import __version__
from .context import REPO_ROOT, Lab
from .errors import LabError
from .evaluation import DEFAULT_METRICS, evaluate_ranking, mean_metrics
from .adapters import document_model
from .indexer import indexed_models
from .model_costs import model_costs
from .progress import ProgressFactory, silent
from .results import StoredRun, save_run
from .templates import Template

RUN_DEPTH = 100
"""Hits retrieved per query: enough for ndcg@100 and recall@100."""


def git_sha() -> str | None:
    """The lab's git commit, when it runs from a checkout."""
    try:
        out = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def check_models(lab: Lab, template: Template, models: list[str]) -> None:
    """Every model the template needs exists and the index holds the current version of its document
    vectors (for a query-side adapter ``base+adapter:name``: the base model's; the index is never touched)."""
    available = indexed_models(lab)
    for key in models:
        lab.encoder(key)  # a missing fine-tuned model or adapter says how to make it
        model = document_model(key)
        fingerprint = lab.encoder(model).fingerprint
        if model not in available:
            raise LabError(f"strategy '{template.name}' needs model '{model}' in the index: "
                           f"run `lab index --model {model}`")
        if available[model] != fingerprint:
            raise LabError(f"the index holds vectors of an older version of model '{model}': "
                           f"run `lab index --model {model}` to re-encode them")


def query_vectors(lab: Lab, model: str, texts: list[str], progress: ProgressFactory) -> np.ndarray:
    from .embeddings import encode_cached

    with progress(f"Encoding queries ({model})", len(set(texts))) as advance:
        unique = list(dict.fromkeys(texts))
        vectors = encode_cached(lab.encoder(model), unique, lab.embedding_cache, progress=advance)
    row = {t: i for i, t in enumerate(unique)}
    return vectors[[row[t] for t in texts]]


def render_bodies(template: Template, params: dict[str, Any], texts: list[str],
                  vectors: np.ndarray | None, size: int) -> tuple[list[dict], dict | None]:
    """One search body per query, and the (query-independent) search pipeline."""
    bodies, pipeline = [], None
    for i, text in enumerate(texts):
        values = {**params, "query_text": text, "size": size}
        if vectors is not None:
            values["query_vector"] = vectors[i].tolist()
        body, pipeline = template.render(values)
        bodies.append(body)
    return bodies, pipeline


def judged_queries(dataset: Any, split: str) -> tuple[pd.DataFrame, dict[str, dict[str, int]]]:
    """The split's queries that have judgments, and those judgments; LabError when there are none."""
    qrels = dataset.qrels_dict(split)
    queries = dataset.queries_for(split)
    queries = queries[queries["query_id"].isin(qrels.keys())]
    if queries.empty:
        raise LabError(f"split '{split}' of dataset '{dataset.name}' has no judged queries")
    return queries, qrels


@dataclass
class RunOutcome:
    """A finished, scored run that is not stored yet."""

    manifest: dict[str, Any]
    ranking: pd.DataFrame
    per_query: pd.DataFrame


def execute_strategy(lab: Lab, template: Template, split: str = "test",
                     overrides: dict[str, Any] | None = None, size: int = RUN_DEPTH,
                     progress: ProgressFactory | None = None) -> RunOutcome:
    """Execute ``template`` for every judged query of ``split`` and score it (nothing is stored)."""
    progress = progress or silent()
    params = template.resolve_params(overrides)
    dataset = lab.dataset
    queries, qrels = judged_queries(dataset, split)
    models = template.models(params)
    check_models(lab, template, models)
    started = time.perf_counter()
    texts = queries["query_text"].tolist()
    vectors = query_vectors(lab, models[0], texts, progress) if models else None
    bodies, pipeline = render_bodies(template, params, texts, vectors, size)
    search_start = time.perf_counter()
    with progress(f"Searching {template.name}", len(bodies)) as advance:
        results = lab.backend.search_batch(lab.index_name, bodies, pipeline, strategy=template.name,
                                           progress=advance)
    search_seconds = time.perf_counter() - search_start
    ids = queries["query_id"].tolist()
    rows = [(qid, rank, hit.doc_id, hit.score)
            for qid, result in zip(ids, results) for rank, hit in enumerate(result.hits, start=1)]
    ranking = pd.DataFrame(rows, columns=["query_id", "rank", "product_id", "score"])
    ranking = ranking.astype({"query_id": object, "product_id": object})
    per_query = evaluate_ranking(qrels, {qid: [h.doc_id for h in r.hits] for qid, r in zip(ids, results)},
                                 DEFAULT_METRICS)
    seconds = time.perf_counter() - started
    created = datetime.now(timezone.utc)
    manifest = {
        "run_id": f"{template.name}-{created:%Y%m%dT%H%M%S%f}-{_params_hash(params)}",
        "strategy": template.name,
        "created": created.isoformat(),
        "split": split,
        "n_queries": len(ids),
        "template": template.manifest_entry(params),
        "dataset": {"name": dataset.name, "fingerprint": dataset.fingerprint(),
                    "qrels_fingerprint": dataset.qrels_fingerprint()},
        "models": {m: lab.encoder(m).fingerprint for m in models},
        "model_costs": model_costs(lab, models),
        "backend": lab.backend.describe(),
        "lab": {"version": __version__, "git_sha": git_sha()},
        "size": size,
        "seconds": round(seconds, 3),
        "search_seconds": round(search_seconds, 3),
        "queries_per_second": round(len(ids) / search_seconds, 1) if search_seconds > 0 else None,
        "metrics": mean_metrics(per_query),
    }
    return RunOutcome(manifest, ranking, per_query)


def run_strategy(lab: Lab, template: Template, split: str = "test",
                 overrides: dict[str, Any] | None = None, size: int = RUN_DEPTH,
                 progress: ProgressFactory | None = None) -> StoredRun:
    """Execute ``template`` over ``split``, score it and store the run with its manifest."""
    outcome = execute_strategy(lab, template, split, overrides, size, progress)
    return save_run(lab.workspace, lab.dataset.name, outcome.manifest, outcome.ranking, outcome.per_query)


def _params_hash(params: dict[str, Any]) -> str:
    return hashlib.sha1(repr(sorted(params.items())).encode()).hexdigest()[:8]
