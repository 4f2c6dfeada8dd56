"""How long encoding a model's catalogue takes (the re-index cost of a model): measured while indexing,
and honestly estimated where the embedding cache answered instead of the model."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .encoder import DEFAULT_BATCH_SIZE
from ..progress import Advance

SAMPLE_TEXTS = 128
"""Texts encoded (uncached) to measure the rate when fewer than this were encoded while indexing."""


@dataclass
class EncodeTally:
    """The distinct texts a model's vector fields needed, how many were encoded (not read from the
    cache) and the seconds spent encoding them."""

    texts: list[str] = field(default_factory=list)
    encoded: int = 0
    seconds: float = 0.0

    def record(self, encoder: Any, previous: dict[str, Any] | None = None) -> dict[str, Any]:
        """The index-state record of this encoding: counts, measured seconds and the estimated seconds
        of encoding every text with nothing cached. ``basis``: ``measured`` (everything was encoded),
        ``extrapolated`` (from the part that was), ``sampled`` (from SAMPLE_TEXTS texts encoded now),
        or the ``previous`` record's basis when it measured the same texts of the same model."""
        total = len(self.texts)
        record = {"fingerprint": encoder.fingerprint, "texts": total, "encoded": self.encoded,
                  "cached": total - self.encoded, "seconds": round(self.seconds, 2)}
        if self.encoded >= min(total, SAMPLE_TEXTS):
            basis = "measured" if self.encoded == total else "extrapolated"
            estimate = self.seconds * total / self.encoded if self.encoded else 0.0
        elif previous and previous.get("fingerprint") == encoder.fingerprint and previous.get("texts") == total:
            return {**record, "estimated_seconds": previous["estimated_seconds"], "basis": previous["basis"]}
        else:
            basis, estimate = "sampled", sampled_seconds(encoder, self.texts)
        return {**record, "estimated_seconds": round(estimate, 2), "basis": basis}


def sampled_seconds(encoder: Any, texts: list[str], seed: int = 0) -> float:
    """Seconds to encode all ``texts``, extrapolated from encoding a random sample of them now."""
    rng = np.random.default_rng(seed)
    sample = [texts[i] for i in rng.choice(len(texts), size=min(len(texts), SAMPLE_TEXTS), replace=False)]
    started = time.perf_counter()
    encoder.encode(sample)
    return (time.perf_counter() - started) * len(texts) / len(sample)


class TimedEncoder:
    """An encoder whose ``encode`` calls are counted in a tally (everything else is the encoder's)."""

    def __init__(self, encoder: Any, tally: EncodeTally):
        self._encoder = encoder
        self._tally = tally

    def __getattr__(self, name: str) -> Any:
        return getattr(self._encoder, name)

    def encode(self, texts: list[str], batch_size: int = DEFAULT_BATCH_SIZE,
               progress: Advance | None = None) -> np.ndarray:
        started = time.perf_counter()
        vectors = self._encoder.encode(texts, batch_size=batch_size, progress=progress)
        self._tally.seconds += time.perf_counter() - started
        self._tally.encoded += len(texts)
        return vectors
