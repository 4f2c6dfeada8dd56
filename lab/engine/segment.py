"""Segment: an index's documents as stored, the mapping, ids and per-field storage, and indexing
into them (Lucene's index layer, below searching)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DataError
from .documents import Documents
from .fields import InvertedField, NumericField, VectorField
from .mapping import VECTOR, Schema


class Segment:
    """The single shard's one segment: documents are added, never replaced or deleted."""

    def __init__(self, schema: Schema):
        self.schema = schema
        self.ids: list[str] = []
        self.id_index: dict[str, int] = {}
        self._id_array = np.zeros(0, dtype=object)
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

    @property
    def properties(self) -> dict[str, Any]:
        """The mapping properties (including knn_vector fields added by put_vectors)."""
        return self.schema.properties

    def ids_of(self, docs: np.ndarray) -> list[str]:
        """The ids of document numbers ``docs``."""
        if len(self._id_array) != len(self.ids):  # documents are only ever appended
            self._id_array = np.array(self.ids, dtype=object)
        return self._id_array[docs].tolist()

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

    def refresh(self) -> None:
        """Bring term statistics up to date with the documents added (before searching or saving)."""
        for field in self.inverted.values():
            field.refresh()
