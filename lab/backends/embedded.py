"""The default backend: the in-process engine, with each index persisted in the workspace."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import __version__, collector, engine
from ..engine import EmbeddedIndex, TrialSearcher
from ..engine.printed import printed
from ..errors import LabError
from ..workspace import atomic_path, workspace_path
from .base import Backend, Documents, IndexReport, Progress, SearchResult

BATCH_SIZE = 256


class EmbeddedBackend(Backend):
    """Indexes live under ``<workspace>/indexes/<name>`` and are loaded once per process."""

    name = "embedded"

    def __init__(self, workspace: Path, rewrite: Callable[[dict[str, Any]], dict[str, Any]] | None = None):
        """``rewrite`` changes each saved index body as it is loaded (to score as a given cluster: for
        searching, not for put_vectors, which would save the changed body)."""
        self.workspace = Path(workspace)
        self.root = self.workspace / "indexes"
        self.rewrite = rewrite
        self._loaded: dict[str, EmbeddedIndex] = {}

    def _path(self, index: str) -> Path:
        return workspace_path(self.workspace, "indexes", index, option="index name")

    def engine_index(self, index: str) -> EmbeddedIndex:
        """The loaded engine index (LabError if it was never built)."""
        if index not in self._loaded:
            path = self._path(index)
            if not path.exists():
                raise LabError(f"index '{index}' does not exist in {self.root}: run `lab index` first")
            self._loaded[index] = EmbeddedIndex.load(path, self.rewrite)
        return self._loaded[index]

    def _save(self, index: str, engine_index: EmbeddedIndex) -> None:
        with atomic_path(self._path(index)) as tmp:
            engine_index.save(tmp)
        self._loaded[index] = engine_index

    def build_index(self, index: str, body: dict[str, Any], docs: Documents,
                    progress: Progress | None = None) -> IndexReport:
        start = time.perf_counter()
        engine_index = EmbeddedIndex.create(body)
        for lo in range(0, len(docs), 10_000):
            hi = min(lo + 10_000, len(docs))
            engine_index.add(engine.Documents(
                docs.ids[lo:hi],
                {f: values[lo:hi] for f, values in docs.fields.items()},
                {f: matrix[lo:hi] for f, matrix in docs.vectors.items()},
            ))
            if progress:
                progress(hi - lo)
        self._save(index, engine_index)
        return IndexReport(indexed=engine_index.doc_count, seconds=time.perf_counter() - start)

    def put_vectors(self, index: str, field_bodies: dict[str, dict[str, Any]], ids: list[str],
                    vectors: dict[str, np.ndarray], progress: Progress | None = None) -> IndexReport:
        start = time.perf_counter()
        engine_index = self.engine_index(index)
        engine_index.put_vectors(field_bodies, ids, vectors)
        self._save(index, engine_index)
        if progress:
            progress(len(ids))
        return IndexReport(indexed=len(ids), seconds=time.perf_counter() - start)

    def index_fields(self, index: str) -> dict[str, dict[str, Any]]:
        return self.engine_index(index).properties

    def count(self, index: str) -> int:
        return self.engine_index(index).doc_count

    def search_batch(self, index: str, bodies: list[dict[str, Any]],
                     pipeline: dict[str, Any] | None = None, *, strategy: str = "adhoc",
                     progress: Progress | None = None) -> list[SearchResult]:
        with collector.paused():
            return self._search_batch(self.engine_index(index), bodies, pipeline, progress)

    @staticmethod
    def _search_batch(engine_index: EmbeddedIndex, bodies: list[dict[str, Any]], pipeline: dict[str, Any] | None,
                      progress: Progress | None) -> list[SearchResult]:
        results: list[SearchResult] = []
        for lo in range(0, len(bodies), BATCH_SIZE):
            batch = bodies[lo:lo + BATCH_SIZE]
            pages = engine_index.msearch_pages(batch, pipeline=pipeline)
            scores = printed(np.concatenate([found.scores for found in pages])).tolist() if pages else []
            ids = engine_index.ids_of(np.concatenate([found.docs for found in pages])) if pages else []
            at = 0
            for found in pages:
                n = len(found.docs)
                results.append(SearchResult.from_columns(ids[at:at + n], scores[at:at + n], found.total))
                at += n
            if progress:
                progress(len(batch))
        return results

    def trial_searcher(self, index: str, strategy: str = "adhoc") -> TrialSearcher:
        """Searches of tuning trials on ``index``, ranked as ``search_batch`` ranks them, with clause matches
        shared between trials."""
        return TrialSearcher(self.engine_index(index), BATCH_SIZE)

    def explain(self, index: str, body: dict[str, Any], doc_id: str,
                pipeline: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.engine_index(index).explain(doc_id, body, pipeline=pipeline)

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "engine": f"relevance-lab {__version__}", "shards": 1}
