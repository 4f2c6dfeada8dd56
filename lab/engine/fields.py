"""Per-field storage: postings of text/keyword fields, numeric values, vectors.

An inverted field keeps its postings as term-major CSR arrays (``indptr`` per term id, then doc ids
ascending and term frequencies), one norm byte per document and the collection statistics BM25
needs. Documents are added in batches; each batch's postings wait in ``_pending`` and are merged
into the CSR arrays by :meth:`InvertedField.refresh`, which also recomputes the per-document
BM25 norm-inverse (it depends on avgdl, which every added document changes).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from itertools import chain
from typing import Any, Sequence

import numpy as np

from ..errors import DataError
from .analysis import get_analyzer
from .mapping import BOOLEAN, FLOAT_TYPES, INTEGER_TYPES, KEYWORD, FieldSpec
from .similarity import NO_NORM
from .smallfloat import encode_lengths

Values = Sequence[Any]
_NO_TERMS: list[str] = []
VECTOR_CHUNK = 8192
SCORES_CACHED = 1 << 23
"""Postings whose BM25 scores an inverted field remembers (per term and weight) until documents are added."""


class InvertedField:
    """Postings, norms and statistics of one text or keyword field."""

    def __init__(self, spec: FieldSpec):
        self.spec = spec
        self.vocab: dict[str, int] = {}
        self.indptr = np.zeros(1, dtype=np.int64)
        self.docs = np.zeros(0, dtype=np.int32)
        self.freqs = np.zeros(0, dtype=np.float32)
        self.norms = np.zeros(0, dtype=np.uint8)
        self.has_terms = np.zeros(0, dtype=bool)
        self.present = np.zeros(0, dtype=bool)
        self.sum_total_term_freq = 0
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._norm_inverse: np.ndarray | None = None
        self._scaled_freqs: np.ndarray | None = None
        self._doc_count: int | None = None
        self._sorted_terms: tuple[list[str], np.ndarray] | None = None
        self._scores: dict[tuple[int, float], tuple[np.ndarray, np.ndarray]] = {}
        self._scores_held = 0

    # ---- indexing ----------------------------------------------------------------------------

    def add(self, values: Values, first_doc: int) -> None:
        """Index one value (or None) per document for docs ``first_doc``, ``first_doc + 1``, ..."""
        n = len(values)
        present = np.array([v is not None for v in values], dtype=bool)
        analyzed: dict[str, list[str]] = {}
        analyze = self._terms_of
        token_lists = [_NO_TERMS if v is None else analyzed.get(v) or analyzed.setdefault(v, analyze(v))
                       for v in (x if x is None or isinstance(x, str) else str(x) for x in values)]
        lengths = np.fromiter(map(len, token_lists), dtype=np.int64, count=n)
        if self.spec.type == KEYWORD:
            present &= lengths > 0
        flat = list(chain.from_iterable(token_lists))
        vocab = self.vocab
        for term in dict.fromkeys(flat):
            if term not in vocab:
                vocab[term] = len(vocab)
        term_ids = np.fromiter(map(vocab.__getitem__, flat), dtype=np.int64, count=len(flat))
        local_docs = np.repeat(np.arange(n, dtype=np.int64), lengths)
        keys, tf = np.unique(term_ids * max(n, 1) + local_docs, return_counts=True)
        docs = (keys % max(n, 1) + first_doc).astype(np.int32)
        freqs = tf.astype(np.float32) if self.spec.freqs else np.ones(len(tf), dtype=np.float32)
        self._pending.append(((keys // max(n, 1)).astype(np.int32), docs, freqs))
        self.present = np.concatenate([self.present, present])
        self.has_terms = np.concatenate([self.has_terms, lengths > 0])
        self.norms = np.concatenate([self.norms, encode_lengths(lengths)])
        self.sum_total_term_freq += int(lengths.sum()) if self.spec.freqs else len(tf)
        self._norm_inverse = None
        self._scaled_freqs = None
        self._doc_count = None
        self._sorted_terms = None
        self._forget_scores()

    def _terms_of(self, text: str) -> list[str]:
        if self.spec.type != KEYWORD:
            return get_analyzer(self.spec.analyzer).analyze(text)
        limit = self.spec.ignore_above
        return [] if limit is not None and len(text) > limit else [text]

    def refresh(self) -> None:
        """Merge pending postings into the CSR arrays (a per-chunk counting sort: no global argsort)."""
        if not self._pending:
            return
        n_terms = len(self.vocab)
        chunks = [(np.repeat(np.arange(len(self.indptr) - 1, dtype=np.int32), np.diff(self.indptr)),
                   self.docs, self.freqs)] + self._pending
        self._pending = []
        counts = [np.bincount(terms, minlength=n_terms) for terms, _, _ in chunks]
        indptr = np.zeros(n_terms + 1, dtype=np.int64)
        np.cumsum(np.sum(counts, axis=0), out=indptr[1:])
        docs = np.empty(indptr[-1], dtype=np.int32)
        freqs = np.empty(indptr[-1], dtype=np.float32)
        next_free = indptr[:-1].copy()
        chunks.reverse()
        counts.reverse()
        while chunks:
            terms, chunk_docs, chunk_freqs = chunks.pop()
            chunk_counts = counts.pop()
            chunk_starts = np.concatenate(([0], np.cumsum(chunk_counts)[:-1]))
            destination = next_free[terms] + (np.arange(len(terms)) - chunk_starts[terms])
            docs[destination] = chunk_docs
            freqs[destination] = chunk_freqs
            next_free += chunk_counts
            del terms, chunk_docs, chunk_freqs
        self.indptr, self.docs, self.freqs = indptr, docs, freqs
        self._scaled_freqs = None
        self._forget_scores()

    # ---- statistics and scoring --------------------------------------------------------------

    @property
    def doc_count(self) -> int:
        """Documents with at least one indexed term (Lucene's docCount)."""
        if self._doc_count is None:
            self._doc_count = int(np.count_nonzero(self.has_terms))
        return self._doc_count

    def term_id(self, term: str) -> int | None:
        return self.vocab.get(term)

    def postings(self, term_id: int) -> tuple[np.ndarray, np.ndarray]:
        start, end = self.indptr[term_id], self.indptr[term_id + 1]
        return self.docs[start:end], self.freqs[start:end]

    def scaled_postings(self, term_id: int) -> tuple[np.ndarray, np.ndarray]:
        """Docs (int64) of a term and ``freq * normInverse[doc]`` (float32), BM25's per-posting factor."""
        if self._scaled_freqs is None:
            self._scaled_freqs = self.freqs * self.norm_inverse()[self.docs]
        start, end = self.indptr[term_id], self.indptr[term_id + 1]
        return self.docs[start:end].astype(np.int64), self._scaled_freqs[start:end]

    def term_scores(self, term_id: int, weight: np.float32) -> tuple[np.ndarray, np.ndarray]:
        """Docs (int64) of a term and their BM25 scores (float32) for the scorer ``weight``, read-only and
        remembered per (term, weight): the queries of a run share most of their terms."""
        key = (term_id, float(weight))
        found = self._scores.get(key)
        if found is None:
            docs, scaled = self.scaled_postings(term_id)
            scores = self.spec.similarity.score_scaled(weight, scaled)
            docs.flags.writeable = scores.flags.writeable = False
            if self._scores_held + len(docs) > SCORES_CACHED:
                self._forget_scores()
            found = self._scores[key] = (docs, scores)
            self._scores_held += len(docs)
        return found

    def _forget_scores(self) -> None:
        self._scores, self._scores_held = {}, 0

    def doc_freq(self, term_id: int) -> int:
        return int(self.indptr[term_id + 1] - self.indptr[term_id])

    def avgdl(self) -> np.float32:
        return self.spec.similarity.avgdl(self.sum_total_term_freq, self.doc_count)

    def norm_inverse(self) -> np.ndarray:
        """BM25's ``1 / (k1 * ((1 - b) + b * dl / avgdl))`` per document (float32)."""
        if self._norm_inverse is None:
            table = self.spec.similarity.norm_inverse_table(self.avgdl())
            if self.spec.norms:
                self._norm_inverse = table[self.norms]
            else:
                self._norm_inverse = np.full(len(self.norms), table[NO_NORM], dtype=np.float32)
        return self._norm_inverse

    def term_ids_between(self, lower: str | None, include_lower: bool, upper: str | None,
                         include_upper: bool) -> np.ndarray:
        """Ids of the terms in a range (code point order, which is Lucene's UTF-8 byte order)."""
        if self._sorted_terms is None:
            terms = sorted(self.vocab)
            self._sorted_terms = (terms, np.array([self.vocab[t] for t in terms], dtype=np.int64))
        terms, ids = self._sorted_terms
        start = 0 if lower is None else (bisect_left if include_lower else bisect_right)(terms, lower)
        end = len(terms) if upper is None else (bisect_right if include_upper else bisect_left)(terms, upper)
        return ids[start:max(start, end)]

    def norm(self, doc: int) -> int:
        return int(self.norms[doc]) if self.spec.norms else NO_NORM

    def freq(self, term_id: int, doc: int) -> float | None:
        docs, freqs = self.postings(term_id)
        i = int(np.searchsorted(docs, doc))
        return float(freqs[i]) if i < len(docs) and docs[i] == doc else None

    # ---- persistence -------------------------------------------------------------------------

    def arrays(self) -> dict[str, np.ndarray]:
        self.refresh()
        return {"indptr": self.indptr, "docs": self.docs, "freqs": self.freqs, "norms": self.norms,
                "has_terms": self.has_terms, "present": self.present,
                "sum_total_term_freq": np.array([self.sum_total_term_freq], dtype=np.int64)}

    @classmethod
    def from_arrays(cls, spec: FieldSpec, terms: list[str], arrays: dict[str, np.ndarray]) -> InvertedField:
        field = cls(spec)
        field.vocab = {t: i for i, t in enumerate(terms)}
        field.indptr, field.docs, field.freqs = arrays["indptr"], arrays["docs"], arrays["freqs"]
        field.norms, field.has_terms, field.present = arrays["norms"], arrays["has_terms"], arrays["present"]
        field.sum_total_term_freq = int(arrays["sum_total_term_freq"][0])
        return field


class NumericField:
    """Values of one numeric or boolean field (float32 for ``float``, float64 for ``double``, int64 else)."""

    def __init__(self, spec: FieldSpec):
        self.spec = spec
        self.values = np.zeros(0, dtype=self.dtype)
        self.present = np.zeros(0, dtype=bool)

    @property
    def dtype(self) -> type:
        if self.spec.type == "float":
            return np.float32
        return np.float64 if self.spec.type == "double" else np.int64

    def parse_column(self, values: Values, ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """One value (or None) per document parsed into (values, present); DataError naming a bad one."""
        parsed = np.zeros(len(values), dtype=self.dtype)
        present = np.zeros(len(values), dtype=bool)
        for i, value in enumerate(values):
            if value is None:
                continue
            try:
                parsed[i] = self.parse(value)
            except ValueError as exc:
                raise DataError(f"document {ids[i]!r}, field {self.spec.name!r}: {exc}") from None
            present[i] = True
        return parsed, present

    def append(self, column: tuple[np.ndarray, np.ndarray]) -> None:
        self.values = np.concatenate([self.values, column[0]])
        self.present = np.concatenate([self.present, column[1]])

    def parse(self, value: Any) -> Any:
        """One value as the field stores it; ValueError with the reason if it cannot."""
        kind = self.spec.type
        if kind == BOOLEAN:
            if isinstance(value, bool):
                return int(value)
            if value in ("true", "false"):
                return int(value == "true")
            raise ValueError(f"{value!r} is not a boolean (true or false)")
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not a number")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{value!r} is not a number") from None
        if kind in FLOAT_TYPES:
            if not math.isfinite(number):
                raise ValueError(f"{value!r} is not a finite number")
            return number
        low, high = INTEGER_TYPES[kind]
        if not math.isfinite(number) or not low <= math.trunc(number) <= high:
            raise ValueError(f"{value!r} is out of range for a {kind}")
        return int(value) if isinstance(value, int) else math.trunc(number)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"values": self.values, "present": self.present}

    @classmethod
    def from_arrays(cls, spec: FieldSpec, arrays: dict[str, np.ndarray]) -> NumericField:
        field = cls(spec)
        field.values, field.present = arrays["values"], arrays["present"]
        return field


class VectorField:
    """A knn_vector field: float32 rows (unit length for cosinesimil), and which documents have one.

    The matrix is allocated when the first vectors arrive, so declared-but-empty fields cost nothing.
    """

    def __init__(self, spec: FieldSpec, n_docs: int = 0):
        self.spec = spec
        self.matrix: np.ndarray | None = None
        self.present = np.zeros(n_docs, dtype=bool)
        self._square_norms: np.ndarray | None = None

    def check(self, vectors: np.ndarray, ids: Sequence[str]) -> None:
        """DataError unless ``vectors`` is one row per id, each all-NaN (no vector) or finite (and
        non-zero for cosinesimil)."""
        if np.ndim(vectors) != 2 or np.shape(vectors) != (len(ids), self.spec.dimension):
            raise DataError(f"field {self.spec.name!r}: expected a ({len(ids)}, {self.spec.dimension}) "
                            f"vector matrix, got {np.shape(vectors)}")
        for lo in range(0, len(ids), VECTOR_CHUNK):
            chunk = np.asarray(vectors[lo:lo + VECTOR_CHUNK], dtype=np.float32)
            nan = np.isnan(chunk)
            missing = nan.all(axis=1)
            bad = (nan.any(axis=1) & ~missing) | ~np.isfinite(np.where(nan, np.float32(0), chunk)).all(axis=1)
            if bad.any():
                raise DataError(f"document {ids[lo + int(np.flatnonzero(bad)[0])]!r}, field {self.spec.name!r}: "
                                "vector has NaN or infinite components")
            zero = ~missing & ~chunk.any(axis=1)
            if self.spec.space_type == "cosinesimil" and zero.any():
                raise DataError(f"document {ids[lo + int(np.flatnonzero(zero)[0])]!r}, field {self.spec.name!r}: "
                                "a zero vector has no cosine similarity")

    def set_rows(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        """Store ``vectors[i]`` (checked by :meth:`check`) as document ``rows[i]``'s; NaN rows: no vector."""
        if self.matrix is None:
            self.matrix = np.zeros((len(self.present), self.spec.dimension), dtype=np.float32)
        for lo in range(0, len(rows), VECTOR_CHUNK):
            chunk = np.asarray(vectors[lo:lo + VECTOR_CHUNK], dtype=np.float32)
            missing = np.isnan(chunk).all(axis=1)
            chunk = np.where(missing[:, None], np.float32(0), chunk)
            if self.spec.space_type == "cosinesimil":
                wide = chunk.astype(np.float64)
                norms = np.sqrt(np.einsum("ij,ij->i", wide, wide))
                chunk = (wide / np.where(missing, 1.0, norms)[:, None]).astype(np.float32)
            self.matrix[rows[lo:lo + VECTOR_CHUNK]] = chunk
            self.present[rows[lo:lo + VECTOR_CHUNK]] = ~missing
        self._square_norms = None

    def grow(self, n_docs: int) -> None:
        """Make room for documents added after this field was created (they have no vector yet)."""
        extra = n_docs - len(self.present)
        if extra > 0:
            if self.matrix is not None:
                self.matrix = np.concatenate([self.matrix, np.zeros((extra, self.spec.dimension), np.float32)])
            self.present = np.concatenate([self.present, np.zeros(extra, dtype=bool)])

    def square_norms(self) -> np.ndarray:
        """Squared length of every row (float32), for l2 distances."""
        if self._square_norms is None:
            assert self.matrix is not None
            self._square_norms = np.einsum("ij,ij->i", self.matrix, self.matrix)
        return self._square_norms

    def arrays(self) -> dict[str, np.ndarray]:
        return {"present": self.present} if self.matrix is None else {"matrix": self.matrix, "present": self.present}

    @classmethod
    def from_arrays(cls, spec: FieldSpec, arrays: dict[str, np.ndarray]) -> VectorField:
        field = cls(spec)
        field.matrix, field.present = arrays.get("matrix"), arrays["present"]
        return field
