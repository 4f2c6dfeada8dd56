"""An append-only on-disk vector cache keyed by model (fingerprint + precision) and sha1(text).

Layout: ``<root>/<namespace>/shard-*/{keys.npy,vectors.npy}``. Each shard is written in one
atomic rename, so an interrupted encode loses at most the shard being encoded; shards are read
lazily (vectors memory-mapped) and merged into one once there are many.
"""

from __future__ import annotations

import hashlib
import errno
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Sequence

import numpy as np

from ..progress import Advance
from ..workspace import atomic_path
from .encoder import DEFAULT_BATCH_SIZE, Encoder

SHARD_SIZE = 4096
ENCODE_CHUNK = 256
"""Texts encoded per call: an interrupt loses none of the chunks already encoded (they are stored then)."""
COMPACT_ABOVE = 64
KEY_DTYPE = "S40"
UNWRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT)
"""Why a cache write may fail without failing the command: the vectors are computed either way."""


def text_key(text: str) -> bytes:
    """The cache key of a text: its sha1, hex (never ends in NUL, so numpy bytes round-trip it)."""
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest().encode("ascii")


class _Shelf:
    """The shards of one namespace loaded so far, and a key → (shard, row) index over them."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.names: list[str] = []
        self.vectors: list[np.ndarray] = []
        self.index: dict[bytes, tuple[int, int]] = {}

    def refresh(self) -> None:
        """Load shards written since the last look (by this process or another)."""
        known = set(self.names)
        for shard in sorted(self.directory.glob("shard-*")):
            if shard.name in known:
                continue
            try:
                keys = np.load(shard / "keys.npy")
                vectors = np.load(shard / "vectors.npy", mmap_mode="r")
            except FileNotFoundError:
                continue  # merged away by a concurrent compaction; its rows are in the merged shard
            number = len(self.names)
            self.names.append(shard.name)
            self.vectors.append(vectors)
            for row, key in enumerate(keys.tolist()):
                self.index.setdefault(key, (number, row))

    def gather(self, locations: list[tuple[int, int]], dimension: int) -> np.ndarray:
        out = np.empty((len(locations), dimension), dtype=np.float32)
        if not locations:
            return out
        shards, rows = np.asarray(locations, dtype=np.int64).T
        for shard in np.unique(shards):
            mask = shards == shard
            out[mask] = self.vectors[shard][rows[mask]]
        return out


class EmbeddingCache:
    """Vectors on disk under ``root``, one namespace per model fingerprint and precision."""

    def __init__(self, root: str | os.PathLike[str], compact_above: int = COMPACT_ABOVE):
        self.root = Path(root)
        self.compact_above = compact_above
        self.writable = True
        self._shelves: dict[str, _Shelf] = {}

    def _shelf(self, namespace: str) -> _Shelf:
        if namespace not in self._shelves:
            self._shelves[namespace] = _Shelf(self.root / namespace)
        shelf = self._shelves[namespace]
        shelf.refresh()
        return shelf

    def lookup(self, namespace: str, keys: Sequence[bytes], dimension: int) -> tuple[np.ndarray, np.ndarray]:
        """Positions in ``keys`` that are cached, and their vectors (one row per position)."""
        shelf = self._shelf(namespace)
        hits = [(position, shelf.index.get(key)) for position, key in enumerate(keys)]
        found = [(position, location) for position, location in hits if location is not None]
        positions = np.fromiter((p for p, _ in found), dtype=np.int64, count=len(found))
        return positions, shelf.gather([location for _, location in found], dimension)

    def store(self, namespace: str, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        """Write one new shard (atomically); merge the namespace's shards once there are many. Caching is optional:
        on a read-only or full disk nothing is written and the cache stays read-only (``writable`` False)."""
        if not len(keys) or not self.writable:
            return
        directory = self.root / namespace
        try:
            _write_shard(directory, np.asarray(keys, dtype=KEY_DTYPE), np.asarray(vectors, dtype=np.float32))
            if sum(1 for _ in directory.glob("shard-*")) > self.compact_above:
                self.compact(namespace)
        except OSError as exc:
            if exc.errno not in UNWRITABLE:
                raise
            self.writable = False

    def count(self, namespace: str) -> int:
        """How many distinct texts are cached for ``namespace``."""
        return len(self._shelf(namespace).index)

    def compact(self, namespace: str) -> None:
        """Merge every shard of ``namespace`` into one, dropping duplicate keys."""
        shelf = self._shelf(namespace)
        if len(shelf.names) < 2:
            return
        keys = list(shelf.index)
        dimension = shelf.vectors[0].shape[1]
        vectors = shelf.gather([shelf.index[key] for key in keys], dimension)
        _write_shard(shelf.directory, np.asarray(keys, dtype=KEY_DTYPE), vectors)
        for name in shelf.names:
            shutil.rmtree(shelf.directory / name, ignore_errors=True)
        del self._shelves[namespace]


def _write_shard(directory: Path, keys: np.ndarray, vectors: np.ndarray) -> None:
    target = directory / f"shard-{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    with atomic_path(target) as staged:
        staged.mkdir()
        np.save(staged / "keys.npy", keys)
        np.save(staged / "vectors.npy", vectors)


def encode_cached(encoder: Encoder, texts: Sequence[str], cache: EmbeddingCache,
                  progress: Advance | None = None, batch_size: int = DEFAULT_BATCH_SIZE,
                  shard_size: int = SHARD_SIZE) -> np.ndarray:
    """Vectors for ``texts`` (float32, one row per text): cached ones read, the rest encoded once.

    Duplicate texts are encoded once; new vectors are stored ``shard_size`` at a time.
    ``progress`` is advanced by the number of distinct texts, cached ones included.
    """
    unique = list(dict.fromkeys(texts))
    keys = [text_key(text) for text in unique]
    namespace = encoder.cache_namespace
    vectors = np.empty((len(unique), encoder.dimension), dtype=np.float32)
    positions, cached = cache.lookup(namespace, keys, encoder.dimension)
    vectors[positions] = cached
    if progress is not None and len(positions):
        progress(len(positions))
    is_cached = np.zeros(len(unique), dtype=bool)
    is_cached[positions] = True
    missing = sorted(np.flatnonzero(~is_cached).tolist(), key=lambda i: len(unique[i]))
    pending: list[int] = []  # encoded, not stored yet

    def flush() -> None:
        if pending:
            cache.store(namespace, [keys[i] for i in pending], vectors[pending])
            pending.clear()

    step, done = min(shard_size, ENCODE_CHUNK), len(positions)
    try:
        for start in range(0, len(missing), step):
            chunk = missing[start:start + step]
            vectors[chunk] = encoder.encode([unique[i] for i in chunk], batch_size=batch_size, progress=progress)
            pending.extend(chunk)
            done += len(chunk)
            if len(pending) >= shard_size:
                flush()
    except KeyboardInterrupt as exc:
        flush()  # nothing encoded is lost: the next run reads these from the cache
        exc.add_note(f"the {done:,} of {len(unique):,} {encoder.key} vectors done so far are cached; run the command "
                     "again to resume")
        raise
    flush()
    if len(unique) == len(texts):
        return vectors
    row = {text: i for i, text in enumerate(unique)}
    return vectors[[row[text] for text in texts]]
