"""The interface every backend implements; the indexer and the runner only talk to this."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from collections.abc import Sequence
from typing import Any, Callable, Protocol, overload

import numpy as np

Progress = Callable[[int], None]
"""Called with the number of items just completed (documents indexed, queries searched)."""


@dataclass(frozen=True)
class Hit:
    """One ranked document."""

    doc_id: str
    score: float


class RankedHits(Sequence[Hit]):
    """Hits held as two columns, ids and scores, made into :class:`Hit` objects only when read one by one."""

    def __init__(self, doc_ids: list[str], scores: list[float]):
        self.doc_ids, self.scores = doc_ids, scores

    def __len__(self) -> int:
        return len(self.doc_ids)

    @overload
    def __getitem__(self, i: int) -> Hit: ...
    @overload
    def __getitem__(self, i: slice) -> RankedHits: ...

    def __getitem__(self, i: int | slice) -> Hit | RankedHits:
        if isinstance(i, slice):
            return RankedHits(self.doc_ids[i], self.scores[i])
        return Hit(self.doc_ids[i], self.scores[i])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    def __repr__(self) -> str:
        return repr(list(self))


@dataclass(frozen=True)
class SearchResult:
    """The ranked hits of one query and the total number of matching documents."""

    hits: Sequence[Hit]
    total: int

    @classmethod
    def from_columns(cls, doc_ids: list[str], scores: list[float], total: int) -> SearchResult:
        """A result whose hits stay in columns (no object per hit) until read one by one."""
        return cls(RankedHits(doc_ids, scores), total)

    @property
    def doc_ids(self) -> list[str]:
        """The hits' ids, best first."""
        return self.hits.doc_ids if isinstance(self.hits, RankedHits) else [h.doc_id for h in self.hits]

    @property
    def scores(self) -> list[float]:
        """The hits' scores, best first."""
        return self.hits.scores if isinstance(self.hits, RankedHits) else [h.score for h in self.hits]

    def reordered(self, top_scores: np.ndarray) -> SearchResult:
        """This result with its top ``len(top_scores)`` hits ordered and scored by ``top_scores`` (a second stage's;
        ties in rank order), the hits below them after, in their order, each scored one below the one before."""
        ids, window = self.doc_ids, len(top_scores)
        order = np.argsort(-top_scores, kind="stable")
        floor = float(top_scores.min()) if window else 0.0
        below = ids[window:]
        return SearchResult.from_columns([ids[i] for i in order] + below,
                                         top_scores[order].tolist() + [floor - k for k in range(1, len(below) + 1)],
                                         self.total)


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
