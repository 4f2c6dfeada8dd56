"""The ``rerank`` response processor in a run: the template's pipeline names a reranker and the document fields
it reads, each search body carries the query text in ``ext.rerank.query_context.query_text`` (as OpenSearch's
processor wants it). The processor and the ``ext`` are taken off before the backend searches; the first stage's
top ``window`` hits of each query are then reordered by the reranker's scores (hits below keep their order after
them). ``ext.rerank.first_stage_weight`` w (the lab's own key, default 0) blends the first stage back in: each
reranked hit scores (1 - w) x the reranker's score + w x the first stage's, both min-max scaled over the query's
window. On the embedded backend this is the engine's response stage; on a cluster the lab reranks the returned
hits client-side with the same model — or, when the template names a model deployed in the cluster's ml-commons
(`lab reranker deploy`), the cluster reranks them (lab.reranker.server) — and the manifest says which."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backends.base import SearchResult
from ..engine.pipelines import RerankProcessor, split_response_processors
from ..errors import QueryError, TemplateError
from ..progress import ProgressFactory
from .blend import blend_first_stage
from .scorer import CrossEncoderScorer, ScoringStats
from .server import DeployedReranker, deployed_reranker
from .store import load_reranker_card

QUERY_TEXT_PATH = "body.ext.rerank.query_context.query_text"
WINDOW_PATH = "body.ext.rerank.window"
WEIGHT_PATH = "body.ext.rerank.first_stage_weight"


@dataclass(frozen=True)
class RerankRequest:
    """What a template asks of the rerank processor: the processor, each body's query text, and the window (the
    top hits reranked; None: every hit). ``ext.rerank.window`` is the lab's own key: OpenSearch's processor reranks
    every returned hit and ignores it."""

    processor: RerankProcessor
    queries: list[str]
    window: int | None
    first_stage_weight: float = 0.0
    """The first stage's share of a reranked hit's score (lab's own key too; 0: the reranker's score alone)."""


def split_rerank(template: Any, bodies: list[dict[str, Any]], pipeline: dict[str, Any] | None,
                 ) -> tuple[list[dict[str, Any]], dict[str, Any] | None, RerankRequest | None]:
    """The bodies and pipeline the backend searches with (``ext.rerank`` and the response processor taken off) and
    the rerank request (None: the template has no rerank processor); TemplateError naming the template file and
    key of a bad processor, a body without query text or a bad window."""
    try:
        rest, processor = split_response_processors(pipeline)
    except QueryError as exc:
        raise TemplateError(f"{template.path}: {exc}") from None
    if processor is None:
        return bodies, pipeline, None
    searched, queries, windows, weights = [], [], set(), set()
    for body in bodies:
        ext = body.get("ext") if isinstance(body.get("ext"), dict) else {}
        rerank = ext.get("rerank") if isinstance(ext.get("rerank"), dict) else {}
        context = rerank.get("query_context") if isinstance(rerank.get("query_context"), dict) else {}
        text = context.get("query_text")
        if not isinstance(text, str) or not text.strip():
            raise TemplateError(f"{template.path}: {QUERY_TEXT_PATH}: the {processor.path} processor needs the "
                                'query text here, e.g. "{{query_text}}"')
        window = rerank.get("window")
        if window is not None and (not isinstance(window, int) or isinstance(window, bool) or window < 1):
            raise TemplateError(f"{template.path}: {WINDOW_PATH}: must be a positive integer (the top hits "
                                f"reranked), got {json.dumps(window)}")
        weight = rerank.get("first_stage_weight", 0)
        if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not 0 <= weight <= 1:
            raise TemplateError(f"{template.path}: {WEIGHT_PATH}: must be a number from 0 to 1 (the first stage's "
                                f"share of a reranked hit's score), got {json.dumps(weight)}")
        queries.append(text)
        windows.add(window)
        weights.add(float(weight))
        body = {k: v for k, v in body.items() if k != "ext"}
        others = {k: v for k, v in ext.items() if k != "rerank"}
        searched.append({**body, "ext": others} if others else body)
    for values, path in ((windows, WINDOW_PATH), (weights, WEIGHT_PATH)):
        if len(values) > 1:
            raise TemplateError(f"{template.path}: {path}: differs between queries; it must not depend on the query")
    return searched, rest, RerankRequest(processor, queries, windows.pop() if windows else None,
                                         weights.pop() if weights else 0.0)


@dataclass
class Reranker:
    """A checked rerank processor: its reranker, window and fields, ready to run over a first stage's hits."""

    processor: RerankProcessor
    name: str
    card: dict[str, Any]
    window: int
    scorer: CrossEncoderScorer
    executed_by: str

    @property
    def fingerprint(self) -> str:
        return self.card["fingerprint"]

    def cost(self) -> dict[str, Any]:
        """What the reranker cost, as ``model_costs`` records it: its training, no re-indexing."""
        return {"kind": "cross-encoder", "train_seconds": self.card["training"]["seconds"], "reindex_seconds": 0.0,
                "reindex_basis": "none needed"}

    def apply(self, lab: Any, template: Any, request: RerankRequest, bodies: list[dict[str, Any]],
              pipeline: dict[str, Any] | None, results: list[SearchResult],
              progress: ProgressFactory) -> tuple[list[SearchResult], dict[str, Any]]:
        """The first stage's ``results`` reranked by the lab's cross-encoder (see :func:`rerank_results`)."""
        return rerank_results(lab, self, request.queries, results, progress, request.first_stage_weight)


def prepare_reranker(lab: Any, template: Any, request: RerankRequest, size: int) -> Reranker | DeployedReranker:
    """Check the request against the workspace before anything is searched: the window fits in the ``size`` hits
    of the first stage, every document field is in the index's mapping, the reranker exists and is complete (a
    workspace cross-encoder, or on OpenSearch a model deployed in ml-commons); a LabError naming the template file
    and the key otherwise."""
    processor = request.processor
    where = f"{template.path}: {processor.path}"
    window = request.window if request.window is not None else size
    if window > size:
        raise TemplateError(f"{template.path}: {WINDOW_PATH}: {window} is larger than the {size} hits the first "
                            "stage returns (body.size); lower the window or raise the size")
    mapping = lab.backend.index_fields(lab.index_name)
    for i, field in enumerate(processor.document_fields):
        if field not in mapping or mapping[field].get("type") not in ("text", "keyword"):
            texts = ", ".join(sorted(f for f, body in mapping.items() if body.get("type") in ("text", "keyword")))
            raise TemplateError(f"{where}.context.document_fields[{i}]: '{field}' is not a text field in the mapping "
                                f"of index '{lab.index_name}' (text fields: {texts})")
    deployed = deployed_reranker(lab, processor, window, f"{where}.ml_opensearch.model_id")
    if deployed is not None:
        return deployed
    path, card = load_reranker_card(lab.workspace, processor.model_id, f"{where}.ml_opensearch.model_id")
    backend = lab.backend.name
    executed_by = ("embedded engine" if backend == "embedded"
                   else f"client-side: the lab's cross-encoder over the hits {backend} returned")
    return Reranker(processor, processor.model_id, card, window, CrossEncoderScorer(path, card, lab.workspace),
                    executed_by)


def rerank_results(lab: Any, reranker: Reranker, queries: list[str], results: list[SearchResult],
                   progress: ProgressFactory, first_stage_weight: float = 0.0,
                   ) -> tuple[list[SearchResult], dict[str, Any]]:
    """``results`` with each query's top ``window`` hits reordered by the reranker's scores of (query, the
    document fields' text) blended with ``first_stage_weight`` of the first stage's (:func:`blend_first_stage`),
    best first, equal scores in first-stage order; and what the manifest records."""
    from ..finetune.examples import product_texts

    texts = product_texts(lab.dataset.products, reranker.processor.document_fields)
    candidates = [list(result.doc_ids[:reranker.window]) for result in results]
    flat_queries = [q for q, ids in zip(queries, candidates) for _ in ids]
    flat_texts = [texts.get(pid, "") for ids in candidates for pid in ids]
    stats = ScoringStats()
    with progress(f"Reranking ({reranker.name})", len(flat_texts)) as advance:
        scores = reranker.scorer.score(flat_queries, flat_texts, advance, stats)
    ends = np.cumsum([len(ids) for ids in candidates])
    reranked = [result.reordered(blend_first_stage(own, result.scores[:len(own)], first_stage_weight))
                for result, own in zip(results, np.split(scores, ends[:-1]))]
    record = {"model": reranker.name, "fingerprint": reranker.card["fingerprint"], "window": reranker.window,
              "first_stage_weight": first_stage_weight,
              "document_fields": list(reranker.processor.document_fields),
              "trained_on_fields": reranker.card["config"]["text_fields"], "executed_by": reranker.executed_by,
              "precision": reranker.scorer.precision, "batch_size": reranker.scorer.batch_size, **stats.record()}
    return reranked, record
