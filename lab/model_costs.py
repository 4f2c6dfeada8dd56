"""What the model(s) behind a run cost: training seconds and catalogue re-index (encoding) seconds.

Base model: nothing trained, its catalogue encoded once. Fine-tuned model: its card's training seconds,
and its whole catalogue must be encoded again. Query-side adapter: its card's training seconds and no
re-indexing at all (the index keeps the base model's vectors). Stored in each run's manifest."""

from __future__ import annotations

from typing import Any

from .adapters import is_adapter_key
from .context import Lab
from .indexer import encode_records


def model_cost(lab: Lab, model: str) -> dict[str, Any]:
    """``kind`` (base, fine-tuned, adapter, model), ``train_seconds`` and ``reindex_seconds`` (None:
    unknown) with ``reindex_basis`` (how the re-index seconds were obtained, see EncodeTally.record)."""
    encoder = lab.encoder(model)
    if is_adapter_key(model):
        return {"kind": "adapter", "train_seconds": encoder.card["training"]["seconds"], "reindex_seconds": 0.0,
                "reindex_basis": "none needed"}
    kind, train_seconds = _trained(lab, model)
    record = encode_records(lab).get(model)
    if record is None or record.get("fingerprint") != encoder.fingerprint:
        return {"kind": kind, "train_seconds": train_seconds, "reindex_seconds": None, "reindex_basis": "unknown"}
    return {"kind": kind, "train_seconds": train_seconds, "reindex_seconds": record["estimated_seconds"],
            "reindex_basis": record["basis"]}


def model_costs(lab: Lab, models: list[str]) -> dict[str, dict[str, Any]]:
    return {model: model_cost(lab, model) for model in models}


def _trained(lab: Lab, model: str) -> tuple[str, float | None]:
    """The model's kind and training seconds: 0 for a base model, its card's for a fine-tuned one."""
    from .embeddings.models import base_models, resolve_model_dir
    from .finetune.card import CARD_JSON
    from .workspace import read_json

    if model in base_models():
        return "base", 0.0
    card = resolve_model_dir(model, lab.workspace) / CARD_JSON
    if card.is_file():
        return "fine-tuned", read_json(card)["training"]["seconds"]
    return "model", None
