"""Cross-encoder scores cached on disk, keyed by the model's fingerprint and precision and by the (query, product
text) pair: ``<workspace>/rerankers/.scores/<namespace>/part-*.npz``. Each batch of new scores is one more part,
written atomically, so an interrupted run keeps what it stored and a second run scores nothing twice."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import numpy as np

from ..workspace import atomic_path

KEY_BYTES = 16


def pair_key(query: str, text: str) -> bytes:
    """The cache key of one (query, product text) pair."""
    return hashlib.sha1(query.encode("utf-8") + b"\0" + text.encode("utf-8")).digest()[:KEY_BYTES]


class ScoreCache:
    """The scores of one model (``namespace``: fingerprint and precision) under ``root``."""

    def __init__(self, root: Path, namespace: str):
        self.path = Path(root) / namespace
        self._scores: dict[bytes, float] | None = None

    def _load(self) -> dict[bytes, float]:
        if self._scores is None:
            self._scores = {}
            for part in sorted(self.path.glob("part-*.npz")):
                with np.load(part) as data:
                    keys = data["keys"]
                    self._scores.update(zip((row.tobytes() for row in keys), data["scores"].tolist()))
        return self._scores

    def lookup(self, keys: list[bytes]) -> np.ndarray:
        """The cached score of each key, NaN where there is none."""
        scores = self._load()
        return np.array([scores.get(k, np.nan) for k in keys], dtype=np.float32)

    def store(self, keys: list[bytes], scores: np.ndarray) -> None:
        """Add ``scores`` (one per key) as a new part."""
        if not keys:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.path / f"part-{uuid.uuid4().hex}.npz") as staged:
            with staged.open("wb") as handle:
                keys_array = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), KEY_BYTES)
                np.savez(handle, keys=keys_array, scores=scores.astype(np.float32))
        self._load().update(zip(keys, scores.astype(np.float32).tolist()))
