"""The OpenSearch backend: the same lab on a real cluster, through opensearch-py."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from typing import Any, Iterable

from opensearchpy import OpenSearch, helpers
from opensearchpy.exceptions import TransportError

from ..errors import LabError, QueryError
from .base import Hit, Progress, SearchResult
from .cluster import MERGE_TIMEOUT, ClusterBackend, check_options, checked_hits
from .opensearch_client import PRODUCT, ClusterInfo, Endpoint, RetryPolicy, lab_error, make_client, read_cluster
from .opensearch_documents import cluster_index_body
from .opensearch_features import (
    HYBRID_EXPLANATION,
    KNN_VECTOR,
    MSEARCH_PIPELINE,
    Feature,
    body_features,
    is_hybrid,
    mapping_features,
    pipeline_features,
    require,
    require_fusion,
)
from .opensearch_pipelines import cluster_pipeline

PIPELINE_PREFIX = "relevance-lab"


def pipeline_id(strategy: str, pipeline: dict[str, Any]) -> str:
    """``relevance-lab-<strategy>-<hash>``: a changed pipeline body gets a new name, never overwrites."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", strategy.lower()).strip("-") or "adhoc"
    digest = hashlib.sha256(json.dumps(pipeline, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return f"{PIPELINE_PREFIX}-{slug}-{digest[:12]}"


class OpenSearchBackend(ClusterBackend):
    """An OpenSearch cluster behind the Backend interface; ``index`` names are aliases of ``<index>-v<N>``."""

    name = "opensearch"
    product = PRODUCT
    request_errors = (TransportError,)
    streaming_bulk = staticmethod(helpers.streaming_bulk)

    def __init__(self, client: OpenSearch, endpoint: Endpoint, cluster: ClusterInfo, *, timeout: float = 30.0,
                 shards: int = 1, batch_size: int = 100, concurrency: int = 1,
                 retry_policy: RetryPolicy = RetryPolicy()):
        super().__init__(client, endpoint, cluster, timeout=timeout, shards=shards, batch_size=batch_size,
                         concurrency=concurrency, retry_policy=retry_policy)
        self._pipelines: set[str] = set()

    @classmethod
    def connect(cls, url: str, *, user: str | None = None, password: str | None = None,
                ca_certs: str | None = None, verify_certs: bool = True, timeout: float = 30.0, shards: int = 1,
                batch_size: int = 100, concurrency: int = 1,
                retry_policy: RetryPolicy = RetryPolicy()) -> OpenSearchBackend:
        """Connect to ``url`` and read the cluster's version; one clear LabError when that fails.

        Credentials: ``user``/``password``, else ``https://user:pass@host`` in the URL, else
        $OPENSEARCH_USER/$OPENSEARCH_PASSWORD. They are sent, never printed nor recorded.
        """
        check_options(timeout=timeout, shards=shards, batch_size=batch_size, concurrency=concurrency)
        endpoint = Endpoint.parse(url, user, password)
        client = make_client(endpoint, ca_certs=ca_certs, verify_certs=verify_certs, timeout=timeout,
                             pool_size=max(10, concurrency), retry_policy=retry_policy)
        cluster = read_cluster(client, endpoint)
        return cls(client, endpoint, cluster, timeout=timeout, shards=shards, batch_size=batch_size,
                   concurrency=concurrency, retry_policy=retry_policy)

    # --- the client's call shapes ----------------------------------------------------------------

    def _lab_error(self, exc: Exception, action: str, index: str | None) -> LabError:
        return lab_error(exc, action, self.endpoint.url, timeout=self.timeout, index=index)

    def _shard_settings(self, index: str) -> dict[str, Any]:
        return self.client.indices.get_settings(index=index, name="index.number_of_shards")

    def _put_settings(self, index: str, settings: dict[str, Any]) -> None:
        self.client.indices.put_settings(index=index, body=settings)

    def _forcemerge(self, index: str) -> None:
        self.client.indices.forcemerge(index=index, max_num_segments=1, request_timeout=MERGE_TIMEOUT)

    def _aliases(self, pattern: str) -> dict[str, Any]:
        return self.client.indices.get_alias(index=pattern)

    def _create_index(self, name: str, body: dict[str, Any]) -> None:
        self.client.indices.create(index=name, body=body)

    def _update_aliases(self, actions: list[dict[str, Any]]) -> None:
        self.client.indices.update_aliases(body={"actions": actions})

    def _put_mapping(self, index: str, properties: dict[str, Any]) -> None:
        self.client.indices.put_mapping(index=index, body={"properties": properties})

    def _mapping(self, index: str) -> dict[str, Any]:
        return self.client.indices.get_mapping(index=index)

    def _send_msearch(self, lines: list[dict[str, Any]]) -> dict[str, Any]:
        return self.client.msearch(body=lines)

    def _index_body(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        self._require(mapping_features(body), f"index '{index}'")
        return cluster_index_body(body, self.shards, self.cluster.version)

    def _vector_fields(self, index: str, field_bodies: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        self._require({KNN_VECTOR}, f"index '{index}'")
        return field_bodies

    def _distribution(self) -> str:
        return self.cluster.distribution

    def _lucene_version(self, concrete: str | None) -> str | None:
        return self.cluster.lucene_version

    # --- plumbing --------------------------------------------------------------------------------

    def _require(self, features: Iterable[Feature], what: str) -> None:
        require(self.cluster, features, what, self.endpoint.url)

    def _ensure_pipeline(self, strategy: str, pipeline: dict[str, Any]) -> str:
        """PUT ``pipeline``, as this cluster's version reads it, under its content-addressed name (once per
        session) and return the name."""
        sent = cluster_pipeline(pipeline, self.cluster.version)
        name = pipeline_id(strategy, sent)
        if name not in self._pipelines:
            self._require(pipeline_features(pipeline), f"strategy '{strategy}'")
            with self._requests(f"strategy '{strategy}': search pipeline {name} rejected"):
                self.client.search_pipeline.put(id=name, body=sent)
            self._pipelines.add(name)
        return name

    # --- Backend: searching ----------------------------------------------------------------------

    def search_batch(self, index: str, bodies: list[dict[str, Any]],
                     pipeline: dict[str, Any] | None = None, *, strategy: str = "adhoc",
                     progress: Progress | None = None) -> list[SearchResult]:
        what = f"strategy '{strategy}'"
        require_fusion(bodies, pipeline, what)
        self._require(set().union(*(body_features(b) for b in bodies)), what)
        pipeline_name = self._ensure_pipeline(strategy, pipeline) if pipeline else None
        self._note_index(index)
        one_request = pipeline_name is None or self.cluster.version >= MSEARCH_PIPELINE.since
        run = self._msearch if one_request else self._search_each
        return self._in_batches(bodies, lambda batch, lo: run(index, batch, pipeline_name, lo, len(bodies), what),
                                progress)

    @staticmethod
    def _request_body(body: dict[str, Any], pipeline_name: str | None = None) -> dict[str, Any]:
        """The body as sent: no ``_source`` unless asked (only ids and scores are read)."""
        out = {**body}
        out.setdefault("_source", False)
        if pipeline_name:
            out["search_pipeline"] = pipeline_name
        return out

    def _msearch(self, index: str, batch: list[dict[str, Any]], pipeline_name: str | None, lo: int, n: int,
                 what: str) -> list[SearchResult]:
        """One _msearch of a batch (see :meth:`_msearch_items`)."""
        action = f"{what}: _msearch of queries {lo + 1}-{lo + len(batch)} of {n}"
        items = self._msearch_items(index, [self._request_body(body, pipeline_name) for body in batch], action)
        return [self._result(item, lo + k, n, what) for k, item in enumerate(items)]

    def _search_each(self, index: str, batch: list[dict[str, Any]], pipeline_name: str | None, lo: int, n: int,
                     what: str) -> list[SearchResult]:
        """One _search per query: clusters before 2.18 take a pipeline name only as a URL parameter."""
        results = []
        for k, body in enumerate(batch):
            with self._requests(f"{what}: query {lo + k + 1} of {n}", index):
                response = self.client.search(index=index, body=self._request_body(body),
                                              search_pipeline=pipeline_name, params=self._search_type(index))
            results.append(self._result(response, lo + k, n, what))
        return results

    @staticmethod
    def _result(response: dict[str, Any], position: int, n: int, what: str) -> SearchResult:
        hits = checked_hits(response, position, n, what)
        total = hits["total"]["value"] if isinstance(hits["total"], dict) else hits["total"]
        if any(h.get("_score") is None for h in hits["hits"]):
            raise QueryError(f"{what}: query {position + 1} of {n} returned hits without a score (sorted by a field?)")
        return SearchResult([Hit(h["_id"], float(h["_score"])) for h in hits["hits"]], int(total))

    def explain(self, index: str, body: dict[str, Any], doc_id: str,
                pipeline: dict[str, Any] | None = None) -> dict[str, Any]:
        what = f"explaining document '{doc_id}'"
        require_fusion([body], pipeline, what)
        self._require(body_features(body), what)
        self._note_index(index)
        if not is_hybrid(body):
            with self._requests(what, index):
                response = self.client.explain(index=index, id=doc_id, body={"query": body.get("query", {})})
            return response["explanation"]
        self._require({HYBRID_EXPLANATION}, what)
        explain_pipeline = copy.deepcopy(pipeline)
        responses = explain_pipeline.setdefault("response_processors", [])
        if not any("hybrid_score_explanation" in p for p in responses):
            responses.append({"hybrid_score_explanation": {}})
        name = self._ensure_pipeline("explain", explain_pipeline)
        with self._requests(what, index):
            response = self.client.search(index=index, body=self._request_body(body), search_pipeline=name,
                                          explain=True)
        for hit in response["hits"]["hits"]:
            if hit["_id"] == doc_id:
                return hit["_explanation"]
        size = body.get("size", 10)
        return {"value": 0.0, "description": f"document '{doc_id}' is not among the {size} fused hits of this "
                "query, so OpenSearch gives it no hybrid score", "details": []}
