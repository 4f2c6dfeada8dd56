"""BM25 exactly as Lucene's ``BM25Similarity`` computes it, in float32 where Lucene uses ``float``.

* ``idf = (float) Math.log(1 + (docCount - df + 0.5D) / (df + 0.5D))`` (double, then cast);
* ``avgdl = (float) (sumTotalTermFreq / (double) docCount)``;
* per norm byte ``cache[i] = 1f / (k1 * ((1 - b) + b * LENGTH_TABLE[i] / avgdl))`` (float);
* ``weight = boost * idf`` (float) and ``score = weight - weight / (1f + freq * cache[norm])``.

``LegacyBM25`` (OpenSearch 2.x's default, a similarity type in 3.x) is the same scorer created
with ``boost * (1 + k1)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
import numpy as np

from .explain import Explanation, match
from .smallfloat import LENGTH_TABLE

F32 = np.float32
ONE = F32(1.0)
NO_NORM = 1
"""The norm value Lucene's LeafSimScorer uses for a field indexed without norms."""


@dataclass(frozen=True)
class BM25:
    """One BM25 similarity (``k1``, ``b`` as Java floats); ``legacy`` multiplies boosts by 1 + k1."""

    k1: np.float32 = F32(1.2)
    b: np.float32 = F32(0.75)
    legacy: bool = False

    @staticmethod
    def idf(doc_freq: int, doc_count: int) -> np.float32:
        return F32(math.log(1 + (doc_count - doc_freq + 0.5) / (doc_freq + 0.5)))

    @staticmethod
    def avgdl(sum_total_term_freq: int, doc_count: int) -> np.float32:
        return F32(sum_total_term_freq / float(doc_count))

    def norm_inverse_table(self, avgdl: np.float32) -> np.ndarray:
        """The per-norm-byte cache ``1 / (k1 * ((1 - b) + b * dl / avgdl))`` (256 floats)."""
        with np.errstate(divide="ignore"):
            return (ONE / (self.k1 * ((ONE - self.b) + self.b * LENGTH_TABLE / avgdl))).astype(F32)

    def scorer_boost(self, boost: np.float32) -> np.float32:
        """The boost the BM25 scorer is created with (LegacyBM25: ``boost * (1 + k1)``)."""
        return F32(boost * (ONE + self.k1)) if self.legacy else F32(boost)

    def weight(self, boost: np.float32, idf: np.float32) -> np.float32:
        return F32(self.scorer_boost(boost) * idf)

    @staticmethod
    def score_scaled(weight: np.float32, scaled_freq: np.ndarray) -> np.ndarray:
        """``weight - weight / (1 + scaled_freq)`` in float32, ``scaled_freq`` being ``freq * normInverse``."""
        out = scaled_freq + ONE
        np.divide(weight, out, out=out)
        np.subtract(weight, out, out=out)
        return out

    def explain(self, *, field: str, term: str, doc: int, boost: np.float32, doc_freq: int, doc_count: int,
                freq: float, norm: int, avgdl: np.float32, score: np.float32) -> Explanation:
        """Lucene's TermWeight/BM25Scorer explanation of one document's term score."""
        sim_boost = self.scorer_boost(boost)
        details: list[Explanation] = []
        if sim_boost != ONE:
            details.append(match(sim_boost, "boost"))
        idf = self.idf(doc_freq, doc_count)
        details.append(match(idf, "idf, computed as log(1 + (N - n + 0.5) / (n + 0.5)) from:", [
            match(doc_freq, "n, number of documents containing term"),
            match(doc_count, "N, total number of documents with field")]))
        dl = LENGTH_TABLE[norm]
        norm_inverse = ONE / (self.k1 * ((ONE - self.b) + self.b * dl / avgdl))
        freq32 = F32(freq)
        tf = ONE - ONE / (ONE + freq32 * norm_inverse)
        details.append(match(tf, "tf, computed as freq / (freq + k1 * (1 - b + b * dl / avgdl)) from:", [
            match(freq32, "freq, occurrences of term within document"),
            match(self.k1, "k1, term saturation parameter"),
            match(self.b, "b, length normalization parameter"),
            match(dl, "dl, length of field (approximate)" if norm > 39 else "dl, length of field"),
            match(avgdl, "avgdl, average length of field")]))
        inner = match(score, f"score(freq={float(freq32)}), computed as boost * idf * tf from:", details)
        return match(score, f"weight({field}:{term} in {doc}) [PerFieldSimilarity], result of:", [inner])

