"""Model keys of query-side adapters: ``<base>+adapter:<name>`` (e.g. ``minilm+adapter:adapter``)."""

from __future__ import annotations

MARK = "+adapter:"


def adapter_key(base: str, name: str) -> str:
    """The model key that encodes queries with adapter ``name`` on top of model ``base``."""
    return f"{base}{MARK}{name}"


def parse_adapter_key(key: str) -> tuple[str, str] | None:
    """(base model key, adapter name) of an adapter key; None for any other model key."""
    base, mark, name = key.rpartition(MARK)
    return (base, name) if mark and base and name else None


def is_adapter_key(key: str) -> bool:
    return parse_adapter_key(key) is not None


def document_model(key: str) -> str:
    """The model whose vectors the index must hold for ``key``: an adapter's base, else the model itself."""
    parsed = parse_adapter_key(key)
    return parsed[0] if parsed else key
