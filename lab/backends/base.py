"""The interface every backend implements; the indexer and the runner only talk to this."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import numpy as np

Progress = Callable[[int], None]
"""Called with the number of items just completed (documents indexed, queries searched)."""


@dataclass(frozen=True)
class Hit:
    """One ranked document."""

    doc_id: str
    score: float


@dataclass(frozen=True)
class SearchResult:
    """The ranked hits of one query and the total number of matching documents."""

    hits: list[Hit]
    total: int


@dataclass
class Documents:
    """Documents in columns: ids, text/keyword fields (None = field absent) and vector fields.

    ``vectors[field]`` is a float32 matrix with one row per document; a row of NaN means the
    document has no value for that field (e.g. a product without a description).
    """

    ids: list[str]
    fields: dict[str, list[str | None]] = field(default_factory=dict)
    vectors: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class IndexReport:
    """What an indexing call did: documents indexed, failures (id, reason), seconds taken."""

    indexed: int
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0


class TrialRanker(Protocol):
    """Ranked document ids of each rendered body of one tuning trial."""

    description: str

    def rankings(self, bodies: list[dict[str, Any]], pipeline: dict[str, Any] | None) -> list[list[str]]: ...


class BatchSearcher:
    """Each trial is one ``search_batch`` on the backend (the default, e.g. for a cluster)."""

    description = "backend search per trial"

    def __init__(self, backend: Backend, index: str, strategy: str):
        self.backend, self.index, self.strategy = backend, index, strategy

    def rankings(self, bodies: list[dict[str, Any]], pipeline: dict[str, Any] | None) -> list[list[str]]:
        results = self.backend.search_batch(self.index, bodies, pipeline, strategy=self.strategy)
        return [[hit.doc_id for hit in result.hits] for result in results]


class Backend(ABC):
    """A search engine that can hold the product index and answer OpenSearch query DSL."""

    name: str

    @abstractmethod
    def build_index(self, index: str, body: dict[str, Any], docs: Documents,
                    progress: Progress | None = None) -> IndexReport:
        """Create ``index`` from an OpenSearch index body and load ``docs``; replaces any old one
        only once the new one is complete."""

    @abstractmethod
    def put_vectors(self, index: str, field_bodies: dict[str, dict[str, Any]], ids: list[str],
                    vectors: dict[str, np.ndarray], progress: Progress | None = None) -> IndexReport:
        """Add or replace vector fields (``field_bodies`` are their mapping bodies) on existing
        documents, leaving every other field as it is."""

    @abstractmethod
    def index_fields(self, index: str) -> dict[str, dict[str, Any]]:
        """The mapping properties of ``index``; raises LabError if it does not exist."""

    @abstractmethod
    def count(self, index: str) -> int:
        """Number of documents in ``index``."""

    @abstractmethod
    def search_batch(self, index: str, bodies: list[dict[str, Any]],
                     pipeline: dict[str, Any] | None = None, *, strategy: str = "adhoc",
                     progress: Progress | None = None) -> list[SearchResult]:
        """Run every body (OpenSearch search request bodies, with ``size``) and return results in
        order. ``pipeline`` is an OpenSearch search-pipeline body applied to each search;
        ``strategy`` names server-side artefacts such as stored pipelines."""

    def trial_searcher(self, index: str, strategy: str) -> TrialRanker:
        """How tuning trials search ``index``: one ``search_batch`` per trial unless a backend has a faster way
        that ranks the same."""
        return BatchSearcher(self, index, strategy)

    @abstractmethod
    def explain(self, index: str, body: dict[str, Any], doc_id: str,
                pipeline: dict[str, Any] | None = None) -> dict[str, Any]:
        """Lucene-style explanation ``{value, description, details}`` of one document's score."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """What a run manifest records about this backend (name, version, shards); no secrets."""
