"""ml-commons' deploy as the lab waits for it, against the answers a 2.19 cluster gives (no cluster needed)."""

from __future__ import annotations

from contextlib import nullcontext

import pytest

from lab.backends import opensearch_ml
from lab.errors import LabError


class _MlCluster:
    """What ml-commons 2.19 answers around a deploy: the task COMPLETED while the model still reads DEPLOYING."""

    request_errors = (RuntimeError,)

    def __init__(self, model_states: list[str]):
        self.model_states = model_states
        self.client = self
        self.transport = self
        self.endpoint = type("Endpoint", (), {"url": "http://127.0.0.1:1"})()

    def _requests(self, action):
        return nullcontext()

    def perform_request(self, method, path, body=None):
        if path.endswith("/_deploy"):
            return {"task_id": "t1"}
        if path == "/_plugins/_ml/tasks/t1":
            return {"state": "COMPLETED"}
        return {"name": "m", "algorithm": "TEXT_SIMILARITY", "model_state": self.model_states.pop(0)}


def test_deploy_returns_only_once_the_model_reads_deployed_not_when_its_task_completes(monkeypatch):
    monkeypatch.setattr(opensearch_ml.time, "sleep", lambda s: None)
    cluster = _MlCluster(["DEPLOYING", "DEPLOYING", "DEPLOYED"])
    opensearch_ml.MlCommons(cluster).deploy("m1")
    assert cluster.model_states == []
    with pytest.raises(LabError, match="the model did not read DEPLOYED within 0.001 s"):
        opensearch_ml.MlCommons(_MlCluster(["DEPLOYING"] * 10**6)).deploy("m1", timeout=0.001)
