"""Side-by-side results of two backends for the same queries: where the embedded engine and a cluster differ."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from .base import Backend, Hit, SearchResult
from .embedded import EmbeddedBackend
from .opensearch_documents import embedded_index_body

if TYPE_CHECKING:
    from .opensearch import OpenSearchBackend

TABLE_COLUMNS = ("rank", "embedded id", "embedded score", "cluster id", "cluster score", "Δ score")
"""Column headers for :meth:`QueryComparison.table_rows`."""


@dataclass(frozen=True)
class RankRow:
    """The hit each backend returned at one rank (None past the end of its list)."""

    rank: int
    embedded: Hit | None
    cluster: Hit | None

    @property
    def same_doc(self) -> bool:
        return self.embedded is not None and self.cluster is not None and self.embedded.doc_id == self.cluster.doc_id


@dataclass(frozen=True)
class QueryComparison:
    """Both rankings of one query and how far apart they are."""

    label: str
    rows: list[RankRow]
    embedded_total: int
    cluster_total: int
    score_deltas: dict[str, float]
    """Cluster score minus embedded score, for every document both returned (at any rank)."""

    @property
    def overlap(self) -> int:
        """Documents in both lists."""
        return len(self.score_deltas)

    @property
    def first_difference(self) -> int | None:
        """The first rank at which the documents differ, or None when the lists are identical."""
        return next((row.rank for row in self.rows if not row.same_doc), None)

    @property
    def max_score_delta(self) -> float:
        """The largest absolute score difference over documents both returned (0 when none)."""
        return max((abs(d) for d in self.score_deltas.values()), default=0.0)

    def agrees(self, tolerance: float) -> bool:
        """Same documents in the same order with scores within ``tolerance`` (relative, at least absolute)."""
        scores = {row.embedded.doc_id: row.embedded.score for row in self.rows if row.embedded}
        return self.first_difference is None and all(
            abs(delta) <= tolerance * max(1.0, abs(scores[doc])) for doc, delta in self.score_deltas.items())

    def table_rows(self) -> list[tuple[str, ...]]:
        """One row of strings per rank, in the order of :data:`TABLE_COLUMNS`."""
        def cells(hit: Hit | None) -> tuple[str, str]:
            return ("—", "") if hit is None else (hit.doc_id, f"{hit.score:.6g}")

        rows = []
        for row in self.rows:
            delta = "" if row.embedded is None or row.cluster is None or not row.same_doc else \
                f"{row.cluster.score - row.embedded.score:+.2e}"
            rows.append((str(row.rank), *cells(row.embedded), *cells(row.cluster), delta))
        return rows


@dataclass(frozen=True)
class BackendComparison:
    """The comparison of every query, with what each backend says about itself."""

    embedded: dict[str, Any]
    cluster: dict[str, Any]
    queries: list[QueryComparison]
    tolerance: float

    @property
    def agreeing(self) -> int:
        return sum(q.agrees(self.tolerance) for q in self.queries)

    def summary(self) -> str:
        """One line: how many queries agree, and the worst disagreement."""
        worst = max(self.queries, key=lambda q: q.max_score_delta, default=None)
        text = (f"{self.agreeing} of {len(self.queries)} queries identical (same documents, same order, scores "
                f"within {self.tolerance:g} relative)")
        if worst is not None and worst.max_score_delta > 0:
            text += f"; largest score difference {worst.max_score_delta:.3g} on '{worst.label}'"
        return text


def compare(label: str, embedded: SearchResult, cluster: SearchResult) -> QueryComparison:
    """Line up two results of the same query rank by rank."""
    rows = [RankRow(rank, e, c) for rank, (e, c) in
            enumerate(itertools.zip_longest(embedded.hits, cluster.hits), start=1)]
    cluster_scores = {hit.doc_id: hit.score for hit in cluster.hits}
    deltas = {hit.doc_id: cluster_scores[hit.doc_id] - hit.score for hit in embedded.hits
              if hit.doc_id in cluster_scores}
    return QueryComparison(label, rows, embedded.total, cluster.total, deltas)


def embedded_like(workspace: Path, cluster: OpenSearchBackend) -> EmbeddedBackend:
    """The workspace's embedded indexes, scored as ``cluster`` scores (2.x: legacy BM25, see
    :func:`embedded_index_body`)."""
    if cluster.name == "elasticsearch":
        from .elasticsearch_translate import embedded_body

        return EmbeddedBackend(workspace, embedded_body)
    return EmbeddedBackend(workspace, partial(embedded_index_body, version=cluster.cluster.version))


def check_backends(embedded: Backend, cluster: Backend, index: str, bodies: Sequence[dict[str, Any]],
                   pipeline: dict[str, Any] | None = None, *, labels: Sequence[str] | None = None,
                   strategy: str = "check", tolerance: float = 1e-5) -> BackendComparison:
    """Run ``bodies`` (already rendered, with ``size``) on both backends and compare them query by query.

    ``labels`` name the queries in the output (default: their position).
    """
    labels = list(labels) if labels is not None else [f"query {i + 1}" for i in range(len(bodies))]
    if len(labels) != len(bodies):
        raise ValueError(f"{len(labels)} labels for {len(bodies)} queries")
    mine = embedded.search_batch(index, list(bodies), pipeline, strategy=strategy)
    theirs = cluster.search_batch(index, list(bodies), pipeline, strategy=strategy)
    queries = [compare(label, e, c) for label, e, c in zip(labels, mine, theirs)]
    return BackendComparison(embedded.describe(), cluster.describe(), queries, tolerance)


@dataclass(frozen=True)
class StrategyAgreement:
    """How one strategy's run on a cluster compares with the same run on the embedded engine."""

    strategy: str
    queries: int
    identical_top10: float
    """Share of queries whose top 10 are the same documents, in the same order, scores within tolerance."""
    overlap_at_100: float
    """Mean share of the embedded top 100 that the cluster also returned (HNSW recall for kNN strategies)."""
    max_relative_delta: float
    """The largest |cluster − embedded| / max(1, |embedded|) over documents both returned."""


def agreement(strategy: str, embedded: dict[str, list[Hit]], cluster: dict[str, list[Hit]],
              tolerance: float = 1e-5) -> StrategyAgreement:
    """Compare two runs of ``strategy`` given as {query id: hits in rank order} (the same query ids)."""
    if embedded.keys() != cluster.keys():
        raise ValueError("the two runs are not over the same queries")
    identical, overlaps, worst = 0, [], 0.0
    for query, mine in embedded.items():
        comparison = compare(query, SearchResult(mine[:10], len(mine)), SearchResult(cluster[query][:10], 0))
        identical += comparison.agrees(tolerance)
        theirs = {hit.doc_id: hit.score for hit in cluster[query]}
        overlaps.append(sum(hit.doc_id in theirs for hit in mine) / len(mine) if mine else float(not theirs))
        for hit in mine:
            if hit.doc_id in theirs:
                worst = max(worst, abs(theirs[hit.doc_id] - hit.score) / max(1.0, abs(hit.score)))
    n = len(embedded)
    return StrategyAgreement(strategy, n, identical / n if n else 1.0, sum(overlaps) / n if n else 1.0, worst)
