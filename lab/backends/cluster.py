"""What the OpenSearch and Elasticsearch backends share: one cluster backend over either client.

Both keep each index as ``<alias>-v<N>`` behind an alias, bulk-load with their library's
``helpers.streaming_bulk`` (same arguments, same items), settle, swap the alias atomically, retry ``_msearch``
items rejected with 429, and turn failed requests into one line. Only the shapes of the client calls differ
(``body=`` for opensearch-py, keyword arguments and ``.body`` for elasticsearch-py): each backend writes
those as the small methods :class:`ClusterBackend` leaves abstract.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from abc import abstractmethod
from contextlib import contextmanager, suppress
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from ..errors import DataError, LabError, QueryError
from .base import Backend, Documents, IndexReport, Progress, SearchResult
from .cluster_errors import Product, overloaded
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

BULK_CHUNK_DOCS = 500
BULK_CHUNK_BYTES = 10 * 1024 * 1024
MERGE_TIMEOUT = 3600.0
"""Seconds to wait for the force-merge that leaves one segment without deleted documents."""

Action = tuple[dict[str, Any], str]


def check_options(**options: float) -> None:
    """Refuse a non-positive ``--timeout``, ``--shards``, ``--batch-size`` or ``--concurrency``."""
    for name, value in options.items():
        if value <= 0:
            raise LabError(f"--{name.replace('_', '-')} must be positive, not {value}")


def covers(ours: Any, theirs: Any) -> bool:
    """Whether every value in ``ours`` is in ``theirs`` (the cluster may add defaults to a mapping)."""
    if isinstance(ours, dict):
        return isinstance(theirs, dict) and all(k in theirs and covers(v, theirs[k]) for k, v in ours.items())
    return ours == theirs


def bulk_load(streaming_bulk: Callable[..., Iterable[tuple[bool, dict[str, Any]]]], client: Any, index: str,
              actions: Iterator[Action], policy: RetryPolicy, progress: Progress | None) -> list[tuple[str, str]]:
    """Send ``actions`` with the client library's ``streaming_bulk``; per-document 429s are retried with
    ``policy``'s backoff. Returns every failed document as (id, reason): none is dropped silently."""
    failed: list[tuple[str, str]] = []
    for ok, item in streaming_bulk(
            client, actions, index=index, chunk_size=BULK_CHUNK_DOCS, max_chunk_bytes=BULK_CHUNK_BYTES,
            expand_action_callback=lambda pair: pair, raise_on_error=False, max_retries=policy.retries,
            initial_backoff=policy.initial, max_backoff=policy.maximum):
        if not ok:
            result = next(iter(item.values()))
            failed.append((str(result.get("_id")), error_reason(result, f"status {result.get('status')}")))
        if progress:
            progress(1)
    return failed


def checked_hits(response: dict[str, Any], position: int, n: int, what: str) -> dict[str, Any]:
    """The ``hits`` of one search response; QueryError when the search or one of its shards failed."""
    if "error" in response:
        raise QueryError(f"{what}: query {position + 1} of {n} failed: {error_reason(response)}")
    failures = (response.get("_shards") or {}).get("failures")
    if failures:
        raise QueryError(f"{what}: query {position + 1} of {n} failed on {len(failures)} shard(s): "
                         f"{error_reason({'error': failures[0].get('reason')})}")
    return response["hits"]


class ClusterBackend(Backend):
    """A cluster behind the Backend interface; ``index`` names are aliases of ``<index>-v<N>``: each build loads
    a new version and moves the alias in one atomic step once it is complete, so a half-built index is never
    searched."""

    product: Product
    request_errors: tuple[type[Exception], ...]
    """The client's exceptions for a failed request (turned into one line by :meth:`_requests`)."""
    streaming_bulk: Callable[..., Iterable[tuple[bool, dict[str, Any]]]]

    def __init__(self, client: Any, endpoint: Any, cluster: Any, *, timeout: float = 30.0, shards: int = 1,
                 batch_size: int = 100, concurrency: int = 1, retry_policy: RetryPolicy = RetryPolicy()):
        check_options(timeout=timeout, shards=shards, batch_size=batch_size, concurrency=concurrency)
        self.client, self.endpoint, self.cluster = client, endpoint, cluster
        self.timeout, self.shards = float(timeout), shards
        self.batch_size, self.concurrency, self.retry_policy = batch_size, concurrency, retry_policy
        self._indices: dict[str, tuple[str, int]] = {}
        self._last_index: str | None = None

    # --- the client's call shapes ----------------------------------------------------------------

    @abstractmethod
    def _lab_error(self, exc: Exception, action: str, index: str | None) -> LabError:
        """One line for a failed request (see :func:`request_error`)."""

    @abstractmethod
    def _shard_settings(self, index: str) -> dict[str, Any]:
        """``GET <index>/_settings/index.number_of_shards``."""

    @abstractmethod
    def _put_settings(self, index: str, settings: dict[str, Any]) -> None:
        """``PUT <index>/_settings``."""

    @abstractmethod
    def _forcemerge(self, index: str) -> None:
        """``POST <index>/_forcemerge?max_num_segments=1``, waiting up to :data:`MERGE_TIMEOUT`."""

    @abstractmethod
    def _aliases(self, pattern: str) -> dict[str, Any]:
        """``GET <pattern>/_alias``: the indices matching ``pattern`` (none is no error) and their aliases."""

    @abstractmethod
    def _create_index(self, name: str, body: dict[str, Any]) -> None:
        """``PUT <name>`` with ``body`` (settings and mappings)."""

    @abstractmethod
    def _update_aliases(self, actions: list[dict[str, Any]]) -> None:
        """``POST _aliases``: ``actions`` in one atomic step."""

    @abstractmethod
    def _put_mapping(self, index: str, properties: dict[str, Any]) -> None:
        """``PUT <index>/_mapping`` adding ``properties``."""

    @abstractmethod
    def _mapping(self, index: str) -> dict[str, Any]:
        """``GET <index>/_mapping``."""

    @abstractmethod
    def _send_msearch(self, lines: list[dict[str, Any]]) -> dict[str, Any]:
        """``POST _msearch`` of header and body ``lines``."""

    # --- what each backend sends -----------------------------------------------------------------

    @abstractmethod
    def _index_body(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        """The lab's index body as this cluster takes it; refuses what it cannot hold."""

    @abstractmethod
    def _vector_fields(self, index: str, field_bodies: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Vector field mappings as this cluster takes them; refuses what it cannot hold."""

    @abstractmethod
    def _distribution(self) -> str:
        """What manifests record as the cluster's distribution."""

    @abstractmethod
    def _lucene_version(self, concrete: str | None) -> str | None:
        """The cluster's Lucene version (``concrete``: the index last used, whose segments may tell it)."""

    # --- plumbing --------------------------------------------------------------------------------

    @contextmanager
    def _requests(self, action: str, index: str | None = None) -> Iterator[None]:
        """Turn any failed request inside the block into one LabError line about ``action``."""
        try:
            yield
        except self.request_errors as exc:
            raise self._lab_error(exc, action, index) from None

    def _note_index(self, index: str) -> tuple[str, int]:
        """The concrete index ``index`` names and its shard count (remembered for manifests)."""
        self._last_index = index
        if index not in self._indices:
            with self._requests(f"reading the settings of index '{index}'", index):
                settings = self._shard_settings(index)
            concrete, value = next(iter(settings.items()))
            self._indices[index] = (concrete, int(value["settings"]["index"]["number_of_shards"]))
        return self._indices[index]

    def _search_type(self, index: str) -> dict[str, str]:
        """``dfs_query_then_fetch`` on an index of several shards: BM25 then uses the index-wide term
        statistics, so its scores equal a single shard's (and the embedded engine's)."""
        return {"search_type": "dfs_query_then_fetch"} if self._note_index(index)[1] > 1 else {}

    def _bulk(self, index: str, actions: Iterator[Action], progress: Progress | None,
              action: str) -> list[tuple[str, str]]:
        """Load ``actions`` (see :func:`bulk_load`); every failed document as (id, reason)."""
        with self._requests(action, index):
            return bulk_load(self.streaming_bulk, self.client, index, actions, self.retry_policy, progress)

    def _settle(self, index: str, settings: dict[str, Any] | None = None) -> None:
        """Make loaded documents searchable, merged into one segment without deleted documents: updated and
        retried documents leave deleted copies that BM25 statistics count until a merge removes them, and
        one segment makes k-NN results repeatable."""
        with self._requests(f"finishing index {index}", index):
            if settings is not None:
                self._put_settings(index, settings)
            self.client.indices.refresh(index=index)
            self._forcemerge(index)
            self.client.indices.refresh(index=index)

    def _versions(self, alias: str) -> tuple[list[str], int]:
        """The concrete indices ``alias`` points to now, and the next free version number."""
        with self._requests(f"looking up index '{alias}'", alias):
            existing = self._aliases(f"{alias}-v*")
            current = [name for name, entry in existing.items() if alias in (entry.get("aliases") or {})]
            if not current and self.client.indices.exists(index=alias):
                raise LabError(f"'{alias}' already exists on {self.endpoint.url} and is not an alias managed by "
                               f"relevance-lab ({alias}-vN): delete it, or import the dataset under another --name")
        versions = [v for v in (version_of(alias, name) for name in existing) if v is not None]
        return current, max(versions, default=0) + 1

    def _msearch_items(self, index: str, bodies: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
        """The response items of one _msearch of ``bodies``; items rejected with 429 (a full search queue) are
        sent again, without the others, with backoff."""
        header = {"index": index, **self._search_type(index)}
        items: list[dict[str, Any]] = [{}] * len(bodies)
        pending = list(range(len(bodies)))
        for attempt in range(self.retry_policy.retries + 1):
            if attempt:
                time.sleep(self.retry_policy.delay(attempt - 1))
            lines: list[dict[str, Any]] = []
            for k in pending:
                lines += [header, bodies[k]]
            with self._requests(action, index):
                response = self._send_msearch(lines)
            for k, item in zip(pending, response["responses"]):
                items[k] = item
            pending = [k for k in pending if items[k].get("status") == 429]
            if not pending:
                return items
        raise overloaded(self.product, action, self.endpoint.url, error_reason(items[pending[0]]))

    def _in_batches(self, bodies: list[dict[str, Any]], run: Callable[[list[dict[str, Any]], int], list[SearchResult]],
                    progress: Progress | None) -> list[SearchResult]:
        """``run(batch, lo)`` for every ``batch_size`` bodies from ``lo``, ``concurrency`` batches in flight;
        the results in the order of ``bodies``."""
        results: list[SearchResult] = [None] * len(bodies)  # type: ignore[list-item]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            futures = {pool.submit(run, bodies[lo:lo + self.batch_size], lo): lo
                       for lo in range(0, len(bodies), self.batch_size)}
            try:
                for future in as_completed(futures):
                    batch = future.result()
                    results[futures[future]:futures[future] + len(batch)] = batch
                    if progress:
                        progress(len(batch))
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        return results

    # --- Backend: indexing -----------------------------------------------------------------------

    def build_index(self, index: str, body: dict[str, Any], docs: Documents,
                    progress: Progress | None = None) -> IndexReport:
        start = time.perf_counter()
        check_index_name(index, self.product.name)
        check_unique_ids(docs.ids)
        sent = self._index_body(index, body)
        actions = index_actions(docs, positions=is_position_sorted(sent))
        current, version = self._versions(index)
        new = versioned_name(index, version)
        with self._requests(f"creating index {new}", new):
            self._create_index(new, sent)
        swapped = False
        try:
            failed = self._bulk(new, actions, progress, f"loading documents into {new}")
            if failed:
                return IndexReport(len(docs) - len(failed), failed, time.perf_counter() - start)
            self._settle(new, loaded_settings(body))
            count = self.count(new)
            if count != len(docs):
                raise DataError(f"index {new} holds {count} documents after loading {len(docs)}; "
                                f"'{index}' still points to the previous index")
            swap = [{"add": {"index": new, "alias": index}}] + [{"remove_index": {"index": old}} for old in current]
            with self._requests(f"switching alias '{index}' to {new}", index):
                self._update_aliases(swap)
            swapped = True
        finally:
            if not swapped:  # keep the first error the one reported
                with suppress(*self.request_errors):
                    self.client.indices.delete(index=new)
        self._indices[index] = (new, self.shards)
        self._last_index = index
        return IndexReport(len(docs), [], time.perf_counter() - start)

    def put_vectors(self, index: str, field_bodies: dict[str, dict[str, Any]], ids: list[str],
                    vectors: dict[str, np.ndarray], progress: Progress | None = None) -> IndexReport:
        start = time.perf_counter()
        check_unique_ids(ids)
        fields = self._vector_fields(index, field_bodies)
        actions = update_actions(ids, vectors)
        properties = self.index_fields(index)
        new_fields = {}
        for field, field_body in fields.items():
            if field not in properties:
                new_fields[field] = field_body
            elif not covers(field_body, properties[field]):
                raise DataError(f"field '{field}' of index '{index}' is mapped as {json.dumps(properties[field])}, "
                                f"not {json.dumps(field_body)}: rebuild the index with `lab index`")
        if new_fields:
            with self._requests(f"adding fields {', '.join(new_fields)} to index '{index}'", index):
                self._put_mapping(index, new_fields)
        failed = self._bulk(index, actions, progress, f"adding vectors to '{index}'")
        self._settle(index)
        return IndexReport(len(ids) - len(failed), failed, time.perf_counter() - start)

    def index_fields(self, index: str) -> dict[str, dict[str, Any]]:
        with self._requests(f"reading the mapping of index '{index}'", index):
            mapping = self._mapping(index)
        properties = next(iter(mapping.values()))["mappings"].get("properties", {})
        return {name: field for name, field in properties.items() if name != POSITION_FIELD}

    def count(self, index: str) -> int:
        with self._requests(f"counting documents in '{index}'", index):
            return int(self.client.count(index=index)["count"])

    def describe(self) -> dict[str, Any]:
        concrete, shards = self._indices.get(self._last_index or "", (None, self.shards))
        return {"backend": self.name, "cluster_version": self.cluster.number, "distribution": self._distribution(),
                "lucene_version": self._lucene_version(concrete), "shards": shards, "index": concrete,
                "url": self.endpoint.url}
