"""A lab cross-encoder deployed into a live OpenSearch's ml-commons and run by the cluster's own rerank processor:
the same ranking and scores as the lab's client-side reranking, the manifest saying which ran, a deploy that
resumes, and the refusals. Needs $OPENSEARCH_ML_URL: a 2.19.1 node started with `scripts/opensearch-local start
--version 2.19.1 --plugins knn,neural-search,ml` (Maven Central serves ml-commons and neural-search for 2.19.1)."""

from __future__ import annotations

import shutil
import uuid

import pytest
from click.testing import CliRunner

from cluster_support import live_url
from demo_support import demo_lab
from lab.backends.opensearch import OpenSearchBackend
from lab.backends.opensearch_ml import MlCommons
from lab.cli import cli
from lab.context import Lab
from lab.errors import LabError
from lab.finetune.config import FinetuneConfig
from lab.indexer import build_index
from lab.reranker.deploy import deploy_reranker, model_name
from lab.reranker.training import train_reranker
from lab.runner import execute_strategy

URL = live_url("OPENSEARCH_ML_URL", "OpenSearch ml-commons")
pytestmark = [
    pytest.mark.opensearch,
    pytest.mark.skipif(not URL, reason="no cluster with ml-commons: set OPENSEARCH_ML_URL to the URL that "
                                       "`scripts/opensearch-local start --version 2.19.1 --plugins knn,neural-search,ml` "
                                       "prints"),
]
NAME = "ml-ce"
WINDOW, SIZE = 20, 30


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """A demo workspace with a tiny trained cross-encoder, indexed on the cluster, the reranker deployed with
    `lab reranker deploy` (its last output line is the model id): (lab on the cluster, model id)."""
    workspace = tmp_path_factory.mktemp("ml") / "ws"
    lab = demo_lab(workspace, seed=5, n_products=150, n_queries=100)
    train_reranker(lab, FinetuneConfig(name=NAME, objective="cross-encoder", max_steps=4, eval_steps=2, batch_size=8,
                                       max_seq_length=32, negatives="unjudged", mine_from="bm25", mine_top_k=10,
                                       negatives_per_query=3, text_fields=("product_title",), first_stage="textsearch",
                                       rerank_window=10, seed=7))
    cluster = Lab(workspace=workspace, backend=OpenSearchBackend.connect(URL))
    build_index(cluster, models=[])
    result = CliRunner().invoke(cli, ["--workspace", str(workspace), "--backend", "opensearch", "--url", URL,
                                      "reranker", "deploy", NAME], obj={}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    model_id = result.output.strip().splitlines()[-1]
    yield cluster, model_id
    MlCommons(cluster.backend).undeploy(model_id)


def rerank(lab: Lab, reranker: str, first_stage_weight: float = 0.0):
    template = lab.templates()["rerank_cross_encoder"]
    return execute_strategy(lab, template, "test", {"reranker": reranker, "rerank_window": WINDOW,
                                                    "first_stage_weight": first_stage_weight}, size=SIZE)


@pytest.mark.parametrize("first_stage_weight", [0.0, 0.5])
def test_the_cluster_reranks_as_the_lab_does(deployed, monkeypatch, first_stage_weight):
    lab, model_id = deployed
    monkeypatch.setenv("LAB_RERANK_PRECISION", "fp32")  # the ONNX graph OpenSearch runs is fp32
    server, client = rerank(lab, model_id, first_stage_weight), rerank(lab, NAME, first_stage_weight)
    assert server.ranking["product_id"].tolist() == client.ranking["product_id"].tolist()
    # blended scores are min-max scaled over the window: the tiny model's scores span ~0.01 there, which magnifies
    # the ONNX/torch differences (~1e-7) a hundredfold
    assert (server.ranking["score"] - client.ranking["score"]).abs().max() < (1e-4 if first_stage_weight else 1e-6)
    first_stage = execute_strategy(lab, lab.templates()["textsearch_boosted"], "test", size=SIZE).ranking
    assert server.ranking["product_id"].tolist() != first_stage["product_id"].tolist()  # it did rerank
    record = server.manifest["rerank_processor"]
    assert record["executed_by"] == f"server-side: OpenSearch's rerank processor with ml-commons model {model_id}"
    assert record["model"] == NAME and record["model_id"] == model_id
    assert record["first_stage_weight"] == first_stage_weight
    assert record["fingerprint"] == client.manifest["rerank_processor"]["fingerprint"]
    assert record["pairs"] == sum(min(WINDOW, n) for n in first_stage.groupby("query_id").size())
    assert client.manifest["rerank_processor"]["executed_by"].startswith("client-side")


def test_a_second_deploy_reuses_the_model_and_an_undeployed_one_is_deployed_again(deployed):
    lab, model_id = deployed
    again = deploy_reranker(lab, NAME)
    assert (again.model_id, again.registered) == (model_id, False)
    MlCommons(lab.backend).undeploy(model_id)
    with pytest.raises(LabError, match=rf"rerank_cross_encoder.json: .*ml_opensearch.model_id: ml-commons model "
                                       rf"'{model_id}' is UNDEPLOYED: deploy it first"):
        rerank(lab, model_id)
    resumed = deploy_reranker(lab, NAME)
    assert (resumed.model_id, resumed.registered) == (model_id, False)
    assert MlCommons(lab.backend).model(model_id).state == "DEPLOYED"


def test_an_unknown_model_id_is_one_line(deployed):
    lab, _ = deployed
    with pytest.raises(LabError, match="'no-such-model' is neither a cross-encoder of this workspace nor a model of "
                                       "the cluster's ml-commons"):
        rerank(lab, "no-such-model")


def test_a_cluster_refusing_uploads_says_which_setting(deployed):
    lab, _ = deployed
    refused = f"{NAME}-{uuid.uuid4().hex[:8]}"  # the same model under a new name: not on the cluster yet
    shutil.copytree(lab.workspace / "rerankers" / NAME, lab.workspace / "rerankers" / refused)
    setting = "plugins.ml_commons.allow_registering_model_via_local_file"
    lab.backend.client.cluster.put_settings(body={"transient": {setting: False}})
    try:
        with pytest.raises(LabError, match=f"^registering model 'relevance-lab-{refused}-[0-9a-f]{{16}}' on {URL}: "
                                           f"the cluster must allow uploaded models: set {setting} to true$"):
            deploy_reranker(lab, refused)
    finally:
        lab.backend.client.cluster.put_settings(body={"transient": {setting: None}})


class Cut(Exception):
    pass


def test_an_upload_cut_short_is_not_reused(deployed):
    lab, _ = deployed
    copy = f"{NAME}-{uuid.uuid4().hex[:8]}"  # the same model under a new name: not on the cluster yet
    shutil.copytree(lab.workspace / "rerankers" / NAME, lab.workspace / "rerankers" / copy)
    ml = MlCommons(lab.backend)
    original = ml.register

    def cut_after_one_chunk(*args, **kwargs):
        def advance(_):
            raise Cut()
        return original(*args, **{**kwargs, "progress": advance})

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(MlCommons, "register", lambda self, *a, **k: cut_after_one_chunk(*a, **k))
        with pytest.raises(Cut):
            deploy_reranker(lab, copy)
    deployment = deploy_reranker(lab, copy)
    assert deployment.registered
    named = [ml.model(m.model_id) for m in ml.find(model_name(copy, deployment.fingerprint))]
    assert sorted((m.model_id == deployment.model_id, m.state) for m in named) == [(False, "REGISTERING"),
                                                                                   (True, "DEPLOYED")]
    ml.undeploy(deployment.model_id)
