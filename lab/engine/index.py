"""EmbeddedIndex: one in-process, single-shard index with OpenSearch's API shapes."""

from __future__ import annotations

import os
from typing import Any, Callable

import numpy as np

from ..backends.base import Documents
from ..errors import DataError, LabError
from . import search as searching
from . import store
from .context import Context
from .fields import InvertedField, NumericField, VectorField
from .mapping import VECTOR, Schema, parse_index_body
from .pipelines import SearchPipeline, parse_pipeline


class EmbeddedIndex:
    """Create from an index body, add documents (text + vectors), search, explain, save and load."""

    def __init__(self, schema: Schema):
        self.schema = schema
        self.ids: list[str] = []
        self.id_index: dict[str, int] = {}
        self.inverted: dict[str, InvertedField] = {}
        self.numeric: dict[str, NumericField] = {}
        self.vectors: dict[str, VectorField] = {}
        for spec in schema.fields.values():
            if spec.inverted:
                self.inverted[spec.name] = InvertedField(spec)
            elif spec.numeric:
                self.numeric[spec.name] = NumericField(spec)
            else:
                self.vectors[spec.name] = VectorField(spec)

    @classmethod
    def create(cls, body: dict[str, Any]) -> EmbeddedIndex:
        """A new empty index from an OpenSearch create-index body; LabError naming any unsupported key."""
        return cls(parse_index_body(body))

    @property
    def properties(self) -> dict[str, Any]:
        """The mapping properties (including knn_vector fields added by put_vectors)."""
        return self.schema.properties

    @property
    def doc_count(self) -> int:
        return len(self.ids)

    # ---- indexing ------------------------------------------------------------------------------

    def add(self, docs: Documents) -> None:
        """Index new documents; DataError for duplicate ids, unmapped columns or malformed values."""
        n = len(docs.ids)
        self._check_new_ids(docs.ids)
        sources = {spec.source for spec in self.schema.fields.values() if spec.type != VECTOR}
        for name, column in docs.fields.items():
            if name not in sources:
                raise DataError(f"documents: field {name!r} is not in the index mapping")
            if len(column) != n:
                raise DataError(f"documents: field {name!r} has {len(column)} values for {n} ids")
        for name in docs.vectors:
            if name not in self.vectors:
                raise DataError(f"documents: vector field {name!r} is not a {VECTOR} field of the mapping")
        empty: list[Any] = [None] * n
        numeric = {name: field.parse_column(docs.fields.get(field.spec.source, empty), docs.ids)
                   for name, field in self.numeric.items()}
        for name, matrix in docs.vectors.items():
            self.vectors[name].check(matrix, docs.ids)
        first = self.doc_count
        for field in self.inverted.values():
            field.add(docs.fields.get(field.spec.source, empty), first)
        for name, column in numeric.items():
            self.numeric[name].append(column)
        rows = np.arange(first, first + n)
        for name, vector_field in self.vectors.items():
            vector_field.grow(first + n)
            if name in docs.vectors:
                vector_field.set_rows(rows, docs.vectors[name])
        self.ids.extend(docs.ids)
        self.id_index.update((doc_id, first + i) for i, doc_id in enumerate(docs.ids))

    def _check_new_ids(self, ids: list[str]) -> None:
        seen: set[str] = set()
        for doc_id in ids:
            if not isinstance(doc_id, str) or not doc_id:
                raise DataError(f"documents: ids must be non-empty strings, got {doc_id!r}")
            if doc_id in seen or doc_id in self.id_index:
                raise DataError(f"documents: duplicate id {doc_id!r} (the embedded engine does not replace "
                                "documents; rebuild the index instead)")
            seen.add(doc_id)

    def put_vectors(self, field_bodies: dict[str, dict[str, Any]], ids: list[str],
                    vectors: dict[str, np.ndarray]) -> None:
        """Add knn_vector fields, or set vectors of existing ones, for the documents ``ids``.

        A field redefined with another dimension or space type starts empty; documents not in
        ``ids`` keep whatever vector they had.
        """
        if set(vectors) != set(field_bodies):
            raise DataError("put_vectors: vectors and field_bodies must name the same fields "
                            f"({sorted(vectors)} vs {sorted(field_bodies)})")
        unknown = [i for i in ids if i not in self.id_index]
        if unknown:
            raise DataError(f"put_vectors: {len(unknown)} ids are not in the index, e.g. {unknown[0]!r}")
        rows = np.array([self.id_index[i] for i in ids], dtype=np.int64)
        fields = {}
        for spec in self.schema.vector_specs(field_bodies):
            field = self.vectors.get(spec.name)
            if field is None or field.spec != spec:
                field = VectorField(spec, self.doc_count)
            field.check(vectors[spec.name], ids)
            fields[spec.name] = field
        self.schema.add_vector_fields(field_bodies)
        for name, field in fields.items():
            field.set_rows(rows, vectors[name])
            self.vectors[name] = field

    def _refresh(self) -> None:
        for field in self.inverted.values():
            field.refresh()

    # ---- search --------------------------------------------------------------------------------

    def search(self, body: dict[str, Any], pipeline: dict[str, Any] | None = None) -> dict[str, Any]:
        """One search (OpenSearch request body, optional search-pipeline body) -> OpenSearch response."""
        return self.msearch([body], pipeline)[0]

    def msearch(self, bodies: list[dict[str, Any]], pipeline: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Several searches; their k-NN clauses are answered together, one matrix product per field."""
        parsed = self._pipeline(pipeline)
        self._refresh()
        ctx = Context(self)
        plans = [searching.plan(ctx, body, parsed) for body in bodies]
        ctx.prefetch_knn([root for p in plans for root in p.roots])
        return [searching.execute(ctx, p, parsed) for p in plans]

    def explain(self, doc_id: str, body: dict[str, Any], pipeline: dict[str, Any] | None = None) -> dict[str, Any]:
        """Lucene-style ``{value, description, details}`` of ``doc_id``'s score for ``body``."""
        if doc_id not in self.id_index:
            raise LabError(f"explain: document {doc_id!r} is not in the index")
        parsed = self._pipeline(pipeline)
        self._refresh()
        ctx = Context(self)
        request = searching.plan(ctx, body, parsed)
        return searching.explain(ctx, request, parsed, self.id_index[doc_id]).to_dict()

    @staticmethod
    def _pipeline(pipeline: dict[str, Any] | None) -> SearchPipeline | None:
        return None if pipeline is None else parse_pipeline(pipeline)

    # ---- persistence ---------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index to a directory, atomically."""
        self._refresh()
        store.save(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str],
             rewrite: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> EmbeddedIndex:
        """Read an index written by :meth:`save`; ``rewrite`` changes its saved body first, keeping its fields
        (e.g. the BM25 form, which applies at search time)."""
        return store.load(cls, path, rewrite)
