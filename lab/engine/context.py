"""What one batch of searches shares: the index's storage, and per-batch caches.

Filter document sets are cached by the filter's structure (a template's filter is evaluated once
per batch), and k-NN results by query node, so that a batch's k-NN clauses can be answered together
(one matrix product per field, :func:`lab.engine.nodes.prefetch_knn`) before any query is executed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .fields import InvertedField, NumericField, VectorField
from .mapping import FieldSpec, Schema
from .matches import DOC, Accumulator, Matches, union
from .segment import Segment

_COMPARE = {"gt": np.greater, "gte": np.greater_equal, "lt": np.less, "lte": np.less_equal}


class Context:
    """Per-batch view of an index."""

    def __init__(self, segment: Segment):
        self.segment = segment
        self.schema: Schema = segment.schema
        self.n_docs = segment.doc_count
        self._filters: dict[Any, np.ndarray] = {}
        self.knn_found: dict[int, Matches] = {}
        """k-NN results by ``id()`` of their query node: top-k documents (ascending), raw similarities."""
        self.accumulator = Accumulator(self.n_docs)

    def spec(self, name: str) -> FieldSpec:
        return self.schema.fields[name]

    def inverted(self, name: str) -> InvertedField:
        return self.segment.inverted[name]

    def numeric(self, name: str) -> NumericField:
        return self.segment.numeric[name]

    def vectors(self, name: str) -> VectorField:
        return self.segment.vectors[name]

    # ---- constant-score filters ----------------------------------------------------------------

    def filter_docs(self, kind: str, field: str, spec: tuple[Any, ...]) -> np.ndarray:
        """The documents (ascending) that a filter matches: ``kind`` is ids, exists, terms or values
        (``spec`` holds the ids, terms or values) or range (``spec`` holds (op, bound) pairs)."""
        key = (kind, field, spec)
        if key not in self._filters:
            self._filters[key] = self._evaluate(kind, field, spec)
        return self._filters[key]

    def _evaluate(self, kind: str, name: str, values_spec: tuple[Any, ...]) -> np.ndarray:
        if kind == "ids":
            index = self.segment.id_index
            return np.array(sorted(index[i] for i in values_spec if i in index), dtype=DOC)
        spec = self.spec(name)
        if kind == "exists":
            if spec.inverted:
                present = self.inverted(name).present
            elif spec.numeric:
                present = self.numeric(name).present
            else:
                present = self.vectors(name).present
            return np.flatnonzero(present).astype(DOC)
        if spec.inverted:
            field = self.inverted(name)
            if kind == "terms":
                ids = [i for i in (field.term_id(t) for t in values_spec) if i is not None]
            else:
                bounds = dict(values_spec)
                lower = bounds.get("gte", bounds.get("gt"))
                upper = bounds.get("lte", bounds.get("lt"))
                ids = list(field.term_ids_between(lower, "gte" in bounds, upper, "lte" in bounds))
            return union([field.postings(i)[0] for i in ids], self.n_docs)
        field_values = self.numeric(name)
        values, present = field_values.values, field_values.present
        dtype = values.dtype
        if kind == "values":
            mask = np.isin(values, np.asarray(values_spec, dtype=dtype))
        else:
            mask = np.ones(len(values), dtype=bool)
            for op, bound in values_spec:
                mask &= _COMPARE[op](values, bound if dtype == np.int64 else dtype.type(bound))
        return np.flatnonzero(mask & present).astype(DOC)

