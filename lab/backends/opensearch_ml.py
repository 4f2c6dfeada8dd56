"""OpenSearch ml-commons, as far as the lab uses it: register a cross-encoder's ONNX zip as a ``TEXT_SIMILARITY``
model (uploaded in chunks), deploy it, read a model's state, undeploy it. Every failure is one LabError line; the
settings a cluster must have for an upload are named in it."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import LabError

ML_PLUGIN = "opensearch-ml"
CHUNK_BYTES = 10_000_000
"""ml-commons refuses a chunk larger than this (ModelHelper.CHUNK_SIZE)."""
DEPLOY_TIMEOUT = 600.0
TEXT_SIMILARITY = "TEXT_SIMILARITY"
HINTS = {
    "allow_registering_model_via_local_file": "the cluster must allow uploaded models: set "
                                              "plugins.ml_commons.allow_registering_model_via_local_file to true",
    "no eligible node": "no ML node can take the model: set plugins.ml_commons.only_run_on_ml_node to false or "
                        "add a node with the ml role",
    "publish.djl.ai": "the node could not download DJL's PyTorch natives: start it with scripts/opensearch-local "
                      "(which installs them from Maven Central) or give it internet access",
}


@dataclass(frozen=True)
class MlModel:
    """A model as ml-commons describes it."""

    model_id: str
    name: str
    function_name: str
    state: str


class MlCommons:
    """The ml-commons API of one OpenSearch backend (its client, URL and one-line errors)."""

    def __init__(self, backend: Any):
        self.backend = backend
        self.client = backend.client

    def _call(self, action: str, method: str, path: str, body: Any = None) -> dict[str, Any]:
        with self.backend._requests(action):
            try:
                return self.client.transport.perform_request(method, path, body=body)
            except self.backend.request_errors as exc:
                hint = _hint(str(getattr(exc, "info", "")) + str(getattr(exc, "error", "")))
                if hint:
                    raise LabError(f"{action} on {self.backend.endpoint.url}: {hint}") from None
                raise

    def require(self) -> None:
        """Refuse a cluster without the ml-commons plugin, in one line."""
        plugins = self.backend.cluster.plugins
        if plugins is not None and ML_PLUGIN not in plugins:
            raise LabError(f"the cluster at {self.backend.endpoint.url} has no ml-commons plugin ({ML_PLUGIN}): "
                           "it cannot run a model (scripts/opensearch-local start --version 2.19.1 --plugins "
                           "knn,neural-search,ml)")

    def model(self, model_id: str) -> MlModel | None:
        """The model ``model_id``; None when the cluster has none of that id."""
        try:
            found = self.client.transport.perform_request("GET", f"/_plugins/_ml/models/{model_id}")
        except self.backend.request_errors as exc:
            if getattr(exc, "status_code", None) in (400, 404):  # ml-commons answers 400/404 for an unknown id
                return None
            raise self.backend._lab_error(exc, f"reading ml-commons model '{model_id}'", None) from None
        return _model(model_id, found)

    def find(self, name: str) -> list[MlModel]:
        """The models (not their chunks) named ``name``, newest first."""
        body = {"size": 100, "sort": [{"created_time": {"order": "desc"}}],
                "query": {"bool": {"filter": [{"term": {"name.keyword": name}}],
                                   "must_not": [{"exists": {"field": "chunk_number"}}]}}}
        found = self._call(f"searching ml-commons models named '{name}'", "POST", "/_plugins/_ml/models/_search",
                           body)
        return [_model(hit["_id"], hit["_source"]) for hit in found.get("hits", {}).get("hits", [])]

    def register(self, name: str, description: str, archive: Path, sha256: str, model_type: str,
                 progress: Callable[[int], None] | None = None) -> str:
        """Register the ONNX zip ``archive`` as a TEXT_SIMILARITY model and upload it in chunks; its model id."""
        data = archive.read_bytes()
        chunks = math.ceil(len(data) / CHUNK_BYTES)
        meta = {"name": name, "version": "1.0.0", "description": description, "function_name": TEXT_SIMILARITY,
                "model_format": "ONNX", "model_content_size_in_bytes": len(data), "model_content_hash_value": sha256,
                "total_chunks": chunks, "model_config": {"model_type": model_type, "embedding_dimension": 1,
                                                         "framework_type": "huggingface_transformers"}}
        answer = self._call(f"registering model '{name}'", "POST", "/_plugins/_ml/models/_register_meta", meta)
        model_id = answer["model_id"]
        for n in range(chunks):
            self._call(f"uploading chunk {n + 1} of {chunks} of model '{name}'", "POST",
                       f"/_plugins/_ml/models/{model_id}/upload_chunk/{n}", data[n * CHUNK_BYTES:(n + 1) * CHUNK_BYTES])
            if progress:
                progress(1)
        return model_id

    def deploy(self, model_id: str, timeout: float = DEPLOY_TIMEOUT) -> None:
        """Deploy the model and wait until its deploy task ends and the model reads DEPLOYED (the model's state
        is written after the task's, so it can still read DEPLOYING); LabError with the task's error if it fails."""
        action = f"deploying ml-commons model '{model_id}'"
        task_id = self._call(action, "POST", f"/_plugins/_ml/models/{model_id}/_deploy")["task_id"]
        deadline = time.monotonic() + timeout
        while (task := self._call(action, "GET", f"/_plugins/_ml/tasks/{task_id}")).get("state") != "COMPLETED":
            if task.get("state") in ("FAILED", "COMPLETED_WITH_ERROR"):
                error = " ".join(str(task.get("error", "no error given")).split())
                raise LabError(f"{action} on {self.backend.endpoint.url} failed: {_hint(error) or error[:300]}")
            if time.monotonic() >= deadline:
                raise LabError(f"{action} on {self.backend.endpoint.url}: its task {task_id} did not end within "
                               f"{timeout:g} s")
            time.sleep(0.5)
        while (model := self.model(model_id)) is None or model.state != "DEPLOYED":
            if time.monotonic() >= deadline:
                raise LabError(f"{action} on {self.backend.endpoint.url}: the model did not read DEPLOYED within "
                               f"{timeout:g} s")
            time.sleep(0.5)

    def undeploy(self, model_id: str) -> None:
        """Free the model's memory on every node (it stays registered)."""
        self._call(f"undeploying ml-commons model '{model_id}'", "POST", f"/_plugins/_ml/models/{model_id}/_undeploy")


def _hint(error: str) -> str | None:
    """What to change on the cluster, for an error ml-commons is known to give when a setting is missing."""
    return next((hint for key, hint in HINTS.items() if key in error), None)


def _model(model_id: str, source: dict[str, Any]) -> MlModel:
    return MlModel(model_id, str(source.get("name", "")), str(source.get("algorithm", source.get("function_name", ""))),
                   str(source.get("model_state", "")))
