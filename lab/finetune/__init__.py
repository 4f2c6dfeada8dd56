"""Fine-tuning the embedding model on the catalogue's judgments, and proving the gain.

The public names load their modules on first use, so that ``lab.finetune.config`` (which every
`lab` command reads for its options) does not pull in torch and transformers.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "assert_same_pipeline": "base_models", "candidates": "base_models", "pipeline_signature": "base_models",
    "load_card": "card", "compare_models": "compare", "DEFAULT_NAME": "config", "FinetuneConfig": "config",
    "TrainingData": "examples", "build_training_data": "examples", "draw_plots": "report",
    "load_report": "report", "report_dir": "report", "FinetuneResult": "trainer", "finetune": "trainer",
    "model_dir": "trainer",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
