"""A reranker as the ONNX zip OpenSearch ml-commons registers as a ``TEXT_SIMILARITY`` model: ``model.onnx`` (the
cross-encoder's logit through a sigmoid, so the score a cluster returns is the one ``CrossEncoder.predict`` gives)
and ``tokenizer.json`` (truncating pairs at the reranker's max length, as the lab does) at the zip's top level.

ml-commons 2.19 runs the graph with ONNX Runtime 1.16, which reads IR versions up to 9: the graph is written with
opset 17 and IR 9. The zip is kept under ``rerankers/.onnx/`` keyed by the reranker's fingerprint, so a reranker
is exported once."""

from __future__ import annotations

import hashlib
import json
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..workspace import atomic_path
from .store import RERANKERS

OPSET = 17
MAX_IR_VERSION = 9
"""The newest ONNX IR that ml-commons 2.19's ONNX Runtime (1.16.x) loads."""
EXPORTS = ".onnx"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


@dataclass(frozen=True)
class OnnxExport:
    """An exported reranker: the zip, its sha256 and size (what ml-commons checks after the upload)."""

    path: Path
    sha256: str
    size: int


def export_path(workspace: Path, name: str, fingerprint: str) -> Path:
    """``<workspace>/rerankers/.onnx/<name>-<fingerprint[:16]>.zip``."""
    return Path(workspace) / RERANKERS / EXPORTS / f"{name}-{fingerprint[:16]}.zip"


def export_reranker(workspace: Path, name: str, path: Path, fingerprint: str, max_length: int) -> OnnxExport:
    """The ONNX zip of reranker ``name`` (model files in ``path`` with ``fingerprint``, pairs truncated at
    ``max_length`` tokens), written atomically on first use."""
    target = export_path(workspace, name, fingerprint)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as staging:
            with zipfile.ZipFile(staging, "w", zipfile.ZIP_DEFLATED) as archive:
                archive.writestr("model.onnx", onnx_graph(path))
                archive.writestr("tokenizer.json", truncating_tokenizer(path, max_length))
    data = target.read_bytes()
    return OnnxExport(target, hashlib.sha256(data).hexdigest(), len(data))


def onnx_graph(path: Path) -> bytes:
    """The serialized graph: sigmoid(logit) of the sequence-classification model in ``path``, batch and sequence
    axes dynamic."""
    import io

    import onnx
    import torch
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(str(path), dtype=torch.float32).eval()

    class Scorer(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return torch.sigmoid(self.model(input_ids=input_ids, attention_mask=attention_mask,
                                            token_type_ids=token_type_ids).logits)

    ids = torch.tensor([[101, 2023, 102, 1037, 102]], dtype=torch.long)
    example = (ids, torch.ones_like(ids), torch.tensor([[0, 0, 0, 1, 1]], dtype=torch.long))
    axes = {0: "batch", 1: "sequence"}
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on shapes it treats as dynamic
        torch.onnx.export(Scorer().eval(), example, buffer, dynamo=False, input_names=list(INPUTS),
                          output_names=["score"], dynamic_axes={**{n: axes for n in INPUTS}, "score": {0: "batch"}},
                          opset_version=OPSET, do_constant_folding=True)
    graph = onnx.load_from_string(buffer.getvalue())
    graph.ir_version = min(graph.ir_version, MAX_IR_VERSION)
    onnx.checker.check_model(graph)
    return graph.SerializeToString()


def truncating_tokenizer(path: Path, max_length: int) -> str:
    """The reranker's ``tokenizer.json`` truncating each pair to ``max_length`` tokens, longest first (ml-commons'
    tokenizer takes its truncation from this file)."""
    tokenizer = json.loads((path / "tokenizer.json").read_text(encoding="utf-8"))
    tokenizer["truncation"] = {"direction": "Right", "max_length": int(max_length), "strategy": "LongestFirst",
                               "stride": 0}
    tokenizer["padding"] = None
    return json.dumps(tokenizer, ensure_ascii=False)
