"""The rerank processor executed by the cluster: the template names (``ml_opensearch.model_id``) a model deployed in
the OpenSearch cluster's ml-commons, so the search pipeline is sent with its ``rerank`` processor and OpenSearch
scores the hits. OpenSearch reranks every hit a search returns, while the lab's window reranks only the top
``window`` of the first stage: the reranked search asks for ``window`` hits, and the first stage's hits below them
follow in their order, as the lab's own reranking leaves them."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backends.base import SearchResult
from ..backends.opensearch_ml import TEXT_SIMILARITY, MlModel
from ..engine.pipelines import RERANK, RERANKER_TYPE, RerankProcessor
from ..errors import LabError, QueryError
from ..progress import ProgressFactory
from .blend import blend_first_stage
from .deploy import DEPLOYED, lab_reranker_of, ml_commons
from .store import load_reranker_card, reranker_dir


@dataclass
class DeployedReranker:
    """A rerank processor whose model is deployed in the cluster's ml-commons."""

    processor: RerankProcessor
    model: MlModel
    window: int
    card: dict[str, Any] | None
    """The card of the lab reranker the model was deployed from, when this workspace holds it unchanged."""

    @property
    def name(self) -> str:
        return self.model.model_id

    @property
    def fingerprint(self) -> str:
        """The lab reranker's fingerprint (its first 16 hex digits when the workspace does not hold it)."""
        if self.card:
            return self.card["fingerprint"]
        deployed = lab_reranker_of(self.model)
        return deployed[1] if deployed else f"ml-commons model {self.model.model_id}"

    def cost(self) -> dict[str, Any]:
        """Training seconds from the lab reranker's card (None when the workspace does not hold it)."""
        seconds = self.card["training"]["seconds"] if self.card else None
        return {"kind": "cross-encoder (ml-commons)", "train_seconds": seconds, "reindex_seconds": 0.0,
                "reindex_basis": "none needed"}

    def apply(self, lab: Any, template: Any, request: Any, bodies: list[dict[str, Any]],
              pipeline: dict[str, Any] | None, results: list[SearchResult],
              progress: ProgressFactory) -> tuple[list[SearchResult], dict[str, Any]]:
        """Search again with the rerank processor for each query's top ``window`` and put those hits, in the
        cluster's order and with its scores, above the first stage's others; and what the manifest records."""
        processor = {RERANK: {RERANKER_TYPE: {"model_id": self.model.model_id},
                              "context": {"document_fields": list(self.processor.document_fields)}}}
        sent_pipeline = {**(pipeline or {}), "response_processors": [processor]}
        fields = list(self.processor.document_fields)
        hit = [i for i, result in enumerate(results) if result.hits]  # a failed or empty query has none to rerank
        sent = [{**bodies[i], "size": self.window, "_source": {"includes": fields},
                 "ext": {**bodies[i].get("ext", {}), RERANK: {"query_context": {"query_text": request.queries[i]}}}}
                for i in hit]
        started = time.perf_counter()
        with progress(f"Reranking in OpenSearch ({self.model.model_id})", len(sent)) as advance:
            reranked = lab.backend.search_batch(lab.index_name, sent, sent_pipeline, strategy=template.name,
                                                progress=advance) if sent else []
        seconds = time.perf_counter() - started
        merged = list(results)
        for i, server in zip(hit, reranked):
            merged[i] = _merge(results[i], server, self.window, i, template.name, request.first_stage_weight)
        pairs = sum(len(r.hits) for r in reranked)
        deployed = lab_reranker_of(self.model)
        record = {"model": deployed[0] if deployed else None, "model_id": self.model.model_id,
                  "ml_commons_name": self.model.name, "fingerprint": self.fingerprint, "window": self.window,
                  "first_stage_weight": request.first_stage_weight,
                  "document_fields": fields,
                  "trained_on_fields": self.card["config"]["text_fields"] if self.card else None,
                  "executed_by": f"server-side: OpenSearch's rerank processor with ml-commons model "
                                 f"{self.model.model_id}",
                  "pairs": pairs, "seconds": round(seconds, 3),
                  "pairs_per_second": round(pairs / seconds, 1) if seconds > 0 else None}
        return merged, record


def deployed_reranker(lab: Any, processor: RerankProcessor, window: int, where: str) -> DeployedReranker | None:
    """The deployed model a processor names on an OpenSearch cluster when the workspace has no reranker of that
    name (None: the lab reranks with its own); LabError naming ``where`` when the cluster has no such model, it
    is not deployed, or it is not a text-similarity model."""
    if lab.backend.name != "opensearch" or reranker_dir(lab.workspace, processor.model_id).is_dir():
        return None
    ml = ml_commons(lab, where)
    model = ml.model(processor.model_id)
    if model is None:
        raise LabError(f"{where}: '{processor.model_id}' is neither a cross-encoder of this workspace nor a model "
                       f"of the cluster's ml-commons (deploy one with `lab --backend opensearch reranker deploy "
                       f"NAME`, which prints its model id)")
    if model.function_name != TEXT_SIMILARITY:
        raise LabError(f"{where}: ml-commons model '{model.model_id}' is a {model.function_name} model; the rerank "
                       f"processor needs a {TEXT_SIMILARITY} one")
    if model.state != DEPLOYED:
        raise LabError(f"{where}: ml-commons model '{model.model_id}' is {model.state or 'not deployed'}: deploy it "
                       f"first (POST /_plugins/_ml/models/{model.model_id}/_deploy)")
    card = None
    deployed = lab_reranker_of(model)
    if deployed and reranker_dir(lab.workspace, deployed[0]).is_dir():
        try:
            _, own = load_reranker_card(lab.workspace, deployed[0])
        except LabError:
            own = None
        card = own if own and own["fingerprint"].startswith(deployed[1]) else None
    return DeployedReranker(processor, model, window, card)


def _merge(first: SearchResult, server: SearchResult, window: int, position: int, strategy: str,
           first_stage_weight: float) -> SearchResult:
    """``first`` with its top ``window`` hits ordered and scored as the cluster's reranked search returned them,
    blended with ``first_stage_weight`` of the first stage's scores (as the lab's own reranking blends them)."""
    top = list(first.doc_ids[:window])
    scores = dict(zip(server.doc_ids, server.scores))
    if set(scores) != set(top):
        raise QueryError(f"strategy '{strategy}': query {position + 1}: the reranked search returned other hits "
                         f"({len(scores)}) than the first stage's top {len(top)}")
    own = np.array([scores[d] for d in top], dtype=np.float64)
    return first.reordered(blend_first_stage(own, np.asarray(first.scores[:window]), first_stage_weight))
