"""Sentence embeddings: model registry, batched encoding, and an on-disk vector cache."""

from __future__ import annotations

from .cache import EmbeddingCache, encode_cached
from .encoder import Encoder, load_encoder
from .precision import PrecisionReport

__all__ = ["EmbeddingCache", "Encoder", "PrecisionReport", "encode_cached", "load_encoder"]
