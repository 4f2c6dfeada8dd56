"""`lab reranker`: a lab cross-encoder into OpenSearch's ml-commons (`deploy`) and out of it (`undeploy`)."""

from __future__ import annotations

import click

from .support import console, lab_for, progress_bars


@click.group("reranker")
def reranker() -> None:
    """Deploy a cross-encoder (lab finetune --objective cross-encoder) into an OpenSearch cluster."""


@reranker.command("deploy")
@click.argument("name")
@click.pass_context
def deploy(ctx: click.Context, name: str) -> None:
    """Export reranker NAME to ONNX, register it in the cluster's ml-commons and deploy it; print its model id,
    which a template's rerank processor names (ml_opensearch.model_id) for OpenSearch to rerank server-side."""
    from ..reranker.deploy import deploy_reranker

    lab = lab_for(ctx)
    deployment = deploy_reranker(lab, name, progress_bars())
    how = "registered and deployed" if deployment.registered else "already registered; deployed"
    console.print(f"{name} {how} in {deployment.seconds:.1f}s as ml-commons model {deployment.model_id}; rerank "
                  f"server-side with `lab --backend opensearch run --strategy rerank_cross_encoder --param "
                  f"reranker={deployment.model_id}`", highlight=False, soft_wrap=True)
    click.echo(deployment.model_id)


@reranker.command("undeploy")
@click.argument("model_id")
@click.pass_context
def undeploy(ctx: click.Context, model_id: str) -> None:
    """Free the memory of ml-commons model MODEL_ID on every node (it stays registered)."""
    from ..reranker.deploy import ml_commons

    ml_commons(lab_for(ctx), "`lab reranker undeploy`").undeploy(model_id)
    console.print(f"undeployed ml-commons model {model_id}", highlight=False)


COMMANDS = [reranker]
