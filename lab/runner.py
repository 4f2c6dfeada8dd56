"""Run a strategy template over a query split, score it with ranx and store the run."""

from __future__ import annotations

import hashlib
import itertools
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

from . import __version__, collector
from .context import REPO_ROOT, Lab
from .backends.base import Progress, SearchResult
from .errors import LabError, QueryError
from .evaluation.metrics import DEFAULT_METRICS, evaluate_ranking, mean_metrics
from .adapters import document_model
from .indexer import indexed_models
from .ltr.rerank import rerank_results
from .reranker.stage import prepare_reranker, split_rerank
from .model_costs import model_costs
from .progress import ProgressFactory, silent
from .results import StoredRun, save_run
from .templates import Template

RUN_DEPTH = 100
"""Hits retrieved per query: enough for ndcg@100 and recall@100."""

MAX_ERROR_CHARS = 300
"""A failed query's error as the manifest keeps it."""


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


def render_queries(lab: Lab, template: Template, params: dict[str, Any], texts: list[str], size: int,
                   progress: ProgressFactory | None = None) -> tuple[list[dict], dict | None]:
    """The template's search bodies for ``texts`` (queries encoded with the template's model, if any) and its
    search pipeline."""
    models = template.models(params)
    vectors = query_vectors(lab, models[0], texts, progress or silent()) if models else None
    return render_bodies(template, params, texts, vectors, size)


def judged_queries(dataset: Any, split: str) -> tuple[pd.DataFrame, dict[str, dict[str, int]]]:
    """The split's queries that have judgments, and those judgments; LabError when there are none."""
    qrels = dataset.qrels_dict(split)
    queries = dataset.queries_for(split)
    queries = queries[queries["query_id"].isin(qrels.keys())]
    if queries.empty:
        raise LabError(f"split '{split}' of dataset '{dataset.name}' has no judged queries")
    return queries, qrels


@dataclass(frozen=True)
class FailedQuery:
    """A query the backend could not run (e.g. more terms than max_clause_count): it scores 0."""

    query_id: str
    error: str


def failure_limit(n_queries: int) -> int:
    """The most failed queries a run records; past it the strategy, not a query, is at fault."""
    return max(3, n_queries // 10)


def search_isolating(lab: Lab, template: Template, bodies: list[dict[str, Any]], pipeline: dict[str, Any] | None,
                     query_ids: list[str], progress: Progress, strict: bool = False,
                     ) -> tuple[list[SearchResult], list[FailedQuery]]:
    """Search every body; when the backend refuses one query (QueryError), find which by halving the
    batch, give those queries no hits and record them, so one query does not sink the run. Too many
    failures (``failure_limit``) re-raise the first error; ``strict`` turns the first failed query
    into a LabError naming it."""
    done = 0

    def advance(k: int) -> None:  # a failed batch may already have counted some queries
        nonlocal done
        k = min(k, len(bodies) - done)
        done += k
        progress(k)

    def search(lo: int, hi: int) -> list[SearchResult]:
        return lab.backend.search_batch(lab.index_name, bodies[lo:hi], pipeline, strategy=template.name,
                                        progress=advance)

    results: list[SearchResult] = [SearchResult([], 0)] * len(bodies)
    failed: dict[int, QueryError] = {}
    limit = failure_limit(len(bodies))

    def isolate(lo: int, hi: int) -> None:
        try:
            results[lo:hi] = search(lo, hi)
        except QueryError as exc:
            if hi - lo > 1:
                mid = (lo + hi) // 2
                isolate(lo, mid)
                isolate(mid, hi)
                return
            failed[lo] = exc
            if strict:
                raise LabError(f"strategy '{template.name}': query '{query_ids[lo]}' failed: {exc} "
                               "(without --strict it is recorded as failed and the run goes on)") from exc
            if len(failed) > limit:
                raise failed[min(failed)]

    isolate(0, len(bodies))
    advance(len(bodies))
    failures = [FailedQuery(query_ids[i], " ".join(str(exc).split())[:MAX_ERROR_CHARS]) for i, exc in sorted(failed.items())]
    return results, failures


def ranking_table(query_ids: list[str], results: list[SearchResult]) -> pd.DataFrame:
    """One row per hit: query_id, rank (from 1), product_id, score."""
    counts = np.array([len(r.hits) for r in results], dtype=np.int64)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return pd.DataFrame({
        "query_id": pd.Series(np.repeat(np.asarray(query_ids, dtype=object), counts), dtype=object),
        "rank": np.arange(counts.sum(), dtype=np.int64) - starts + 1,
        "product_id": pd.Series(list(itertools.chain.from_iterable(r.doc_ids for r in results)), dtype=object),
        "score": np.fromiter(itertools.chain.from_iterable(r.scores for r in results), dtype=np.float64,
                             count=int(counts.sum()))})


@dataclass
class RunOutcome:
    """A finished, scored run that is not stored yet."""

    manifest: dict[str, Any]
    ranking: pd.DataFrame
    per_query: pd.DataFrame


def execute_strategy(lab: Lab, template: Template, split: str = "test",
                     overrides: dict[str, Any] | None = None, size: int = RUN_DEPTH,
                     progress: ProgressFactory | None = None, strict: bool = False) -> RunOutcome:
    """Execute ``template`` for every judged query of ``split`` and score it (nothing is stored). A query
    the backend refuses scores 0 and is listed in the manifest's ``failed_queries``; ``strict`` makes it
    an error."""
    with collector.paused():
        return _execute(lab, template, split, overrides, size, progress, strict)


def _execute(lab: Lab, template: Template, split: str, overrides: dict[str, Any] | None, size: int,
             progress: ProgressFactory | None, strict: bool) -> RunOutcome:
    progress = progress or silent()
    params = template.resolve_params(overrides)
    dataset = lab.dataset
    queries, qrels = judged_queries(dataset, split)
    models = template.models(params)
    check_models(lab, template, models)
    started = time.perf_counter()
    texts, ids = queries["query_text"].tolist(), queries["query_id"].tolist()
    bodies, pipeline = render_queries(lab, template, params, texts, size, progress)
    bodies, pipeline, rerank_request = split_rerank(template, bodies, pipeline)
    reranker = prepare_reranker(lab, template, rerank_request, size) if rerank_request is not None else None
    search_start = time.perf_counter()
    with progress(f"Searching {template.name}", len(bodies)) as advance:
        results, failures = search_isolating(lab, template, bodies, pipeline, ids, advance, strict)
    search_seconds = time.perf_counter() - search_start
    response_rerank, stage_two = None, {}
    if reranker is not None:  # the pipeline's rerank response processor: the cross-encoder over the top hits
        results, response_rerank = reranker.apply(lab, template, rerank_request, bodies, pipeline, results, progress)
        stage_two[f"cross-encoder:{reranker.name}"] = {"fingerprint": reranker.fingerprint, "cost": reranker.cost()}
    rerank = None
    if template.rerank is not None:  # a second stage: the LTR model and the embedding models its features read
        results, rerank = rerank_results(lab, template.rerank, texts, results, progress)
        models += [m for m in rerank["models"] if m not in models]
        stage_two[f"ltr:{rerank['ltr']}"] = rerank
    ranking = ranking_table(ids, results)
    with progress(f"Scoring {template.name}", 1) as advance:
        per_query = evaluate_ranking(qrels, {qid: r.doc_ids for qid, r in zip(ids, results)},
                                     DEFAULT_METRICS)
        advance(1)
    seconds = time.perf_counter() - started
    created = datetime.now(timezone.utc)
    manifest = {
        "run_id": f"{template.name}-{created:%Y%m%dT%H%M%S%f}-{_params_hash(params)}",
        "strategy": template.name,
        "created": created.isoformat(),
        "split": split,
        "n_queries": len(ids),
        "failed_queries": [{"query_id": f.query_id, "error": f.error} for f in failures],
        "template": template.manifest_entry(params),
        "dataset": dataset.run_record(judgments=True),
        "models": {**{m: lab.encoder(m).fingerprint for m in models},
                   **{k: v["fingerprint"] for k, v in stage_two.items()}},
        "model_costs": {**model_costs(lab, models), **{k: v["cost"] for k, v in stage_two.items()}},
        "rerank": rerank,
        "rerank_processor": response_rerank,
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
                 progress: ProgressFactory | None = None, strict: bool = False) -> StoredRun:
    """Execute ``template`` over ``split``, score it and store the run with its manifest."""
    outcome = execute_strategy(lab, template, split, overrides, size, progress, strict)
    return save_run(lab.workspace, lab.dataset.name, outcome.manifest, outcome.ranking, outcome.per_query)


def _params_hash(params: dict[str, Any]) -> str:
    return hashlib.sha1(repr(sorted(params.items())).encode()).hexdigest()[:8]


@dataclass
class RunBatch:
    """What :func:`run_strategies` did: the stored runs, and the strategies skipped with their reasons."""

    runs: list[StoredRun]
    skipped: list[tuple[str, str]]


def run_strategies(lab: Lab, templates: list[Template], split: str = "test",
                   overrides: dict[str, Any] | None = None, size: int = RUN_DEPTH, named: bool = True,
                   strict: bool = False, progress: ProgressFactory | None = None) -> RunBatch:
    """Run and store each template. ``named`` (strategies the user chose): every override must be a param of
    the template and any failure stops; otherwise (``--all``) each template takes the overrides it declares and
    one that cannot run (e.g. no fine-tuned model yet) is skipped with its reason. ``strict``: a query the
    backend refuses is an error, not a failed query of the run."""
    overrides = overrides or {}
    runs, skipped = [], []
    for template in templates:
        if named:
            runs.append(run_strategy(lab, template, split, overrides, size, progress, strict))
            continue
        accepted = {k: v for k, v in overrides.items() if k in template.params}
        try:
            runs.append(run_strategy(lab, template, split, accepted, size, progress, strict))
        except LabError as exc:
            skipped.append((template.name, str(exc)))
    return RunBatch(runs, skipped)
