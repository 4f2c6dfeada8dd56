"""int8 inference: the reranker's ONNX graph (:mod:`.onnx_export`) with its weights quantized to int8 by ONNX
Runtime's dynamic quantization, run by ONNX Runtime on the CPU. It is faster than torch's bf16 on CPUs with int8
dot products (VNNI) and less exact: the card records how far it moves the val nDCG@10, and ``auto`` picks it only
within the same tolerance as bf16. The graph is built once per reranker fingerprint, under
``rerankers/.onnx/``."""

from __future__ import annotations

import logging
import tempfile
import threading
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..workspace import atomic_path
from .onnx_export import INPUTS, export_path, export_reranker


def int8_graph(workspace: Path, name: str, path: Path, fingerprint: str, max_length: int) -> Path:
    """The int8 graph of reranker ``name`` (see :func:`.onnx_export.export_reranker`), built on first use."""
    target = export_path(workspace, name, fingerprint).with_suffix(".int8.onnx")
    if not target.exists():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        export = export_reranker(workspace, name, path, fingerprint, max_length)
        with tempfile.TemporaryDirectory(dir=target.parent) as scratch, atomic_path(target) as staging:
            fp32 = Path(scratch) / "model.onnx"
            with zipfile.ZipFile(export.path) as archive:
                fp32.write_bytes(archive.read("model.onnx"))
            logging.disable(logging.WARNING)  # its advice to pre-process the graph, printed on the root logger
            try:
                quantize_dynamic(str(fp32), str(staging), weight_type=QuantType.QInt8)
            finally:
                logging.disable(logging.NOTSET)
    return target


class Int8CrossEncoder:
    """The int8 graph behind the part of the ``CrossEncoder`` interface that :func:`.scorer.predict` uses:
    ``tokenizer``, ``max_seq_length``, ``preprocess`` (pairs to the graph's inputs) and ``forward`` (sigmoid
    scores, as the graph ends in one). ``forward`` runs on as many threads as torch's setting on the calling thread
    (``predict`` shares them out between its streams): one ONNX Runtime session per thread count."""

    def __init__(self, graph: Path, model_dir: Path, max_length: int):
        from transformers import AutoTokenizer

        self.graph = graph
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
        self.max_seq_length = max_length
        self._sessions: dict[int, Any] = {}
        self._lock = threading.Lock()

    def preprocess(self, pairs: list[tuple[str, str]]) -> dict[str, np.ndarray]:
        """The graph's inputs for a batch of (query, text) pairs, truncated and padded as the CrossEncoder does."""
        encoded = self.tokenizer([q for q, _ in pairs], [t for _, t in pairs], truncation=True,
                                 max_length=self.max_seq_length, padding=True, return_tensors="np")
        return {name: encoded[name].astype(np.int64) for name in INPUTS}

    def forward(self, features: dict[str, np.ndarray]) -> np.ndarray:
        """The score of each pair of a batch (ONNX Runtime releases the GIL while it runs)."""
        return self.session().run(None, features)[0][:, 0].astype(np.float32)

    def session(self) -> Any:
        """The session running on torch's current number of threads."""
        import onnxruntime
        import torch

        threads = torch.get_num_threads()
        with self._lock:
            if threads not in self._sessions:
                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads = threads
                options.inter_op_num_threads = 1
                self._sessions[threads] = onnxruntime.InferenceSession(str(self.graph), options,
                                                                       providers=["CPUExecutionProvider"])
            return self._sessions[threads]
