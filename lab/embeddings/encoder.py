"""Batched CPU encoding with a model's own pooling and normalisation, in fp32 or bf16."""

from __future__ import annotations

import os
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import LabError
from ..progress import Advance
from .memo import cpu_signature, read_memo, remember
from .models import load_sentence_transformer, model_files_digest, model_fingerprint, resolve_model_dir
from .precision import PrecisionReport, decide_precision, requested_precision

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

THREADS_ENV = "LAB_TORCH_THREADS"
DEFAULT_BATCH_SIZE = 64
CALIBRATION_BATCH_SIZE = 8  # keeps the one long calibration text from padding all the others
MEMO_FILE = "encoders.json"
"""In the embedding cache's directory: what each model's loading found (see :class:`Encoder`)."""


def torch_threads() -> int:
    """$LAB_TORCH_THREADS, else the number of cores this process may run on."""
    value = os.environ.get(THREADS_ENV)
    if value is None:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if not value.isdigit() or int(value) < 1:
        raise LabError(f"{THREADS_ENV}: '{value}' is not a positive integer")
    return int(value)


class Encoder:
    """One model: ``encode`` turns texts into float32 vectors, shape (n, dimension).

    The model loads on first use. Its fingerprint, dimension and precision are remembered in ``memo`` (by
    the content of the model's files, the requested precision and the CPU), so a run whose vectors are all
    in the embedding cache never imports torch.
    """

    def __init__(self, key: str, path: Path, precision: str = "auto", memo: Path | None = None):
        self.key = key
        self.path = path
        self._model: SentenceTransformer | None = None
        entry = f"{model_files_digest(path)}/{precision}/{cpu_signature()}"
        known = read_memo(memo).get(entry) if memo is not None else None
        try:
            self.fingerprint: str = str(known["fingerprint"])
            self.dimension: int = int(known["dimension"])
            self.precision_report = PrecisionReport(**known["precision"])
            return
        except (KeyError, TypeError, ValueError):
            pass  # not remembered (or a damaged entry): load the model and find out
        self.fingerprint = model_fingerprint(path, self.model)
        self.dimension = int(self._run([""], False).shape[1])
        self.precision_report: PrecisionReport = decide_precision(
            precision, lambda texts, bf16: self._run(texts, bf16, CALIBRATION_BATCH_SIZE))
        if memo is not None:
            remember(memo, entry, {"fingerprint": self.fingerprint, "dimension": self.dimension,
                                   "precision": self.precision_report.as_dict()})

    @property
    def model(self) -> SentenceTransformer:
        """The loaded sentence-transformers model (loaded now if it was not)."""
        if self._model is None:
            import torch

            torch.set_num_threads(torch_threads())
            self._model = load_sentence_transformer(self.path).eval()
        return self._model

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

        input_module, *rest = self.model
        features = self.model.preprocess(texts)
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
    requested = requested_precision(precision)
    path = resolve_model_dir(key, workspace)
    return Encoder(key, path, requested, memo=Path(workspace) / "embeddings" / MEMO_FILE)
