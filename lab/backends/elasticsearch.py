"""The Elasticsearch backend: the same lab on Elasticsearch 8.15+ / 9, through the official client.

Queries are translated once (elasticsearch_translate); hybrid queries run as their sub-queries on the cluster
and are fused by the lab with the embedded engine's pipeline code (elasticsearch_fusion), or, with
``server_fusion``, as one ``rrf`` / ``linear`` retriever search fused by the node (elasticsearch_retrievers).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from elasticsearch import ApiError, AuthorizationException, BadRequestError, Elasticsearch, TransportError, helpers

from ..engine.pipelines import parse_pipeline
from ..errors import LabError, QueryError
from .base import Hit, Progress, SearchResult
from .cluster import MERGE_TIMEOUT, ClusterBackend, check_options, checked_hits
from .elasticsearch_client import PRODUCT, ClusterInfo, Endpoint, lab_error, make_client, read_cluster
from .elasticsearch_fusion import fuse
from .elasticsearch_retrievers import retriever_request
from .elasticsearch_translate import hybrid_plan, index_body, search_body, vector_mapping
from .opensearch_client import RetryPolicy, error_reason
from .opensearch_documents import POSITION_FIELD
from .opensearch_features import is_hybrid, require_fusion




class ElasticsearchBackend(ClusterBackend):
    """An Elasticsearch cluster behind the Backend interface; ``index`` names are aliases of ``<index>-v<N>``."""

    name = "elasticsearch"
    product = PRODUCT
    request_errors = (ApiError, TransportError)
    streaming_bulk = staticmethod(helpers.streaming_bulk)

    def __init__(self, client: Elasticsearch, endpoint: Endpoint, cluster: ClusterInfo, *, timeout: float = 30.0,
                 shards: int = 1, batch_size: int = 100, concurrency: int = 1,
                 retry_policy: RetryPolicy = RetryPolicy(), server_fusion: bool = False):
        super().__init__(client, endpoint, cluster, timeout=timeout, shards=shards, batch_size=batch_size,
                         concurrency=concurrency, retry_policy=retry_policy)
        self.server_fusion = server_fusion
        """Hybrid strategies as retriever searches fused by the node, instead of fused by the lab."""

    @classmethod
    def connect(cls, url: str, *, user: str | None = None, password: str | None = None, api_key: str | None = None,
                ca_certs: str | None = None, verify_certs: bool = True, timeout: float = 30.0, shards: int = 1,
                batch_size: int = 100, concurrency: int = 1, retry_policy: RetryPolicy = RetryPolicy(),
                server_fusion: bool = False) -> ElasticsearchBackend:
        """Connect to ``url`` and read the cluster's version; one clear LabError when that fails."""
        check_options(timeout=timeout, shards=shards, batch_size=batch_size, concurrency=concurrency)
        endpoint = Endpoint.parse(url, user, password, api_key)
        client = make_client(endpoint, ca_certs=ca_certs, verify_certs=verify_certs, timeout=timeout,
                             pool_size=max(10, concurrency), retry_policy=retry_policy)
        return cls(client, endpoint, read_cluster(client, endpoint), timeout=timeout, shards=shards,
                   batch_size=batch_size, concurrency=concurrency, retry_policy=retry_policy,
                   server_fusion=server_fusion)

    # --- the client's call shapes ----------------------------------------------------------------

    def _lab_error(self, exc: Exception, action: str, index: str | None) -> LabError:
        return lab_error(exc, action, self.endpoint.url, timeout=self.timeout, index=index)

    def _shard_settings(self, index: str) -> dict[str, Any]:
        return self.client.indices.get_settings(index=index, name="index.number_of_shards").body

    def _put_settings(self, index: str, settings: dict[str, Any]) -> None:
        self.client.indices.put_settings(index=index, settings=settings)

    def _forcemerge(self, index: str) -> None:
        self.client.options(request_timeout=MERGE_TIMEOUT).indices.forcemerge(index=index, max_num_segments=1)

    def _aliases(self, pattern: str) -> dict[str, Any]:
        return self.client.indices.get_alias(index=pattern, allow_no_indices=True).body

    def _create_index(self, name: str, body: dict[str, Any]) -> None:
        self.client.indices.create(index=name, settings=body.get("settings"), mappings=body.get("mappings"))

    def _update_aliases(self, actions: list[dict[str, Any]]) -> None:
        self.client.indices.update_aliases(actions=actions)

    def _put_mapping(self, index: str, properties: dict[str, Any]) -> None:
        self.client.indices.put_mapping(index=index, properties=properties)

    def _mapping(self, index: str) -> dict[str, Any]:
        return self.client.indices.get_mapping(index=index).body

    def _send_msearch(self, lines: list[dict[str, Any]]) -> dict[str, Any]:
        return self.client.msearch(searches=lines).body

    def _index_body(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        return index_body(body, self.shards)

    def _vector_fields(self, index: str, field_bodies: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return vector_mapping(field_bodies)

    def _distribution(self) -> str:
        return "elasticsearch"

    def _lucene_version(self, concrete: str | None) -> str | None:
        """From ``GET /`` where the node serves it, else the newest Lucene version among the segments of the
        index last used (minimal distributions answer ``GET /`` with 405; the nodes APIs do not say); None for a
        user without the monitor privilege."""
        if self.cluster.lucene_version or concrete is None:
            return self.cluster.lucene_version
        with self._requests(f"reading the segments of index {concrete}", concrete):
            try:
                shards = self.client.indices.segments(index=concrete).body["indices"][concrete]["shards"]
            except AuthorizationException:
                return None
        versions = {segment["version"] for copies in shards.values() for copy in copies
                    for segment in copy["segments"].values()}
        return max(versions, key=lambda v: tuple(int(p) for p in v.split(".")), default=None)

    # --- Backend: searching ----------------------------------------------------------------------

    def _msearch(self, index: str, bodies: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
        """One _msearch of ``bodies`` without ``_source`` (only ids, scores and positions are read)."""
        return self._msearch_items(index, [{"_source": False, **body} for body in bodies], action)

    def _batch(self, index: str, bodies: list[dict[str, Any]], pipeline: dict[str, Any] | None, lo: int, n: int,
               what: str) -> list[SearchResult]:
        """One _msearch for a batch: a line per plain query (and, with server fusion, per hybrid query); else a
        line per hybrid sub-query plus a counting line, fused here."""
        lines: list[dict[str, Any]] = []
        plans = []
        for body in bodies:
            if is_hybrid(body) and not self.server_fusion:
                plan = hybrid_plan(body)
                subs = [{**sub, "docvalue_fields": [POSITION_FIELD]} for sub in plan.subs]
                plans.append((plan, len(lines)))
                lines += subs + [plan.count]
            else:
                plans.append((None, len(lines)))
                lines.append(retriever_request(body, pipeline) if is_hybrid(body) else search_body(body))
        items = self._msearch(index, lines, f"{what}: _msearch of queries {lo + 1}-{lo + len(bodies)} of {n}")
        results = []
        for k, (plan, at) in enumerate(plans):
            if plan is None:
                hits = checked_hits(items[at], lo + k, n, what)
                total = hits["total"]["value"] if isinstance(hits["total"], dict) else hits["total"]
                results.append(SearchResult([Hit(h["_id"], float(h["_score"])) for h in hits["hits"]], int(total)))
                continue
            subs = [[(h["_id"], int(h["fields"][POSITION_FIELD][0]), float(h["_score"]))
                     for h in checked_hits(items[at + s], lo + k, n, what)["hits"]] for s in range(len(plan.subs))]
            total = checked_hits(items[at + len(plan.subs)], lo + k, n, what)["total"]["value"]
            results.append(SearchResult(fuse(pipeline, subs, plan.size, plan.start), int(total)))
        return results

    def server_fusion_refusal(self, index: str, request: dict[str, Any]) -> str | None:
        """Probe the node with ``request`` (a retriever search, see :func:`retriever_request`), run as it is:
        None when the node runs it, else the node's reason (``unknown retriever [rrf]`` where the rank-rrf module
        is missing; a licence refusal; a normalizer or weight that version does not parse)."""
        with self._requests(f"probing index '{index}' for server-side fusion", index):
            try:
                self.client.search(index=index, body={"_source": False, **request})
            except (BadRequestError, AuthorizationException) as exc:
                return error_reason(exc.body, exc.message)
        return None

    def _require_server_fusion(self, index: str, bodies: list[dict[str, Any]], pipeline: dict[str, Any],
                               what: str) -> None:
        """Refuse, before the first search, what the node cannot fuse exactly as the lab does."""
        try:
            requests = [retriever_request(body, pipeline) for body in bodies if is_hybrid(body)]
        except QueryError as exc:
            raise QueryError(f"{what}: {exc}") from None
        if not requests:
            return
        if self._note_index(index)[1] > 1:
            raise QueryError(f"{what}: --server-fusion: index '{index}' has {self._note_index(index)[1]} shards, "
                             "where equal fused scores follow shard order, not the catalogue's; use one shard")
        reason = self.server_fusion_refusal(index, requests[0])
        if reason is not None:
            kind = next(iter(requests[0]["retriever"]))
            raise LabError(f"{what}: --server-fusion: Elasticsearch at {self.endpoint.url} does not run the {kind} "
                           f"retriever as this strategy needs: {reason}")

    def search_batch(self, index: str, bodies: list[dict[str, Any]],
                     pipeline: dict[str, Any] | None = None, *, strategy: str = "adhoc",
                     progress: Progress | None = None) -> list[SearchResult]:
        what = f"strategy '{strategy}'"
        require_fusion(bodies, pipeline, what)
        if pipeline is not None:
            parse_pipeline(pipeline)
        for body in bodies:  # every translation refusal before the first request
            hybrid_plan(body) if is_hybrid(body) else search_body(body)
        self._note_index(index)
        if self.server_fusion and pipeline is not None:
            self._require_server_fusion(index, bodies, pipeline, what)
        return self._in_batches(bodies, lambda batch, lo: self._batch(index, batch, pipeline, lo, len(bodies), what),
                                progress)

    def explain(self, index: str, body: dict[str, Any], doc_id: str,
                pipeline: dict[str, Any] | None = None) -> dict[str, Any]:
        what = f"explaining document '{doc_id}'"
        require_fusion([body], pipeline, what)
        if not is_hybrid(body):
            translated = search_body(body)
            self._note_index(index)
            with self._requests(what, index):
                response = self.client.explain(index=index, id=doc_id, query=translated.get("query", {"match_all": {}}))
            return response.body["explanation"]
        return self._explain_hybrid(index, body, doc_id, pipeline)

    def _explain_hybrid(self, index: str, body: dict[str, Any], doc_id: str,
                        pipeline: dict[str, Any]) -> dict[str, Any]:
        """The engine's fusion explanation over the cluster's sub-query hits and explanations."""
        plan = hybrid_plan(body)
        subs = [{**sub, "docvalue_fields": [POSITION_FIELD]} for sub in plan.subs]
        items = self._msearch(index, subs, f"explaining document '{doc_id}'")
        lists, explanations, position = [], [], None
        for s, item in enumerate(items):
            hits = checked_hits(item, 0, 1, "explain")["hits"]
            ids = [h["_id"] for h in hits]
            positions = [int(h["fields"][POSITION_FIELD][0]) for h in hits]
            lists.append((np.array(positions, dtype=np.int64), np.array([h["_score"] for h in hits], dtype=np.float32)))
            if doc_id in ids:
                position = positions[ids.index(doc_id)]
                with self._requests(f"explaining document '{doc_id}'", index):
                    explanations.append(self.client.explain(index=index, id=doc_id,
                                                            query=subs[s]["query"]).body["explanation"])
            else:
                explanations.append(None)
        if position is None:
            depth = plan.subs[0]["size"] if plan.subs else 0
            return {"value": 0.0, "description": f"document '{doc_id}' is not in the top {depth} hits of any "
                    "hybrid sub-query", "details": []}
        return parse_pipeline(pipeline).explain_fusion(lists, position, explanations)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "server_fusion": self.server_fusion}
