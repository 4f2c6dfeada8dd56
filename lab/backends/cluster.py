"""What the OpenSearch and Elasticsearch backends share: option checks, mapping comparison and bulk loading.

Their clients differ (opensearch-py, elasticsearch-py) but their ``helpers.streaming_bulk`` take the same
arguments and yield the same items, so each backend passes its own.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

from ..errors import LabError

from .base import Progress
from .opensearch_client import RetryPolicy, error_reason

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
