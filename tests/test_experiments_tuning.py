"""`lab tune`: trials scored on the tune split only, every trial stored, the best re-run on test and
stored as a run; seeded random search; clear errors for bad spaces. Real engine (BM25 index of a
generated catalogue), real runner and ranx."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from lab.cli import cli
from lab.context import Lab
from lab.errors import LabError
from lab.experiments.search_space import parse_dimension
from lab.experiments.tuning import list_tunings, load_trials, tune_strategy
from lab.results import list_runs
from lab.runner import execute_strategy
from lab.templates import load_templates

from demo_support import demo_lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Lab:
    lab = demo_lab(tmp_path_factory.mktemp("ws"), seed=31, n_products=250, n_queries=300)
    return lab


@pytest.fixture(scope="module")
def templates(lab):
    return load_templates(lab.queries_dir)


@pytest.fixture(scope="module")
def tuned(lab, templates):
    template = templates["textsearch_boosted"]
    dims = [parse_dimension("title_boost=1,2,8", template), parse_dimension("description_boost=1:3:2", template)]
    return tune_strategy(lab, template, dims, fixed={"attributes_boost": 2})


def invoke(lab: Lab, *args: str):
    return CliRunner().invoke(cli, ["--workspace", str(lab.workspace), *args], obj={}, catch_exceptions=False)


def test_every_trial_is_stored_with_its_tune_metrics(lab, templates, tuned):
    trials = load_trials(tuned.path)
    assert len(trials) == 6 and trials["trial"].tolist() == list(range(1, 7))
    assert trials[["param.title_boost", "param.description_boost"]].values.tolist() == [
        [1, 1], [1, 3], [2, 1], [2, 3], [8, 1], [8, 3]]
    # a trial's tune metrics are those of a normal run with its params on the tune split
    for number in (2, 5):
        row = trials[trials["trial"] == number].iloc[0]
        params = {**json.loads(row["params"]), "attributes_boost": 2}
        run = execute_strategy(lab, templates["textsearch_boosted"], "tune", params)
        for metric, value in run.manifest["metrics"].items():
            assert row[metric] == pytest.approx(value, abs=1e-12)
    manifest = json.loads((tuned.path / "manifest.json").read_text())
    assert manifest == tuned.manifest
    assert manifest["split"] == "tune" and manifest["final_split"] == "test" and manifest["n_trials"] == 6
    assert manifest["search"].startswith("embedded engine") and manifest["trials_per_minute"] > 0
    assert manifest["dataset"]["qrels_fingerprint"] == lab.dataset.qrels_fingerprint()
    assert tuned.path.parent == lab.workspace / "tuning" / "demo"
    assert tuned.path.name.startswith("textsearch_boosted-")
    assert list_tunings(lab.workspace, "demo")[-1][0] == tuned.path


def test_the_best_is_chosen_on_tune_and_reported_on_test(lab, templates, tuned):
    trials = tuned.trials
    best = trials.sort_values(["ndcg@10", "trial"], ascending=[False, True]).iloc[0]
    assert tuned.manifest["best"]["trial"] == best["trial"]
    assert tuned.best_params == {**json.loads(best["params"]), "attributes_boost": 2}
    assert tuned.manifest["best"]["tune_metrics"]["ndcg@10"] == pytest.approx(best["ndcg@10"], abs=1e-12)
    run = tuned.test_run
    assert run.manifest["split"] == "test" and run.strategy == "textsearch_boosted.tuned"
    assert run.run_id.startswith("textsearch_boosted.tuned-")
    assert run.manifest["template"]["params"] == {**templates["textsearch_boosted"].params, **tuned.best_params}
    assert run.manifest["tuning"]["path"] == str(tuned.path) and run.manifest["tuning"]["tune_split"] == "tune"
    assert run.run_id in {r.run_id for r in list_runs(lab.workspace, "demo")}
    again = execute_strategy(lab, templates["textsearch_boosted"], "test", tuned.best_params)
    assert run.metrics == again.manifest["metrics"]
    assert tuned.manifest["best"]["test_metrics"] == run.metrics


def test_random_search_is_seeded(lab, templates):
    template = templates["textsearch_boosted"]
    dims = [parse_dimension("title_boost=1:8:1", template), parse_dimension("attributes_boost=0.5,1,2", template)]
    first = tune_strategy(lab, template, dims, method="random", trials=4, seed=9, metric="mrr@10")
    second = tune_strategy(lab, template, dims, method="random", trials=4, seed=9, metric="mrr@10")
    assert len(first.trials) == 4 and first.trials["params"].nunique() == 4
    assert first.trials["params"].tolist() == second.trials["params"].tolist()
    assert first.manifest["seed"] == 9 and first.manifest["metric"] == "mrr@10"


@pytest.mark.parametrize("options, message", [
    ({"tune_split": "test"}, "selecting on the split you report"),
    ({"trials": 3}, "--trials is for --method random"),
    ({"method": "bayes"}, "unknown method"),
    ({"metric": "ndcg@3"}, "unknown metric"),
    ({"fixed": {"title_boost": 2}}, "both tuned"),
])
def test_bad_tuning_requests(lab, templates, options, message):
    template = templates["textsearch_boosted"]
    with pytest.raises(LabError, match=message):
        tune_strategy(lab, template, [parse_dimension("title_boost=1,2", template)], **options)


def test_the_model_cannot_be_tuned(lab, templates):
    template = templates["vectorsearch"]
    with pytest.raises(LabError, match="--fix model="):
        tune_strategy(lab, template, [parse_dimension("model=minilm,finetuned", template)])


def test_cli_prints_the_top_trials_and_the_test_result(lab):
    result = invoke(lab, "tune", "--strategy", "textsearch", "--param", "title_boost=1,4",
                    "--param", "description_boost=0.5:1:0.5", "--show", "3")
    assert result.exit_code == 0, result.output
    assert "top trials" in result.output and "trials/min" in result.output
    assert "best (trial" in result.output and "stored as strategy textsearch.tuned (run textsearch.tuned-" in result.output
    assert "trials stored in" in result.output


@pytest.mark.parametrize("args, message", [
    (["--strategy", "textsearch", "--param", "title_boost=5:1:1"], "the range is empty"),
    (["--strategy", "nope", "--param", "title_boost=1,2"], "unknown strategy 'nope'"),
    (["--strategy", "textsearch", "--param", "boost=1,2"], "has no param 'boost'"),
    (["--strategy", "textsearch", "--param", "title_boost=1,2", "--param", "title_boost=3"], "more than once"),
])
def test_cli_errors_are_one_line(lab, args, message):
    result = invoke(lab, "tune", *args)
    assert result.exit_code == 1 and message in result.output
    assert "Traceback" not in result.output


def test_help_documents_the_weight_simplex():
    result = CliRunner().invoke(cli, ["tune", "--help"], obj={})
    assert "weights=0.1:0.9:0.1" in result.output and "sum to 1" in result.output


def test_trials_table_is_plain_parquet(tuned):
    frame = pd.read_parquet(tuned.path / "trials.parquet")
    assert {"trial", "params", "ndcg@10", "recall@100", "seconds"} <= set(frame.columns)
