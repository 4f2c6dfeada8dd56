"""The encoder of an adapter key: base-model query vectors (from the embedding cache) through the head."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..embeddings.encoder import DEFAULT_BATCH_SIZE
from ..errors import LabError
from ..progress import Advance
from .heads import adapt
from .keys import parse_adapter_key
from .store import adapter_dir, adapter_fingerprint, load_card, load_head


def normalises(encoder: Any) -> bool:
    """Whether the model's pipeline ends in unit-length vectors (a Normalize module in modules.json)."""
    modules = json.loads((Path(encoder.path) / "modules.json").read_text(encoding="utf-8"))
    return any(str(m.get("type", "")).endswith("Normalize") for m in modules)


class AdapterEncoder:
    """Encodes like the base model, then applies the adapter head; usable wherever an Encoder is
    (``encode_cached``, ``runner.query_vectors``), for queries only: documents keep base vectors."""

    def __init__(self, key: str, base: Any, cache: Any, path: Path, card: dict[str, Any]):
        self.key = key
        self.base = base
        self.path = path
        self.card = card
        self._cache = cache
        self._head, weights_sha256 = load_head(path, card)
        self.normalise = bool(card["base_model"]["normalises"])
        self.fingerprint = adapter_fingerprint(base.fingerprint, card["kind"], weights_sha256, self.normalise)
        self.dimension = base.dimension

    @property
    def precision(self) -> str:
        return self.base.precision

    @property
    def precision_report(self) -> Any:
        return self.base.precision_report

    @property
    def cache_namespace(self) -> str:
        """Adapted vectors are filed apart from the base model's, under the adapter's fingerprint."""
        return f"adapter-{self.fingerprint}-{self.precision}"

    def encode(self, texts: list[str], batch_size: int = DEFAULT_BATCH_SIZE,
               progress: Advance | None = None) -> np.ndarray:
        """The base model's vectors for ``texts`` (read from the cache, or encoded and cached), adapted."""
        from ..embeddings import encode_cached

        base = encode_cached(self.base, texts, self._cache, progress=progress, batch_size=batch_size)
        return adapt(self._head, base, self.normalise)


def load_adapter_encoder(lab: Any, key: str) -> AdapterEncoder:
    """The encoder of ``<base>+adapter:<name>``; refuses an adapter trained on another base model or on
    another version of it (its fingerprint differs from the one on the card)."""
    parsed = parse_adapter_key(key)
    if parsed is None:
        raise LabError(f"'{key}' is not an adapter key (expected BASE+adapter:NAME)")
    base_key, name = parsed
    path = adapter_dir(lab.workspace, name)
    card = load_card(path)
    trained_on = card["base_model"]
    if trained_on["key"] != base_key:
        raise LabError(f"adapter '{name}' was trained on base model '{trained_on['key']}', not '{base_key}': "
                       f"use '{trained_on['key']}+adapter:{name}'")
    base = lab.encoder(base_key)
    if base.fingerprint != trained_on["fingerprint"]:
        raise LabError(f"adapter '{name}' was trained on another version of '{base_key}' (fingerprint "
                       f"{trained_on['fingerprint'][:12]}, now {base.fingerprint[:12]}): train it again with "
                       f"`lab finetune --adapter {card['kind']} --name {name} --overwrite`")
    return AdapterEncoder(key, base, lab.embedding_cache, path, card)
