"""int8 inference: the reranker's ONNX graph (:mod:`.onnx_export`) with its weights quantized to int8 by ONNX
Runtime's dynamic quantization, run by ONNX Runtime on the CPU. It is faster than torch's bf16 on CPUs with int8
dot products (VNNI) and less exact: the card records how far it moves the val nDCG@10, and ``auto`` picks it only
within the same tolerance as bf16. The graph is built once per reranker fingerprint, under
``rerankers/.onnx/``."""

from __future__ import annotations

import logging
import tempfile
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
    ``tokenizer``, ``max_seq_length`` and ``predict`` (sigmoid scores, as the graph ends in one)."""

    def __init__(self, graph: Path, model_dir: Path, max_length: int):
        import onnxruntime
        import torch
        from transformers import AutoTokenizer

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
        self.max_seq_length = max_length

    def predict(self, pairs: list[tuple[str, str]], batch_size: int = 64, **_: Any) -> np.ndarray:
        """The score of each (query, text) pair."""
        scores = np.empty(len(pairs), dtype=np.float32)
        for lo in range(0, len(pairs), batch_size):
            batch = pairs[lo:lo + batch_size]
            encoded = self.tokenizer([q for q, _ in batch], [t for _, t in batch], truncation=True,
                                     max_length=self.max_seq_length, padding=True, return_tensors="np")
            feed = {name: encoded[name].astype(np.int64) for name in INPUTS}
            scores[lo:lo + len(batch)] = self.session.run(None, feed)[0][:, 0]
        return scores
