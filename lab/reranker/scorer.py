"""Scoring (query, product text) pairs with a reranker: deduplicated, cached scores first, the rest through the
CrossEncoder in batches (bf16 autocast where its card found it exact enough on `val`), stored back."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..progress import Advance
from .scores import ScoreCache, pair_key
from .store import RERANKERS

DEFAULT_BATCH_SIZE = 64
PRECISION_ENV = "LAB_RERANK_PRECISION"
"""auto (the card's choice, made on `val`), fp32, bf16 (only where the CPU computes it natively) or int8 (ONNX
Runtime, lab.reranker.quantized)."""
PRECISIONS = ("auto", "fp32", "bf16", "int8")
STORE_EVERY = 8192
"""Pairs scored between two writes to the cache (what an interrupted run keeps)."""


def load_cross_encoder(path: Path) -> Any:
    """The CrossEncoder in ``path`` on the CPU, offline, without progress bars or load reports."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    from sentence_transformers import CrossEncoder

    from ..errors import LabError
    from ..finetune.trainer import quiet_libraries

    quiet_libraries()
    try:
        with redirect_stderr(io.StringIO()), redirect_stdout(io.StringIO()):
            return CrossEncoder(str(path), device="cpu", local_files_only=True)
    except (OSError, ValueError) as exc:
        raise LabError(f"cannot load the cross-encoder in {path}: {str(exc).splitlines()[0]}") from exc


def token_lengths(model: Any, queries: list[str], texts: list[str]) -> np.ndarray:
    """Tokens the model reads of each (query, text) pair, special tokens included, after truncation."""
    encoded = model.tokenizer(queries, texts, truncation=True, max_length=model.max_seq_length, return_length=True)
    return np.asarray(encoded["length"], dtype=np.int64)


def predict(model: Any, queries: list[str], texts: list[str], batch_size: int, bf16: bool,
            streams: int | None = None) -> np.ndarray:
    """The model's scores (sigmoid of its logit) of each (query, text) pair, float32. Batches are cut from the
    pairs sorted by token count, so each pads to nearly its own length (sentence-transformers sorts by characters,
    which pads Home Depot's unit-laden titles a third longer). They run as ``streams`` parallel streams (default:
    one per torch thread, each batch on one core — splitting MiniLM's small matrices across the cores instead
    spends a share of every layer waiting for the other core); torch's threads are shared out between the streams.
    Tokenizing stays on the calling thread (a fast tokenizer is not safe to share between threads)."""
    import torch

    scores = np.empty(len(queries), dtype=np.float32)
    if not queries:
        return scores
    order = np.argsort(token_lengths(model, queries, texts), kind="stable")
    batches = [order[lo:lo + batch_size] for lo in range(0, len(order), batch_size)]
    forward = batch_forward(model, bf16)
    threads = torch.get_num_threads()
    streams = max(1, min(streams or threads, len(batches)))

    def run(rows: np.ndarray, features: Any) -> None:
        scores[rows] = forward(features)

    torch.set_num_threads(max(1, threads // streams))
    try:
        with ThreadPoolExecutor(streams) as pool:
            pending = [pool.submit(run, rows, model.preprocess([(queries[i], texts[i]) for i in rows]))
                       for rows in batches]
            for done in pending:
                done.result()
    finally:
        torch.set_num_threads(threads)
    return scores


def batch_forward(model: Any, bf16: bool) -> Callable[[Any], np.ndarray]:
    """What scores one tokenized batch of ``model`` (its ``preprocess`` output) on the calling thread: the
    CrossEncoder's forward and activation, as its ``predict`` applies them, under bf16 autocast if asked; the int8
    graph's own ``forward``."""
    import torch

    if not hasattr(model, "activation_fn"):
        return model.forward
    model.eval()

    def forward(features: Any) -> np.ndarray:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(features)["scores"].float()
            return model.activation_fn(logits).reshape(-1).numpy()

    return forward


def card_precision(card: dict[str, Any]) -> str:
    """The precision the reranker's card chose on `val`: int8, bf16 or fp32 (cards before int8 say bf16 or not)."""
    inference = card.get("inference", {})
    return inference.get("precision") or ("bf16" if inference.get("bf16") else "fp32")


@dataclass
class ScoringStats:
    """What scoring cost: pairs asked for, answered by the cache, scored by the model, seconds."""

    pairs: int = 0
    cached: int = 0
    scored: int = 0
    seconds: float = 0.0

    def record(self) -> dict[str, Any]:
        rate = self.pairs / self.seconds if self.seconds > 0 else None
        return {"pairs": self.pairs, "cached_pairs": self.cached, "scored_pairs": self.scored,
                "seconds": round(self.seconds, 3), "pairs_per_second": None if rate is None else round(rate, 1)}


class CrossEncoderScorer:
    """Scores of one reranker (``path``, ``card``) with a score cache under ``<workspace>/rerankers/.scores``
    (None: no cache); the model loads only when the cache misses. ``streams``: see :func:`predict`."""

    def __init__(self, path: Path, card: dict[str, Any], workspace: Path | None,
                 batch_size: int = DEFAULT_BATCH_SIZE, precision: str | None = None, streams: int | None = None):
        from ..embeddings.precision import cpu_has_native_bf16
        from ..errors import LabError

        self.path, self.card, self.batch_size, self.streams = path, card, batch_size, streams
        self.fingerprint: str = card["fingerprint"]
        requested = precision or os.environ.get(PRECISION_ENV, "auto").strip().lower()
        if requested not in PRECISIONS:
            raise LabError(f"{PRECISION_ENV}: '{requested}' is not one of {', '.join(PRECISIONS)}")
        self.precision = card_precision(card) if requested == "auto" else requested
        if self.precision == "bf16" and not cpu_has_native_bf16():
            self.precision = "fp32"
        namespace = f"{self.fingerprint[:16]}-{self.precision}"
        self.cache = ScoreCache(Path(workspace) / RERANKERS / ".scores", namespace) if workspace else None
        self._model: Any = None

    def model(self) -> Any:
        if self._model is None:
            if self.precision == "int8":
                from .quantized import Int8CrossEncoder, int8_graph

                max_length = self.card["config"]["max_seq_length"]
                workspace = self.path.parent.parent  # <workspace>/rerankers/<name>
                graph = int8_graph(workspace, self.path.name, self.path, self.fingerprint, max_length)
                self._model = Int8CrossEncoder(graph, self.path, max_length)
            else:
                self._model = load_cross_encoder(self.path)
        return self._model

    def score(self, queries: list[str], texts: list[str], advance: Advance | None = None,
              stats: ScoringStats | None = None) -> np.ndarray:
        """The score of each (``queries[i]``, ``texts[i]``) pair; ``advance`` is called with the pairs done."""
        started = time.perf_counter()
        position: dict[bytes, int] = {}  # each distinct pair's place, in order of first appearance
        codes = np.fromiter((position.setdefault(pair_key(q, t), len(position)) for q, t in zip(queries, texts)),
                            dtype=np.int64, count=len(queries))
        unique = list(position)
        first = np.unique(codes, return_index=True)[1]  # the first pair of each distinct one
        found = self.cache.lookup(unique) if self.cache else np.full(len(unique), np.nan, dtype=np.float32)
        missing = np.flatnonzero(np.isnan(found))
        if advance:
            advance(len(codes) - len(missing))
        for lo in range(0, len(missing), STORE_EVERY):
            rows = missing[lo:lo + STORE_EVERY]
            at = first[rows].tolist()
            found[rows] = predict(self.model(), [queries[i] for i in at], [texts[i] for i in at], self.batch_size,
                                  self.precision == "bf16", self.streams)
            if self.cache:
                self.cache.store([unique[r] for r in rows], found[rows])
            if advance:
                advance(len(rows))
        out = found[codes]
        if stats is not None:
            stats.pairs += len(codes)
            stats.cached += len(codes) - len(missing)
            stats.scored += len(missing)
            stats.seconds += time.perf_counter() - started
        return out
