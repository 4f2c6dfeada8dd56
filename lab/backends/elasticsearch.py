"""The Elasticsearch backend: the same lab on Elasticsearch 8.15+ / 9, through the official client.

Queries are translated once (elasticsearch_translate); hybrid queries run as their sub-queries on the cluster
and are fused by the lab with the embedded engine's pipeline code (elasticsearch_fusion).
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from typing import Any, Iterator

import numpy as np
from elasticsearch import ApiError, Elasticsearch, TransportError, helpers

from ..engine.pipelines import parse_pipeline
from ..errors import DataError, LabError, QueryError
from .base import Backend, Documents, Hit, IndexReport, Progress, SearchResult
from .elasticsearch_client import ClusterInfo, Endpoint, lab_error, make_client, read_cluster
from .elasticsearch_fusion import fuse
from .elasticsearch_translate import hybrid_plan, index_body, search_body, vector_mapping
from .cluster import MERGE_TIMEOUT, bulk_load, check_options, covers
from .opensearch_client import RetryPolicy, error_reason
from .opensearch_documents import (
    POSITION_FIELD,
    check_index_name,
    check_unique_ids,
    index_actions,
    is_position_sorted,
    loaded_settings,
    update_actions,
    version_of,
    versioned_name,
)
from .opensearch_features import is_hybrid, require_fusion


class ElasticsearchBackend(Backend):
    """An Elasticsearch cluster behind the Backend interface; ``index`` names are aliases of ``<index>-v<N>``."""

    name = "elasticsearch"

    def __init__(self, client: Elasticsearch, endpoint: Endpoint, cluster: ClusterInfo, *, timeout: float = 30.0,
                 shards: int = 1, batch_size: int = 100, concurrency: int = 1,
                 retry_policy: RetryPolicy = RetryPolicy()):
        check_options(timeout=timeout, shards=shards, batch_size=batch_size, concurrency=concurrency)
        self.client, self.endpoint, self.cluster = client, endpoint, cluster
        self.timeout, self.shards = float(timeout), shards
        self.batch_size, self.concurrency, self.retry_policy = batch_size, concurrency, retry_policy
        self._indices: dict[str, tuple[str, int]] = {}
        self._last_index: str | None = None

    @classmethod
    def connect(cls, url: str, *, user: str | None = None, password: str | None = None, api_key: str | None = None,
                ca_certs: str | None = None, verify_certs: bool = True, timeout: float = 30.0, shards: int = 1,
                batch_size: int = 100, concurrency: int = 1,
                retry_policy: RetryPolicy = RetryPolicy()) -> ElasticsearchBackend:
        """Connect to ``url`` and read the cluster's version and modules; one clear LabError when that fails."""
        check_options(timeout=timeout, shards=shards, batch_size=batch_size, concurrency=concurrency)
        endpoint = Endpoint.parse(url, user, password, api_key)
        client = make_client(endpoint, ca_certs=ca_certs, verify_certs=verify_certs, timeout=timeout,
                             pool_size=max(10, concurrency), retry_policy=retry_policy)
        return cls(client, endpoint, read_cluster(client, endpoint), timeout=timeout, shards=shards,
                   batch_size=batch_size, concurrency=concurrency, retry_policy=retry_policy)

    # --- plumbing --------------------------------------------------------------------------------

    @contextmanager
    def _requests(self, action: str, index: str | None = None) -> Iterator[None]:
        """Turn any failed request inside the block into one LabError line about ``action``."""
        try:
            yield
        except (ApiError, TransportError) as exc:
            raise lab_error(exc, action, self.endpoint.url, timeout=self.timeout, index=index) from None

    def _note_index(self, index: str) -> tuple[str, int]:
        """The concrete index ``index`` names and its shard count (remembered for manifests)."""
        self._last_index = index
        if index not in self._indices:
            with self._requests(f"reading the settings of index '{index}'", index):
                settings = self.client.indices.get_settings(index=index, name="index.number_of_shards").body
            concrete, value = next(iter(settings.items()))
            self._indices[index] = (concrete, int(value["settings"]["index"]["number_of_shards"]))
        return self._indices[index]

    def _bulk(self, index: str, actions: Iterator[tuple[dict[str, Any], str]], progress: Progress | None,
              action: str) -> list[tuple[str, str]]:
        """Load ``actions`` (see :func:`bulk_load`); every failed document as (id, reason)."""
        with self._requests(action, index):
            return bulk_load(helpers.streaming_bulk, self.client, index, actions, self.retry_policy, progress)

    def _settle(self, index: str, settings: dict[str, Any] | None = None) -> None:
        """Searchable and merged into one segment without deleted documents (BM25 statistics count them)."""
        with self._requests(f"finishing index {index}", index):
            if settings is not None:
                self.client.indices.put_settings(index=index, settings=settings)
            self.client.indices.refresh(index=index)
            self.client.options(request_timeout=MERGE_TIMEOUT).indices.forcemerge(index=index, max_num_segments=1)
            self.client.indices.refresh(index=index)

    def _versions(self, alias: str) -> tuple[list[str], int]:
        """The concrete indices ``alias`` points to now, and the next free version number."""
        with self._requests(f"looking up index '{alias}'", alias):
            existing = self.client.indices.get_alias(index=f"{alias}-v*", allow_no_indices=True).body
            current = [name for name, entry in existing.items() if alias in (entry.get("aliases") or {})]
            if not current and self.client.indices.exists(index=alias):
                raise LabError(f"'{alias}' already exists on {self.endpoint.url} and is not an alias managed by "
                               f"relevance-lab ({alias}-vN): delete it, or import the dataset under another --name")
        versions = [v for v in (version_of(alias, name) for name in existing) if v is not None]
        return current, max(versions, default=0) + 1

    # --- Backend: indexing -----------------------------------------------------------------------

    def build_index(self, index: str, body: dict[str, Any], docs: Documents,
                    progress: Progress | None = None) -> IndexReport:
        start = time.perf_counter()
        check_index_name(index)
        check_unique_ids(docs.ids)
        sent = index_body(body, self.shards)
        actions = index_actions(docs, positions=is_position_sorted(sent))
        current, version = self._versions(index)
        new = versioned_name(index, version)
        with self._requests(f"creating index {new}", new):
            self.client.indices.create(index=new, settings=sent.get("settings"), mappings=sent.get("mappings"))
        swapped = False
        try:
            failed = self._bulk(new, actions, progress, f"loading documents into {new}")
            if failed:
                return IndexReport(len(docs) - len(failed), failed, time.perf_counter() - start)
            self._settle(new, loaded_settings(body))
            count = self._count(new)
            if count != len(docs):
                raise DataError(f"index {new} holds {count} documents after loading {len(docs)}; "
                                f"'{index}' still points to the previous index")
            swap = [{"add": {"index": new, "alias": index}}] + [{"remove_index": {"index": old}} for old in current]
            with self._requests(f"switching alias '{index}' to {new}", index):
                self.client.indices.update_aliases(actions=swap)
            swapped = True
        finally:
            if not swapped:
                with suppress(ApiError, TransportError):
                    self.client.indices.delete(index=new)
        self._indices[index] = (new, self.shards)
        self._last_index = index
        return IndexReport(len(docs), [], time.perf_counter() - start)

    def put_vectors(self, index: str, field_bodies: dict[str, dict[str, Any]], ids: list[str],
                    vectors: dict[str, np.ndarray], progress: Progress | None = None) -> IndexReport:
        start = time.perf_counter()
        check_unique_ids(ids)
        actions = update_actions(ids, vectors)
        properties = self.index_fields(index)
        new_fields = {}
        for field, field_body in vector_mapping(field_bodies).items():
            if field not in properties:
                new_fields[field] = field_body
            elif not covers(field_body, properties[field]):
                raise DataError(f"field '{field}' of index '{index}' is mapped as {json.dumps(properties[field])}, "
                                f"not {json.dumps(field_body)}: rebuild the index with `lab index`")
        if new_fields:
            with self._requests(f"adding fields {', '.join(new_fields)} to index '{index}'", index):
                self.client.indices.put_mapping(index=index, properties=new_fields)
        failed = self._bulk(index, actions, progress, f"adding vectors to '{index}'")
        self._settle(index)
        return IndexReport(len(ids) - len(failed), failed, time.perf_counter() - start)

    def index_fields(self, index: str) -> dict[str, dict[str, Any]]:
        with self._requests(f"reading the mapping of index '{index}'", index):
            mapping = self.client.indices.get_mapping(index=index).body
        properties = next(iter(mapping.values()))["mappings"].get("properties", {})
        return {name: field for name, field in properties.items() if name != POSITION_FIELD}

    def _count(self, index: str) -> int:
        with self._requests(f"counting documents in '{index}'", index):
            return int(self.client.count(index=index)["count"])

    def count(self, index: str) -> int:
        return self._count(index)

    # --- Backend: searching ----------------------------------------------------------------------

    def _header(self, index: str) -> dict[str, Any]:
        """dfs_query_then_fetch on an index of several shards: index-wide BM25 statistics, as on one shard."""
        shards = self._note_index(index)[1]
        return {"index": index, **({"search_type": "dfs_query_then_fetch"} if shards > 1 else {})}

    def _msearch(self, index: str, bodies: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
        """One _msearch of ``bodies``; items rejected with 429 are sent again, alone, with backoff."""
        header = self._header(index)
        items: list[dict[str, Any]] = [{}] * len(bodies)
        pending = list(range(len(bodies)))
        for attempt in range(self.retry_policy.retries + 1):
            if attempt:
                time.sleep(self.retry_policy.delay(attempt - 1))
            lines: list[dict[str, Any]] = []
            for k in pending:
                lines += [header, {"_source": False, **bodies[k]}]
            with self._requests(action, index):
                response = self.client.msearch(searches=lines).body
            for k, item in zip(pending, response["responses"]):
                items[k] = item
            pending = [k for k in pending if items[k].get("status") == 429]
            if not pending:
                return items
        raise LabError(f"{action}: Elasticsearch at {self.endpoint.url} is overloaded (429) even after retries: "
                       f"{error_reason(items[pending[0]])}; lower --concurrency or --batch-size")

    @staticmethod
    def _checked(response: dict[str, Any], position: int, n: int, what: str) -> dict[str, Any]:
        if "error" in response:
            raise QueryError(f"{what}: query {position + 1} of {n} failed: {error_reason(response)}")
        failures = (response.get("_shards") or {}).get("failures")
        if failures:
            raise QueryError(f"{what}: query {position + 1} of {n} failed on {len(failures)} shard(s): "
                             f"{error_reason({'error': failures[0].get('reason')})}")
        return response["hits"]

    def _batch(self, index: str, bodies: list[dict[str, Any]], pipeline: dict[str, Any] | None, lo: int, n: int,
               what: str) -> list[SearchResult]:
        """One _msearch for a batch: a line per plain query; a line per hybrid sub-query plus a counting line,
        fused here."""
        lines: list[dict[str, Any]] = []
        plans = []
        for body in bodies:
            if is_hybrid(body):
                plan = hybrid_plan(body)
                subs = [{**sub, "docvalue_fields": [POSITION_FIELD]} for sub in plan.subs]
                plans.append((plan, len(lines)))
                lines += subs + [plan.count]
            else:
                plans.append((None, len(lines)))
                lines.append(search_body(body))
        items = self._msearch(index, lines, f"{what}: _msearch of queries {lo + 1}-{lo + len(bodies)} of {n}")
        results = []
        for k, (plan, at) in enumerate(plans):
            if plan is None:
                hits = self._checked(items[at], lo + k, n, what)
                total = hits["total"]["value"] if isinstance(hits["total"], dict) else hits["total"]
                results.append(SearchResult([Hit(h["_id"], float(h["_score"])) for h in hits["hits"]], int(total)))
                continue
            subs = [[(h["_id"], int(h["fields"][POSITION_FIELD][0]), float(h["_score"]))
                     for h in self._checked(items[at + s], lo + k, n, what)["hits"]] for s in range(len(plan.subs))]
            total = self._checked(items[at + len(plan.subs)], lo + k, n, what)["total"]["value"]
            results.append(SearchResult(fuse(pipeline, subs, plan.size, plan.start), int(total)))
        return results

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
        results: list[SearchResult] = [None] * len(bodies)  # type: ignore[list-item]
        starts = range(0, len(bodies), self.batch_size)
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            futures = [(lo, pool.submit(self._batch, index, bodies[lo:lo + self.batch_size], pipeline, lo,
                                        len(bodies), what)) for lo in starts]
            try:
                for lo, future in futures:
                    batch = future.result()
                    results[lo:lo + len(batch)] = batch
                    if progress:
                        progress(len(batch))
            except BaseException:
                for _, future in futures:
                    future.cancel()
                raise
        return results

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
            hits = self._checked(item, 0, 1, "explain")["hits"]
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
        concrete, shards = self._indices.get(self._last_index or "", (None, self.shards))
        return {"backend": self.name, "cluster_version": self.cluster.number, "distribution": "elasticsearch",
                "lucene_version": self.cluster.lucene_version, "shards": shards, "index": concrete,
                "url": self.endpoint.url, "server_fusion": self.cluster.server_fusion}
