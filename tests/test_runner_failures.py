"""One query the backend refuses (a 100,000-character query: more terms than max_clause_count) scores 0
and is recorded as failed; the rest of the run is scored as if it were not there; `--strict` makes it an
error; a strategy that fails for many queries is still an error. Runs are real: a generated catalogue and
the embedded engine's BM25 index."""

from __future__ import annotations

import gc
import json
import os
import re
import uuid

import pytest
from click.testing import CliRunner

from lab.cli import cli
from lab.context import Lab
from lab.errors import LabError, QueryError
from lab.results import list_runs, load_run
from lab.runner import execute_strategy, failure_limit
from lab.templates import load_templates

from demo_support import demo_lab

LONG_QUERY = ("drill " * 16_667)[:100_000]
"""100,000 characters, 16,667 terms: over max_clause_count (1024), which OpenSearch refuses too."""


@pytest.fixture()
def lab(tmp_path) -> Lab:
    return demo_lab(tmp_path / "ws", seed=5, n_products=150, n_queries=120)


def _spoil(lab: Lab, n: int) -> list[str]:
    """Give the first ``n`` judged test queries the long text, on disk (so the CLI reads it too)."""
    from lab.data import Dataset

    dataset = lab.dataset
    qrels = dataset.qrels_dict("test")
    ids = [q for q in dataset.queries_for("test")["query_id"] if q in qrels][:n]
    dataset.queries.loc[dataset.queries["query_id"].isin(ids), "query_text"] = LONG_QUERY
    dataset.save(lab.dataset_dir(dataset.name))
    lab.__dict__.pop("dataset", None)
    assert isinstance(lab.dataset, Dataset) and set(lab.dataset.queries_for("test").set_index("query_id").loc[ids, "query_text"]) == {LONG_QUERY}
    return ids


def test_one_failing_query_scores_zero_and_the_rest_are_untouched(lab):
    template = load_templates(lab.queries_dir)["textsearch"]
    clean = execute_strategy(lab, template)
    assert clean.manifest["failed_queries"] == []
    [bad] = _spoil(lab, 1)
    outcome = execute_strategy(lab, template)
    assert [f["query_id"] for f in outcome.manifest["failed_queries"]] == [bad]
    assert "max_clause_count" in outcome.manifest["failed_queries"][0]["error"]
    assert outcome.manifest["n_queries"] == clean.manifest["n_queries"]
    assert (outcome.per_query.loc[bad] == 0).all()
    assert bad not in set(outcome.ranking["query_id"])
    others = clean.per_query.drop(index=bad)
    assert outcome.per_query.drop(index=bad).equals(others)
    assert outcome.ranking[outcome.ranking["query_id"] != bad].reset_index(drop=True).equals(
        clean.ranking[clean.ranking["query_id"] != bad].reset_index(drop=True))
    n = clean.manifest["n_queries"]
    assert outcome.manifest["metrics"]["ndcg@10"] == pytest.approx(others["ndcg@10"].sum() / n)


def test_strict_makes_the_failed_query_an_error_naming_it(lab):
    [bad] = _spoil(lab, 1)
    with pytest.raises(LabError, match=rf"strategy 'textsearch': query '{bad}' failed: .*max_clause_count.*--strict"):
        execute_strategy(lab, load_templates(lab.queries_dir)["textsearch"], strict=True)
    assert gc.isenabled()  # the collector, paused during the run, is back after an error


def test_a_run_leaves_a_paused_collector_paused(lab):
    gc.disable()
    try:
        execute_strategy(lab, load_templates(lab.queries_dir)["textsearch"])
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_many_failing_queries_are_the_strategys_fault(lab):
    n_judged = len(lab.dataset.qrels_dict("test"))
    _spoil(lab, failure_limit(n_judged) + 1)
    with pytest.raises(QueryError, match="max_clause_count"):
        execute_strategy(lab, load_templates(lab.queries_dir)["textsearch"])


def test_failure_limit():
    assert failure_limit(1) == 3 and failure_limit(29) == 3 and failure_limit(1801) == 180


def test_cli_run_records_the_failure_and_strict_exits_non_zero(lab):
    [bad] = _spoil(lab, 1)
    runner = CliRunner()
    args = ["--workspace", str(lab.workspace), "run", "--strategy", "textsearch"]
    result = runner.invoke(cli, args, obj={})
    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if "strategy" in line and "┃" in line)
    assert [c.strip() for c in header.split("┃")][-2] == "failed"  # the column joins when a run has failures
    assert "textsearch: 1 of " in result.output and f"query '{bad}'" in result.output
    [run] = list_runs(lab.workspace, "demo")
    stored = load_run(lab.workspace, "demo", run.run_id)
    assert [f["query_id"] for f in stored.manifest["failed_queries"]] == [bad]
    again = runner.invoke(cli, ["--workspace", str(lab.workspace), "leaderboard", "--format", "json"], obj={})
    assert again.exit_code == 0 and json.loads(again.output)[0]["failed"] == 1
    strict = runner.invoke(cli, [*args, "--strict"], obj={})
    assert strict.exit_code != 0
    assert f"query '{bad}' failed" in strict.output and "Traceback" not in strict.output
    assert len(list_runs(lab.workspace, "demo")) == 1  # nothing stored for the strict run


# --- on live clusters: the node refuses the query (HTTP 400), the run goes on -------------------------

CLUSTERS = {"opensearch": os.environ.get("OPENSEARCH_URL"), "elasticsearch": os.environ.get("ELASTICSEARCH_URL")}


def _cluster_backend(kind: str):
    url = CLUSTERS[kind]
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI runs the live tests: .ci/run must start a node and set {kind.upper()}_URL", pytrace=False)
        pytest.skip(f"no {kind} node: set {kind.upper()}_URL (see scripts/{kind}-local)")
    if kind == "opensearch":
        from lab.backends.opensearch import OpenSearchBackend
        return OpenSearchBackend.connect(url)
    from lab.backends.elasticsearch import ElasticsearchBackend
    return ElasticsearchBackend.connect(url)


@pytest.mark.parametrize("kind", sorted(CLUSTERS))
def test_a_query_the_cluster_refuses_is_recorded_as_failed(kind, tmp_path):
    from lab.data import generate_demo
    from lab.indexer import build_index

    backend = _cluster_backend(kind)
    lab = Lab(workspace=tmp_path / "ws", backend=backend)
    dataset = generate_demo(seed=5, n_products=150, n_queries=120)
    dataset.name = f"failq-{uuid.uuid4().hex[:8]}"
    dataset.save(lab.dataset_dir(dataset.name))
    lab.set_current_dataset(dataset.name)
    build_index(lab, models=[])
    try:
        [bad] = _spoil(lab, 1)
        outcome = execute_strategy(lab, load_templates(lab.queries_dir)["textsearch"])
        [failed] = outcome.manifest["failed_queries"]
        assert failed["query_id"] == bad and re.search("max_?clause_?count|too_many_(nested_)?clauses", failed["error"], re.I)
        assert (outcome.per_query.loc[bad] == 0).all() and outcome.per_query.drop(index=bad)["ndcg@10"].gt(0).any()
    finally:
        client = backend.client
        for index in client.indices.get_alias(index=f"{dataset.name}-v*"):
            client.indices.delete(index=index)
