"""The CLI end to end on the generated demo catalogue (real engine, real MiniLM, real ranx)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lab.cli import cli


def invoke(workspace: Path, *args: str):
    result = CliRunner().invoke(cli, ["--workspace", str(workspace), *args], obj={}, catch_exceptions=False)
    return result


@pytest.fixture(scope="module")
def demo_workspace(tmp_path_factory) -> Path:
    workspace = tmp_path_factory.mktemp("ws")
    result = invoke(workspace, "demo", "--products", "400", "--queries", "120")
    assert result.exit_code == 0, result.output
    return workspace


def test_demo_prints_a_leaderboard_of_every_base_strategy(demo_workspace):
    runs = sorted((demo_workspace / "runs" / "demo").glob("*/manifest.json"))
    strategies = {json.loads(p.read_text())["strategy"] for p in runs}
    assert {"textsearch", "textsearch_boosted", "vectorsearch", "hybrid", "rrf"} <= strategies
    assert "vectorsearch_finetune" not in strategies  # needs `lab finetune` first
    manifest = json.loads(runs[0].read_text())
    assert manifest["split"] == "test" and manifest["n_queries"] > 0
    assert 0.0 <= manifest["metrics"]["ndcg@10"] <= 1.0
    assert manifest["backend"]["backend"] == "embedded"
    trec = (runs[0].parent / "run.trec").read_text().splitlines()
    assert trec and len(trec[0].split()) == 6


def test_run_one_strategy_and_show_the_leaderboard(demo_workspace):
    result = invoke(demo_workspace, "--dataset", "demo", "run", "--strategy", "textsearch_boosted",
                    "--param", "title_boost=4")
    assert result.exit_code == 0, result.output
    assert "textsearch_boosted" in result.output and "ndcg@10" in result.output
    result = invoke(demo_workspace, "--dataset", "demo", "leaderboard")
    assert result.exit_code == 0 and "vectorsearch" in result.output
    result = invoke(demo_workspace, "--dataset", "demo", "leaderboard", "--history")
    assert result.output.count("textsearch_boosted") >= 2


def test_unknown_strategy_is_one_clear_line(demo_workspace):
    result = invoke(demo_workspace, "--dataset", "demo", "run", "--strategy", "nope")
    assert result.exit_code == 1
    assert "unknown strategy 'nope'" in result.output


def test_finetuned_strategy_asks_for_lab_finetune(demo_workspace):
    result = invoke(demo_workspace, "--dataset", "demo", "run", "--strategy", "vectorsearch_finetune")
    assert result.exit_code == 1
    assert "lab finetune" in result.output


def test_commands_need_a_dataset(tmp_path):
    result = invoke(tmp_path, "run", "--all")
    assert result.exit_code == 1 and "lab data import" in result.output
