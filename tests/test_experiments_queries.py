"""`lab queries A B`: per-query deltas, the queries B helps and hurts most with both sides' top hits
(judged labels, unjudged marked) and ranking overlap; and `lab leaderboard --history`."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from click.testing import CliRunner

from lab.cli import cli
from lab.context import Lab
from lab.errors import LabError
from lab.experiments.history import history_table
from lab.experiments.per_query import query_differences
from lab.experiments.selection import resolve_runs
from lab.results import list_runs, save_run
from lab.runner import run_strategy
from lab.templates import load_templates

from demo_support import demo_lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Lab:
    lab = demo_lab(tmp_path_factory.mktemp("ws"), seed=21, n_products=250, n_queries=200)
    templates = load_templates(lab.queries_dir)
    run_strategy(lab, templates["textsearch"])
    run_strategy(lab, templates["textsearch_boosted"])
    run_strategy(lab, templates["textsearch_boosted"], overrides={"title_boost": 3})
    return lab


def invoke(lab: Lab, *args: str):
    return CliRunner().invoke(cli, ["--workspace", str(lab.workspace), *args], obj={}, catch_exceptions=False)


def test_differences_per_query(lab):
    a, b = resolve_runs(lab.workspace, lab.dataset, ["textsearch", "textsearch_boosted"], "test")
    diff = query_differences(a, b, lab.dataset, "ndcg@10", depth=5)
    table = diff.table
    assert len(table) == a.manifest["n_queries"]
    per_a, per_b = a.per_query()["ndcg@10"], b.per_query()["ndcg@10"]
    for row in table.to_dict(orient="records"):
        assert row["delta"] == pytest.approx(per_b[row["query_id"]] - per_a[row["query_id"]])
        assert 0 <= row["jaccard@5"] <= 1 and 0 <= row["rbo"] <= 1
    helped, hurt = diff.helped(3), diff.hurt(3)
    assert (helped["delta"] > 0).all() and helped["delta"].is_monotonic_decreasing
    assert (hurt["delta"] < 0).all() and hurt["delta"].is_monotonic_increasing
    summary = diff.summary()
    assert summary["helped"] + summary["hurt"] + summary["unchanged"] == len(table)
    qid = table["query_id"].iloc[0]
    judged = lab.dataset.qrels_dict("test")[qid]
    ranking = a.ranking()
    expected = ranking[ranking["query_id"] == qid].sort_values("rank")["product_id"].tolist()[:5]
    hits = diff.top_hits("a", qid)
    assert [h.product_id for h in hits] == expected
    assert all(h.label == judged.get(h.product_id) for h in hits)


def test_a_run_against_its_rerun_is_identical(lab):
    first = resolve_runs(lab.workspace, lab.dataset, ["textsearch"], "test")[0]
    manifest = {**first.manifest, "run_id": first.run_id + "-again"}
    again = save_run(lab.workspace, "demo", manifest, first.ranking(), first.per_query())
    diff = query_differences(first, again, lab.dataset)
    assert (diff.table["delta"] == 0).all()
    assert (diff.table["jaccard@10"] == 1).all() and diff.table["rbo"].to_numpy() == pytest.approx(1.0)
    assert diff.helped(5).empty and diff.hurt(5).empty


def test_runs_scored_on_other_judgments_than_the_dataset(lab):
    first = resolve_runs(lab.workspace, lab.dataset, ["textsearch"], "test")[0]
    stale = []
    for suffix in ("x", "y"):
        manifest = json.loads(json.dumps(first.manifest))
        manifest["run_id"] = f"{first.run_id}-{suffix}"
        manifest["dataset"]["qrels_fingerprint"] = "f" * 16
        stale.append(save_run(lab.workspace, "demo", manifest, first.ranking(), first.per_query()))
    with pytest.raises(LabError, match="qrels hash differs between run .* and the current dataset"):
        query_differences(*stale, lab.dataset)


def test_cli_table_shows_both_sides_with_labels(lab):
    result = invoke(lab, "queries", "textsearch", "textsearch_boosted", "--top", "2", "--depth", "4")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "B helps most" in out and "B hurts most" in out and "Jaccard@4" in out and "RBO" in out
    assert "A: textsearch" in out and "B: textsearch_boosted" in out
    assert "[?]" in out or "[2]" in out


def test_cli_csv_and_json(lab):
    csv = invoke(lab, "queries", "textsearch", "textsearch_boosted", "--format", "csv").output
    frame = pd.read_csv(io.StringIO(csv))
    assert list(frame.columns) == ["query_id", "query", "ndcg@10 textsearch", "ndcg@10 textsearch_boosted", "delta",
                                    "jaccard@10", "rbo"]
    data = json.loads(invoke(lab, "queries", "textsearch", "textsearch_boosted", "--format", "json", "--top", "1").output)
    assert data["summary"]["queries"] == len(frame)
    for hits in data["top_hits"].values():
        assert set(hits) == {"a", "b"} and all({"rank", "product_id", "label"} <= set(h) for h in hits["a"])


def test_bad_input(lab):
    assert "no run of 'nope'" in invoke(lab, "queries", "textsearch", "nope").output
    assert "--depth must be at least 1" in invoke(lab, "queries", "textsearch", "textsearch_boosted",
                                                  "--depth", "0").output


# --- history --------------------------------------------------------------------------------------

def test_history_says_what_changed_and_what_is_not_comparable(lab):
    dataset = lab.dataset
    runs = [r for r in list_runs(lab.workspace, "demo") if r.manifest["split"] == "test"]
    last = max((r for r in runs if r.strategy == "textsearch_boosted"), key=lambda r: r.manifest["created"])
    changed = json.loads(json.dumps(last.manifest))
    changed["run_id"] += "-v2"
    changed["created"] = "2999-01-01T00:00:00+00:00"
    changed["template"]["sha256"] = "ab" * 32
    changed["dataset"]["qrels_fingerprint"] = "0" * 16
    save_run(lab.workspace, "demo", changed, last.ranking(), last.per_query())
    runs = [r for r in list_runs(lab.workspace, "demo") if r.manifest["split"] == "test"]
    table = history_table(runs, dataset.fingerprint(), dataset.qrels_fingerprint())
    boosted = table[table["strategy"] == "textsearch_boosted"].reset_index(drop=True)
    assert boosted.loc[0, "changed"] == "first run"
    assert boosted.loc[1, "changed"] == "params title_boost"
    assert boosted.loc[1, "delta"] == pytest.approx(boosted.loc[1, "ndcg@10"] - boosted.loc[0, "ndcg@10"])
    assert boosted.loc[2, "changed"] == "template, dataset" and not boosted.loc[2, "comparable"]
    assert boosted.loc[2, "note"].startswith("not comparable: qrels hash differs")
    assert pd.isna(boosted.loc[2, "delta"])

    result = invoke(lab, "leaderboard", "--history")
    assert result.exit_code == 0, result.output
    assert "not comparable: qrels hash differs" in result.output and "params title_boost" in result.output
    plain = invoke(lab, "leaderboard")
    assert plain.exit_code == 0 and "not comparable" not in plain.output
