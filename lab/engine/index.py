"""EmbeddedIndex: one in-process, single-shard index with OpenSearch's API shapes."""

from __future__ import annotations

import os
from typing import Any, Callable

from ..errors import LabError
from . import search as searching
from . import store
from .context import Context
from .mapping import parse_index_body
from .nodes import prefetch_knn
from .pipelines import SearchPipeline, parse_pipeline
from .segment import Segment


class EmbeddedIndex(Segment):
    """Create from an index body, add documents (text + vectors), search, explain, save and load."""

    @classmethod
    def create(cls, body: dict[str, Any]) -> EmbeddedIndex:
        """A new empty index from an OpenSearch create-index body; LabError naming any unsupported key."""
        return cls(parse_index_body(body))

    # ---- search --------------------------------------------------------------------------------

    def search(self, body: dict[str, Any], pipeline: dict[str, Any] | None = None) -> dict[str, Any]:
        """One search (OpenSearch request body, optional search-pipeline body) -> OpenSearch response."""
        return self.msearch([body], pipeline)[0]

    def msearch(self, bodies: list[dict[str, Any]], pipeline: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Several searches; their k-NN clauses are answered together, one matrix product per field."""
        ctx, plans, pages = self._search(bodies, pipeline)
        return [searching.response(ctx, plan, found) for plan, found in zip(plans, pages)]

    def msearch_pages(self, bodies: list[dict[str, Any]], pipeline: dict[str, Any] | None = None
                      ) -> list[searching.Page]:
        """:meth:`msearch` without building responses: each search's hits as arrays of document numbers
        (``ids[doc]`` is the id) and float32 scores."""
        return self._search(bodies, pipeline)[2]

    def _search(self, bodies: list[dict[str, Any]], pipeline: dict[str, Any] | None
                ) -> tuple[Context, list[searching.Plan], list[searching.Page]]:
        parsed = self._pipeline(pipeline)
        self.refresh()
        ctx = Context(self)
        plans = [searching.plan(ctx, body, parsed) for body in bodies]
        prefetch_knn(ctx, [root for p in plans for root in p.roots])
        return ctx, plans, [searching.page(ctx, p, parsed) for p in plans]

    def explain(self, doc_id: str, body: dict[str, Any], pipeline: dict[str, Any] | None = None) -> dict[str, Any]:
        """Lucene-style ``{value, description, details}`` of ``doc_id``'s score for ``body``."""
        if doc_id not in self.id_index:
            raise LabError(f"explain: document {doc_id!r} is not in the index")
        parsed = self._pipeline(pipeline)
        self.refresh()
        ctx = Context(self)
        request = searching.plan(ctx, body, parsed)
        return searching.explain(ctx, request, parsed, self.id_index[doc_id]).to_dict()

    @staticmethod
    def _pipeline(pipeline: dict[str, Any] | None) -> SearchPipeline | None:
        return None if pipeline is None else parse_pipeline(pipeline)

    # ---- persistence ---------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index to a directory, atomically."""
        self.refresh()
        store.save(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str],
             rewrite: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> EmbeddedIndex:
        """Read an index written by :meth:`save`; ``rewrite`` changes its saved body first, keeping its fields
        (e.g. the BM25 form, which applies at search time)."""
        return store.load(cls, path, rewrite)
