"""The OpenSearch backend: the same lab on a real cluster, through opensearch-py."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager, suppress
from typing import Any, Iterable, Iterator

import numpy as np
from opensearchpy import OpenSearch, helpers
from opensearchpy.exceptions import TransportError

from ..errors import DataError, LabError, QueryError
from .base import Backend, Documents, Hit, IndexReport, Progress, SearchResult
from .cluster import MERGE_TIMEOUT, bulk_load, check_options, covers
from .opensearch_client import (
    ClusterInfo,
    Endpoint,
    RetryPolicy,
    error_reason,
    lab_error,
    make_client,
    overloaded,
    read_cluster,
)
from .opensearch_documents import (
    POSITION_FIELD,
    check_index_name,
    check_unique_ids,
    cluster_index_body,
    index_actions,
    is_position_sorted,
    loaded_settings,
    update_actions,
    version_of,
    versioned_name,
)
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


class OpenSearchBackend(Backend):
    """An OpenSearch cluster behind the Backend interface.

    ``index`` names are aliases: each build loads a new ``<index>-v<N>`` and moves the alias in one
    atomic step once the new index is complete, so a half-built index is never searched.
    """

    name = "opensearch"

    def __init__(self, client: OpenSearch, endpoint: Endpoint, cluster: ClusterInfo, *, timeout: float = 30.0,
                 shards: int = 1, batch_size: int = 100, concurrency: int = 1,
                 retry_policy: RetryPolicy = RetryPolicy()):
        check_options(timeout=timeout, shards=shards, batch_size=batch_size, concurrency=concurrency)
        self.client = client
        self.endpoint = endpoint
        self.cluster = cluster
        self.timeout = float(timeout)
        self.shards = shards
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.retry_policy = retry_policy
        self._pipelines: set[str] = set()
        self._indices: dict[str, tuple[str, int]] = {}
        self._last_index: str | None = None

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

    # --- plumbing --------------------------------------------------------------------------------

    @contextmanager
    def _requests(self, action: str, index: str | None = None) -> Iterator[None]:
        """Turn any failed request inside the block into one LabError line about ``action``."""
        try:
            yield
        except TransportError as exc:
            raise lab_error(exc, action, self.endpoint.url, timeout=self.timeout, index=index) from None

    def _require(self, features: Iterable[Feature], what: str) -> None:
        require(self.cluster, features, what, self.endpoint.url)

    def _note_index(self, index: str) -> None:
        """Remember which concrete index ``index`` names and its shard count (for manifests)."""
        self._last_index = index
        if index in self._indices:
            return
        with self._requests(f"reading the settings of index '{index}'", index):
            settings = self.client.indices.get_settings(index=index, name="index.number_of_shards")
        concrete, value = next(iter(settings.items()))
        shards = int(value["settings"]["index"]["number_of_shards"])
        self._indices[index] = (concrete, shards)

    def _bulk(self, index: str, actions: Iterator[tuple[dict[str, Any], str]], progress: Progress | None,
              action: str) -> list[tuple[str, str]]:
        """Load ``actions`` (see :func:`bulk_load`); every failed document as (id, reason)."""
        with self._requests(action, index):
            return bulk_load(helpers.streaming_bulk, self.client, index, actions, self.retry_policy, progress)

    def _settle(self, index: str, settings: dict[str, Any] | None = None) -> None:
        """Make loaded documents searchable, merged into one segment without deleted documents.

        Updated and retried documents leave deleted copies that Lucene still counts in BM25
        statistics until a merge removes them; one segment also makes k-NN results repeatable.
        """
        with self._requests(f"finishing index {index}", index):
            if settings is not None:
                self.client.indices.put_settings(index=index, body=settings)
            self.client.indices.refresh(index=index)
            self.client.indices.forcemerge(index=index, max_num_segments=1, request_timeout=MERGE_TIMEOUT)
            self.client.indices.refresh(index=index)

    def _drop(self, index: str) -> None:
        """Delete a half-built index, keeping the first error (if any) the one reported."""
        with suppress(TransportError):
            self.client.indices.delete(index=index)

    def _versions(self, alias: str) -> tuple[list[str], int]:
        """The concrete indices ``alias`` points to now, and the next free version number."""
        with self._requests(f"looking up index '{alias}'", alias):
            existing = self.client.indices.get_alias(index=f"{alias}-v*")
            current = [name for name, entry in existing.items() if alias in (entry.get("aliases") or {})]
            if not current and self.client.indices.exists(index=alias):
                raise LabError(f"'{alias}' already exists on {self.endpoint.url} and is not an alias managed by "
                               f"relevance-lab ({alias}-vN): delete it, or import the dataset under another --name")
        versions = [v for v in (version_of(alias, name) for name in existing) if v is not None]
        return current, max(versions, default=0) + 1

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

    # --- Backend ---------------------------------------------------------------------------------

    def build_index(self, index: str, body: dict[str, Any], docs: Documents,
                    progress: Progress | None = None) -> IndexReport:
        start = time.perf_counter()
        check_index_name(index)
        check_unique_ids(docs.ids)
        self._require(mapping_features(body), f"index '{index}'")
        sent = cluster_index_body(body, self.shards, self.cluster.version)
        actions = index_actions(docs, positions=is_position_sorted(sent))
        current, version = self._versions(index)
        new = versioned_name(index, version)
        with self._requests(f"creating index {new}", new):
            self.client.indices.create(index=new, body=sent)
        swapped = False
        try:
            failed = self._bulk(new, actions, progress, f"loading documents into {new}")
            if failed:
                return IndexReport(len(docs) - len(failed), failed, time.perf_counter() - start)
            self._settle(new, loaded_settings(body))
            with self._requests(f"counting documents in {new}", new):
                count = self.client.count(index=new)["count"]
            if count != len(docs):
                raise DataError(f"index {new} holds {count} documents after loading {len(docs)}; "
                                f"'{index}' still points to the previous index")
            swap = [{"add": {"index": new, "alias": index}}] + [{"remove_index": {"index": old}} for old in current]
            with self._requests(f"switching alias '{index}' to {new}", index):
                self.client.indices.update_aliases(body={"actions": swap})
            swapped = True
        finally:
            if not swapped:
                self._drop(new)
        self._indices[index] = (new, self.shards)
        self._last_index = index
        return IndexReport(len(docs), [], time.perf_counter() - start)

    def put_vectors(self, index: str, field_bodies: dict[str, dict[str, Any]], ids: list[str],
                    vectors: dict[str, np.ndarray], progress: Progress | None = None) -> IndexReport:
        start = time.perf_counter()
        check_unique_ids(ids)
        self._require({KNN_VECTOR}, f"index '{index}'")
        actions = update_actions(ids, vectors)
        properties = self.index_fields(index)
        new_fields = {}
        for field, field_body in field_bodies.items():
            if field not in properties:
                new_fields[field] = field_body
            elif not covers(field_body, properties[field]):
                raise DataError(f"field '{field}' of index '{index}' is mapped as {json.dumps(properties[field])}, "
                                f"not {json.dumps(field_body)}: rebuild the index with `lab index`")
        if new_fields:
            with self._requests(f"adding fields {', '.join(new_fields)} to index '{index}'", index):
                self.client.indices.put_mapping(index=index, body={"properties": new_fields})
        failed = self._bulk(index, actions, progress, f"adding vectors to '{index}'")
        self._settle(index)
        return IndexReport(len(ids) - len(failed), failed, time.perf_counter() - start)

    def index_fields(self, index: str) -> dict[str, dict[str, Any]]:
        with self._requests(f"reading the mapping of index '{index}'", index):
            mapping = self.client.indices.get_mapping(index=index)
        properties = next(iter(mapping.values()))["mappings"].get("properties", {})
        return {name: field for name, field in properties.items() if name != POSITION_FIELD}

    def count(self, index: str) -> int:
        with self._requests(f"counting documents in '{index}'", index):
            return int(self.client.count(index=index)["count"])

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
        results: list[SearchResult | None] = [None] * len(bodies)
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            futures = {pool.submit(run, index, bodies[lo:lo + self.batch_size], pipeline_name, lo, len(bodies), what): lo
                       for lo in range(0, len(bodies), self.batch_size)}
            try:
                for future in as_completed(futures):
                    lo = futures[future]
                    batch_results = future.result()
                    results[lo:lo + len(batch_results)] = batch_results
                    if progress:
                        progress(len(batch_results))
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        return results  # type: ignore[return-value]

    def _search_type(self, index: str) -> dict[str, str]:
        """``dfs_query_then_fetch`` on an index of several shards: BM25 then uses the index-wide term
        statistics, so its scores equal a single shard's (and the embedded engine's)."""
        shards = self._indices.get(index, (None, self.shards))[1]
        return {"search_type": "dfs_query_then_fetch"} if shards > 1 else {}

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
        """One _msearch; items rejected with 429 (a full search queue) are sent again, without the others, with
        backoff."""
        header = {"index": index, **self._search_type(index)}
        action = f"{what}: _msearch of queries {lo + 1}-{lo + len(batch)} of {n}"
        items: list[dict[str, Any]] = [{}] * len(batch)
        pending = list(range(len(batch)))
        for attempt in range(self.retry_policy.retries + 1):
            if attempt:
                time.sleep(self.retry_policy.delay(attempt - 1))
            lines: list[dict[str, Any]] = []
            for k in pending:
                lines += [header, self._request_body(batch[k], pipeline_name)]
            with self._requests(action, index):
                response = self.client.msearch(body=lines)
            for k, item in zip(pending, response["responses"]):
                items[k] = item
            pending = [k for k in pending if items[k].get("status") == 429]
            if not pending:
                return [self._result(item, lo + k, n, what) for k, item in enumerate(items)]
        raise overloaded(action, self.endpoint.url, error_reason(items[pending[0]]))

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
        if "error" in response:
            raise QueryError(f"{what}: query {position + 1} of {n} failed: {error_reason(response)}")
        failures = (response.get("_shards") or {}).get("failures")
        if failures:
            raise QueryError(f"{what}: query {position + 1} of {n} failed on {len(failures)} shard(s): "
                             f"{error_reason({'error': failures[0].get('reason')})}")
        hits = response["hits"]
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

    def describe(self) -> dict[str, Any]:
        concrete, shards = self._indices.get(self._last_index or "", (None, self.shards))
        return {"backend": self.name, "cluster_version": self.cluster.number,
                "distribution": self.cluster.distribution, "lucene_version": self.cluster.lucene_version,
                "shards": shards, "index": concrete, "url": self.endpoint.url}
