"""What one batch of searches shares: the index, its field storage, and per-batch caches.

Filter document sets are cached by the filter's structure (a template's filter is evaluated once
per batch), and k-NN results by query node, so that a batch's k-NN clauses can be answered together
(one matrix product per field) before any query is executed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from . import knn as knn_search
from .fields import InvertedField, NumericField, VectorField
from .mapping import FieldSpec, Schema
from .matches import DOC, Accumulator, Matches, union
from .nodes import ConstantFilter, Knn, Node

if TYPE_CHECKING:
    from .index import EmbeddedIndex

_COMPARE = {"gt": np.greater, "gte": np.greater_equal, "lt": np.less, "lte": np.less_equal}


class Context:
    """Per-batch view of an index."""

    def __init__(self, index: EmbeddedIndex):
        self.index = index
        self.schema: Schema = index.schema
        self.n_docs = index.doc_count
        self._filters: dict[Any, np.ndarray] = {}
        self._knn: dict[int, Matches] = {}
        self.accumulator = Accumulator(self.n_docs)

    def spec(self, name: str) -> FieldSpec:
        return self.schema.fields[name]

    def inverted(self, name: str) -> InvertedField:
        return self.index.inverted[name]

    def numeric(self, name: str) -> NumericField:
        return self.index.numeric[name]

    def vectors(self, name: str) -> VectorField:
        return self.index.vectors[name]

    # ---- k-NN ----------------------------------------------------------------------------------

    def prefetch_knn(self, roots: list[Node]) -> None:
        """Answer every k-NN clause under ``roots`` at once, grouped by field."""
        pending: dict[str, list[Knn]] = {}
        for root in roots:
            for node in root.walk():
                if isinstance(node, Knn) and id(node) not in self._knn:
                    pending.setdefault(node.field, []).append(node)
        for field, nodes in pending.items():
            allowed = [None if n.filter is None else n.filter.docs(self) for n in nodes]
            found = knn_search.search(self.vectors(field), [np.frombuffer(n.vector, dtype=np.float32) for n in nodes],
                                      [n.k for n in nodes],
                                      allowed)
            for node, result in zip(nodes, found):
                self._knn[id(node)] = result

    def knn(self, node: Knn) -> Matches:
        """The node's top-k documents (ascending) with their raw similarity scores."""
        if id(node) not in self._knn:
            self.prefetch_knn([node])
        return self._knn[id(node)]

    @staticmethod
    def knn_formula(space: str) -> str:
        return knn_search.FORMULAS[space]

    # ---- constant-score filters ----------------------------------------------------------------

    def filter_docs(self, node: ConstantFilter) -> np.ndarray:
        key = node.key()
        if key not in self._filters:
            self._filters[key] = self._evaluate(node)
        return self._filters[key]

    def _evaluate(self, node: ConstantFilter) -> np.ndarray:
        if node.kind == "ids":
            index = self.index.id_index
            return np.array(sorted(index[i] for i in node.spec if i in index), dtype=DOC)
        spec = self.spec(node.field)
        if node.kind == "exists":
            if spec.inverted:
                present = self.inverted(node.field).present
            elif spec.numeric:
                present = self.numeric(node.field).present
            else:
                present = self.vectors(node.field).present
            return np.flatnonzero(present).astype(DOC)
        if spec.inverted:
            field = self.inverted(node.field)
            if node.kind == "terms":
                ids = [i for i in (field.term_id(t) for t in node.spec) if i is not None]
            else:
                bounds = dict(node.spec)
                lower = bounds.get("gte", bounds.get("gt"))
                upper = bounds.get("lte", bounds.get("lt"))
                ids = list(field.term_ids_between(lower, "gte" in bounds, upper, "lte" in bounds))
            return union([field.postings(i)[0] for i in ids], self.n_docs)
        field_values = self.numeric(node.field)
        values, present = field_values.values, field_values.present
        dtype = values.dtype
        if node.kind == "values":
            mask = np.isin(values, np.asarray(node.spec, dtype=dtype))
        else:
            mask = np.ones(len(values), dtype=bool)
            for op, bound in node.spec:
                mask &= _COMPARE[op](values, bound if dtype == np.int64 else dtype.type(bound))
        return np.flatnonzero(mask & present).astype(DOC)

