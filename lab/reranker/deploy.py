"""``lab reranker deploy``: a lab cross-encoder into an OpenSearch cluster's ml-commons, so that the cluster's own
``rerank`` response processor (``ml_opensearch``) scores the hits. The model is exported to ONNX once
(:mod:`.onnx_export`), registered under the name ``relevance-lab-<name>-<fingerprint[:16]>`` and deployed; a model
of that name already on the cluster is reused (deployed again when it is not; one whose upload was cut short is
not), so an interrupted deploy resumes."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

from ..backends.opensearch_ml import CHUNK_BYTES, MlCommons, MlModel
from ..errors import LabError
from ..progress import ProgressFactory, silent
from .onnx_export import export_reranker
from .store import load_reranker_card

DEPLOYED = "DEPLOYED"
REUSABLE = ("REGISTERED", "DEPLOYING", DEPLOYED, "PARTIALLY_DEPLOYED", "UNDEPLOYED", "DEPLOY_FAILED")
"""States of a model whose every chunk arrived (an upload cut short leaves one REGISTERING, never reused)."""
FINGERPRINT_CHARS = 16
NAMED = re.compile(rf"relevance-lab-(?P<name>.+)-(?P<fingerprint>[0-9a-f]{{{FINGERPRINT_CHARS}}})")
"""ml-commons keeps a registered model's name but not its description: the name carries the fingerprint."""


@dataclass(frozen=True)
class Deployment:
    """A reranker deployed in ml-commons: its model id, and what this call did (``registered``: uploaded now;
    otherwise a model already on the cluster was reused)."""

    name: str
    fingerprint: str
    model_id: str
    registered: bool
    seconds: float


def model_name(name: str, fingerprint: str) -> str:
    """The ml-commons model name of lab reranker ``name``: ``relevance-lab-<name>-<fingerprint[:16]>``."""
    return f"relevance-lab-{name}-{fingerprint[:FINGERPRINT_CHARS]}"


def lab_reranker_of(model: MlModel) -> tuple[str, str] | None:
    """(lab reranker name, the first 16 hex digits of its fingerprint) of a model ``lab reranker deploy``
    registered; None for any other."""
    match = NAMED.fullmatch(model.name)
    return (match["name"], match["fingerprint"]) if match else None


def ml_commons(lab: Any, command: str) -> MlCommons:
    """The ml-commons API of the lab's backend; LabError unless it is an OpenSearch cluster with the plugin."""
    if lab.backend.name != "opensearch":
        raise LabError(f"{command} deploys into OpenSearch's ml-commons: add --backend opensearch (the "
                       f"{lab.backend.name} backend reranks with the lab's own model)")
    ml = MlCommons(lab.backend)
    ml.require()
    return ml


def deploy_reranker(lab: Any, name: str, progress: ProgressFactory | None = None) -> Deployment:
    """Deploy lab reranker ``name`` into the cluster's ml-commons (see the module's docstring)."""
    progress = progress or silent()
    ml = ml_commons(lab, "`lab reranker deploy`")
    path, card = load_reranker_card(lab.workspace, name)
    started = time.perf_counter()
    fingerprint = card["fingerprint"]
    found = (ml.model(m.model_id) for m in ml.find(model_name(name, fingerprint)))  # states as of now (a search
    same = [m for m in found if m is not None and m.state in REUSABLE]                # may lag behind them)
    registered = not same
    if same:
        model_id = next((m.model_id for m in same if m.state == DEPLOYED), same[0].model_id)
    else:
        with progress(f"Exporting {name} to ONNX", 1) as advance:
            export = export_reranker(lab.workspace, name, path, fingerprint, card["config"]["max_seq_length"])
            advance(1)
        model_type = json.loads((path / "config.json").read_text(encoding="utf-8")).get("model_type", "bert")
        with progress(f"Uploading {name} to ml-commons", -(-export.size // CHUNK_BYTES)) as advance:
            model_id = ml.register(model_name(name, fingerprint), f"relevance-lab cross-encoder '{name}' "
                                   f"(fingerprint {fingerprint})", export.path, export.sha256, model_type,
                                   progress=advance)
    current = ml.model(model_id)
    if current is None or current.state != DEPLOYED:
        with progress(f"Deploying {name}", 1) as advance:
            ml.deploy(model_id)
            advance(1)
    return Deployment(name, fingerprint, model_id, registered, time.perf_counter() - started)
