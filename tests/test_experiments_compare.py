"""`lab compare`: means, deltas, paired p-values (Holm-corrected beyond two runs), wins/ties/losses,
output formats, the CI regression gate, and clear errors for runs that cannot be compared. Runs are
real: a generated catalogue, the embedded engine's BM25 index, the runner."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from lab.cli import cli
from lab.context import Lab
from lab.errors import LabError
from lab.experiments.compare import compare_runs
from lab.experiments.selection import resolve_runs
from lab.evaluation.stats import holm, paired_t_test
from lab.results import save_run
from lab.runner import run_strategy
from lab.templates import load_templates

from demo_support import demo_lab

ZERO_BOOSTS = {"title_boost": 0, "description_boost": 0, "attributes_boost": 0}


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Lab:
    lab = demo_lab(tmp_path_factory.mktemp("ws"), seed=11, n_products=250, n_queries=260)
    templates = load_templates(lab.queries_dir)
    for name in ("textsearch", "textsearch_boosted"):
        run_strategy(lab, templates[name])
    run_strategy(lab, templates["textsearch_boosted"], overrides={"title_boost": 2})
    run_strategy(lab, templates["textsearch"], overrides=ZERO_BOOSTS)  # every score 0: index order
    return lab


def invoke(lab: Lab, *args: str):
    return CliRunner().invoke(cli, ["--workspace", str(lab.workspace), *args], obj={}, catch_exceptions=False)


def _runs(lab: Lab, *refs: str):
    return resolve_runs(lab.workspace, lab.dataset, list(refs), "test")


def _zero_and_good(lab: Lab):
    from lab.results import list_runs

    textsearch = [r for r in list_runs(lab.workspace, "demo") if r.strategy == "textsearch"]
    good = next(r for r in textsearch if r.manifest["template"]["params"]["title_boost"] == 1)
    zero = next(r for r in textsearch if r.manifest["template"]["params"]["title_boost"] == 0)
    return good, zero


def test_two_runs_mean_delta_p_and_wins(lab):
    a, b = _runs(lab, "textsearch", "textsearch_boosted")
    comparison = compare_runs([a, b], ["ndcg@10", "recall@100"])
    assert not comparison.corrected and comparison.baseline == "textsearch"
    rows = comparison.table.set_index(["metric", "strategy"])
    for metric in ("ndcg@10", "recall@100"):
        base, cand = a.per_query()[metric], b.per_query()[metric].loc[a.per_query().index]
        row = rows.loc[(metric, "textsearch_boosted")]
        assert row["mean"] == pytest.approx(b.metrics[metric])
        assert row["delta"] == pytest.approx(b.metrics[metric] - a.metrics[metric])
        assert row["p_value"] == pytest.approx(paired_t_test(base.to_numpy(), cand.to_numpy()))
        assert row["p_adjusted"] == row["p_value"]
        diff = cand.to_numpy() - base.to_numpy()
        assert (row["wins"], row["ties"], row["losses"]) == ((diff > 0).sum(), (diff == 0).sum(), (diff < 0).sum())
        assert row["wins"] + row["ties"] + row["losses"] == a.manifest["n_queries"]
        assert pd.isna(rows.loc[(metric, "textsearch"), "p_value"])


def test_more_than_two_runs_are_holm_corrected(lab):
    good, zero = _zero_and_good(lab)
    boosted = _runs(lab, "textsearch_boosted")[0]
    comparison = compare_runs([good, boosted, zero], ["ndcg@10"], test="fisher", permutations=2000)
    assert comparison.corrected and comparison.test == "fisher"
    candidates = comparison.table[comparison.table["run_id"] != good.run_id]
    assert candidates["p_adjusted"].tolist() == pytest.approx(holm(candidates["p_value"].tolist()))
    # labels fall back to run ids when a strategy appears twice
    assert set(comparison.table["strategy"]) == {good.run_id, zero.run_id, "textsearch_boosted"}
    assert comparison.worse("ndcg@10") == [zero.run_id]


def test_formats(lab):
    out = invoke(lab, "compare", "textsearch", "textsearch_boosted", "--format", "json")
    data = json.loads(out.output)
    assert data["baseline"] == "textsearch" and data["alpha"] == 0.05 and data["test"] == "t-test"
    assert {r["metric"] for r in data["rows"]} == {"ndcg@10", "mrr@10", "recall@100"}
    csv = pd.read_csv(io.StringIO(invoke(lab, "compare", "textsearch", "textsearch_boosted", "--format", "csv").output))
    assert list(csv.columns[:4]) == ["metric", "strategy", "run_id", "mean"] and len(csv) == 6
    markdown = invoke(lab, "compare", "textsearch", "textsearch_boosted", "--format", "markdown").output
    assert markdown.startswith("| metric | strategy | mean | Δ | Δ% | p | W/T/L |") and "α = 0.05" in markdown
    latex = invoke(lab, "compare", "textsearch", "textsearch_boosted", "--format", "latex", "--alpha", "0.1").output
    assert r"\begin{tabular}" in latex and r"$\alpha$ = 0.1" in latex
    table = invoke(lab, "compare", "textsearch", "textsearch_boosted", "--metric", "map@10").output
    assert "map@10" in table and "ndcg@10" not in table and "paired t-test" in table


def test_fail_if_worse_is_a_ci_gate(lab):
    good, zero = _zero_and_good(lab)
    result = invoke(lab, "compare", good.run_id, zero.run_id, "--fail-if-worse", "ndcg@10")
    assert result.exit_code == 3
    assert "regression" in result.output and zero.run_id in result.output
    assert invoke(lab, "compare", zero.run_id, good.run_id, "--fail-if-worse", "ndcg@10").exit_code == 0
    assert invoke(lab, "compare", "textsearch_boosted", good.run_id, "--fail-if-worse", "recall@100").exit_code == 0


def test_unknown_strategy_or_metric(lab):
    result = invoke(lab, "compare", "textsearch", "nope")
    assert result.exit_code == 1
    assert "no run of 'nope'" in result.output and "textsearch_boosted" in result.output
    result = invoke(lab, "compare", "textsearch", "textsearch_boosted", "--metric", "ndcg@11")
    assert result.exit_code == 1 and "unknown metric 'ndcg@11'" in result.output
    assert "at least two runs" in invoke(lab, "compare", "textsearch").output


def _copy(lab: Lab, run, suffix: str, manifest_change, per_query=None):
    manifest = json.loads(json.dumps(run.manifest))
    manifest["run_id"] = f"{run.run_id}-{suffix}"
    manifest_change(manifest)
    return save_run(lab.workspace, "demo", manifest, run.ranking(), run.per_query() if per_query is None else per_query)


def test_runs_over_other_judgments_or_queries_are_refused(lab):
    a, _ = _zero_and_good(lab)

    def other_qrels(m):
        m["dataset"]["qrels_fingerprint"] = "0" * 16

    def other_split(m):
        m["split"] = "tune"

    with pytest.raises(LabError, match="not comparable: qrels hash differs"):
        compare_runs([a, _copy(lab, a, "q", other_qrels)])
    with pytest.raises(LabError, match="not comparable: split differs"):
        compare_runs([a, _copy(lab, a, "s", other_split)])
    fewer = _copy(lab, a, "few", lambda m: None, per_query=a.per_query().iloc[1:])
    with pytest.raises(LabError, match="cover different queries"):
        compare_runs([a, fewer])
    with pytest.raises(LabError, match="named twice"):
        compare_runs([a, a])
    result = invoke(lab, "compare", a.run_id, f"{a.run_id}-q")
    assert result.exit_code == 1 and "qrels hash differs" in result.output


def test_identical_runs_tie_everywhere(lab):
    a, _ = _zero_and_good(lab)
    twin = _copy(lab, a, "twin", lambda m: None)
    row = compare_runs([a, twin], ["ndcg@10"]).table.iloc[1]
    assert row["delta"] == 0 and row["p_value"] == 1.0 and row["ties"] == a.manifest["n_queries"]
    assert not np.isnan(row["p_adjusted"]) and not row["significant"]
