"""Query-side adapters: a small head trained on frozen base-model vectors and applied to query vectors
only, so the index's document vectors stay valid (no re-indexing). Model key ``<base>+adapter:<name>``."""

from __future__ import annotations

from .keys import adapter_key, document_model, is_adapter_key, parse_adapter_key

__all__ = ["adapter_key", "document_model", "is_adapter_key", "parse_adapter_key"]
