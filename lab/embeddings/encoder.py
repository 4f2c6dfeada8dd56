"""Batched CPU encoding with a model's own pooling and normalisation, in fp32 or bf16."""

from __future__ import annotations

import os
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import LabError
from ..progress import Advance
from .models import load_sentence_transformer, model_fingerprint, resolve_model_dir
from .precision import PrecisionReport, decide_precision, requested_precision

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

THREADS_ENV = "LAB_TORCH_THREADS"
DEFAULT_BATCH_SIZE = 64
CALIBRATION_BATCH_SIZE = 8  # keeps the one long calibration text from padding all the others


def torch_threads() -> int:
    """$LAB_TORCH_THREADS, else the number of cores this process may run on."""
    value = os.environ.get(THREADS_ENV)
    if value is None:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if not value.isdigit() or int(value) < 1:
        raise LabError(f"{THREADS_ENV}: '{value}' is not a positive integer")
    return int(value)


class Encoder:
    """One loaded model: ``encode`` turns texts into float32 vectors, shape (n, dimension)."""

    def __init__(self, key: str, path: Path, model: SentenceTransformer, precision: str = "auto"):
        self.key = key
        self.path = path
        self._model = model.eval()
        self.fingerprint = model_fingerprint(path, model)
        self.dimension = int(self._run([""], False).shape[1])
        self.precision_report: PrecisionReport = decide_precision(
            precision, lambda texts, bf16: self._run(texts, bf16, CALIBRATION_BATCH_SIZE))

    @property
    def precision(self) -> str:
        return self.precision_report.precision

    @property
    def cache_namespace(self) -> str:
        """What cached vectors are filed under: the model fingerprint and the precision used."""
        return f"{self.fingerprint}-{self.precision}"

    def encode(self, texts: list[str], batch_size: int = DEFAULT_BATCH_SIZE,
               progress: Advance | None = None) -> np.ndarray:
        """Vectors for ``texts`` in order, encoded in batches of similar length."""
        return self._run(texts, self.precision == "bf16", batch_size, progress)

    def _run(self, texts: list[str], bf16: bool, batch_size: int = DEFAULT_BATCH_SIZE,
             progress: Advance | None = None) -> np.ndarray:
        import torch

        if batch_size < 1:
            raise LabError(f"batch size must be positive, got {batch_size}")
        order = np.argsort([len(text) for text in texts], kind="stable")
        vectors: np.ndarray | None = None
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                rows = order[start:start + batch_size]
                batch = self._forward([texts[i] for i in rows], bf16)
                if vectors is None:
                    vectors = np.empty((len(texts), batch.shape[1]), dtype=np.float32)
                vectors[rows] = batch
                if progress is not None:
                    progress(len(rows))
        return vectors if vectors is not None else np.empty((0, self.dimension), dtype=np.float32)

    def _forward(self, texts: list[str], bf16: bool) -> np.ndarray:
        """The transformer under bf16 autocast (when asked); pooling and the rest in fp32."""
        import torch

        input_module, *rest = self._model
        features = self._model.preprocess(texts)
        autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext()
        with autocast:
            features = input_module(features)
        features = {name: _as_fp32(value) for name, value in features.items()}
        for module in rest:
            features = module(features)
        return features["sentence_embedding"].numpy()


def _as_fp32(value: Any) -> Any:
    import torch

    return value.float() if isinstance(value, torch.Tensor) and value.is_floating_point() else value


def load_encoder(key: str, workspace: str | os.PathLike[str], precision: str | None = None) -> Encoder:
    """The encoder for ``minilm``, a model under ``<workspace>/models``, or a model directory path.

    ``precision`` (or $LAB_EMBED_PRECISION): ``auto`` (default), ``fp32`` or ``bf16``.
    """
    import torch

    requested = requested_precision(precision)
    torch.set_num_threads(torch_threads())
    path = resolve_model_dir(key, workspace)
    return Encoder(key, path, load_sentence_transformer(path), requested)
