"""What `lab` prints for people and for pipes: the leaderboard's default, chosen and wide columns, Markdown /
CSV / JSON on standard output with progress on standard error, where a new run ranks, p-values below
0.0001, `lab --version`, and "did you mean" for misspelt names. Runs are real (generated catalogue, embedded
BM25 index)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from lab.cli import cli
from lab.evaluation.stats import format_p_value
from lab.results import latest_runs

from demo_support import demo_lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = demo_lab(tmp_path_factory.mktemp("ws"), seed=21, n_products=160, n_queries=120)
    result = invoke(lab, "run", "--strategy", "textsearch")
    assert result.exit_code == 0, result.output
    return lab


def invoke(lab, *args: str):
    return CliRunner().invoke(cli, ["--workspace", str(lab.workspace), *args], obj={})


def header_of(output: str) -> list[str]:
    line = next(line for line in output.splitlines() if "┃" in line and "strategy" in line)
    return [cell.strip() for cell in line.split("┃")[1:-1]]


def test_the_leaderboard_shows_the_columns_that_matter_by_default(lab):
    result = invoke(lab, "leaderboard")
    assert result.exit_code == 0, result.output
    assert header_of(result.output) == ["#", "strategy", "ndcg@10", "mrr@10", "map@10", "judged@10", "queries/s"]


def test_columns_and_wide(lab):
    chosen = invoke(lab, "leaderboard", "--columns", "recall@100,strategy,queries")
    assert header_of(chosen.output) == ["#", "strategy", "recall@100", "queries"]
    wide = invoke(lab, "leaderboard", "--wide")
    assert {"ndcg@100", "precision@10", "seconds", "model", "train s", "re-index s", "backend", "run"} <= set(
        header_of(wide.output))


def test_an_unknown_column_is_one_line_with_a_suggestion(lab):
    result = invoke(lab, "leaderboard", "--columns", "ndcg@1O")
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].startswith(
        "error: --columns: unknown column 'ndcg@1O' (did you mean 'ndcg@10'?) (known: strategy, ")


def test_machine_formats_carry_the_stored_values(lab):
    [run] = latest_runs(lab.workspace, "demo", "test", lab.dataset.qrels_fingerprint())
    records = json.loads(invoke(lab, "leaderboard", "--format", "json", "--columns", "ndcg@10,queries").stdout)
    assert records == [{"rank": 1, "strategy": "textsearch", "ndcg@10": run.metrics["ndcg@10"],
                        "queries": run.manifest["n_queries"]}]
    rows = list(csv.DictReader(io.StringIO(invoke(lab, "leaderboard", "--format", "csv").stdout)))
    assert list(rows[0]) == ["rank", "strategy", "ndcg@10", "mrr@10", "map@10", "judged@10", "queries/s"]
    assert float(rows[0]["mrr@10"]) == pytest.approx(run.metrics["mrr@10"])
    markdown = invoke(lab, "leaderboard", "--format", "markdown").stdout.splitlines()
    assert markdown[0].startswith("| # | strategy | ndcg@10 |") and markdown[1].startswith("|---:|:---|---:|")


def test_run_prints_json_on_stdout_progress_on_stderr_and_where_the_new_run_ranks(lab):
    result = invoke(lab, "run", "--strategy", "textsearch_boosted", "--format", "json")
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)  # nothing but the leaderboard on standard output
    assert {r["strategy"] for r in records} == {"textsearch", "textsearch_boosted"}
    assert "Searching textsearch_boosted" in result.stderr
    place = next(r["rank"] for r in records if r["strategy"] == "textsearch_boosted")
    assert f"textsearch_boosted: #{place} of 2 by ndcg@10" in result.stderr


def test_a_misspelt_strategy_gets_a_suggestion(lab):
    result = invoke(lab, "run", "--strategy", "textsearh")
    assert result.exit_code == 1
    assert "unknown strategy 'textsearh' (did you mean 'textsearch'?)" in result.output


def test_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("lab, version 0.1.0")


@pytest.mark.parametrize("p, text", [(0.00004, "< 0.0001"), (0.0001, "0.0001"), (0.04321, "0.0432"), (1.0, "1.0000")])
def test_p_values_below_the_shown_precision_are_not_zero(p, text):
    assert format_p_value(p) == text


# --- forgiving templates: lazy, listed when broken, from the workspace ------------------------------

@pytest.fixture()
def fresh(tmp_path):
    return demo_lab(tmp_path / "ws", seed=22, n_products=120, n_queries=80)


def test_a_broken_template_fails_only_where_it_is_used(fresh):
    queries = fresh.workspace / "queries"
    queries.mkdir()
    (queries / "broken.json").write_text('{"body": {"query": {"match": {"product_title": "{{query_text}}"}}', "utf-8")
    listed = invoke(fresh, "strategies", "--format", "json")
    assert listed.exit_code == 0, listed.output
    rows = {r["strategy"]: r for r in json.loads(listed.stdout)}
    assert rows["broken"]["from"] == "workspace" and rows["textsearch"]["from"] == "checkout"
    assert rows["broken"]["description"].startswith(f"broken: {queries / 'broken.json'}:1:")
    check = invoke(fresh, "strategies", "--check")
    assert check.exit_code == 1 and "1 of " in check.output and "broken: " in check.output
    assert invoke(fresh, "run", "--strategy", "textsearch").exit_code == 0
    everything = invoke(fresh, "run", "--all", "--format", "json")
    assert everything.exit_code == 0, everything.output
    assert "skipped broken:" in everything.stderr and "broken" not in {r["strategy"] for r in json.loads(everything.stdout)}
    named = invoke(fresh, "run", "--strategy", "broken")
    assert named.exit_code == 1 and "invalid JSON" in named.output


def test_the_workspace_overrides_and_extends_the_checkout(fresh):
    made = invoke(fresh, "strategies", "new", "mine", "--from", "textsearch")
    assert made.exit_code == 0, made.output
    path = fresh.workspace / "queries" / "mine.json"
    assert json.loads(path.read_text("utf-8"))["params"] == json.loads(
        (fresh.queries_dir / "textsearch.json").read_text("utf-8"))["params"]
    again = invoke(fresh, "strategies", "new", "mine", "--from", "textsearch")
    assert again.exit_code == 1 and "exists already" in again.output
    data = json.loads(path.read_text("utf-8"))
    data["description"] = "my own textsearch"
    (fresh.workspace / "queries" / "textsearch.json").write_text(json.dumps(data), "utf-8")
    rows = {r["strategy"]: r for r in json.loads(invoke(fresh, "strategies", "--format", "json").stdout)}
    assert rows["textsearch"] == {**rows["textsearch"], "from": "workspace", "description": "my own textsearch"}
    ran = invoke(fresh, "run", "--strategy", "mine", "--format", "json")
    assert ran.exit_code == 0 and [r["strategy"] for r in json.loads(ran.stdout)] == ["mine"]


def test_a_misspelt_param_or_model_gets_a_suggestion(fresh):
    param = invoke(fresh, "run", "--strategy", "textsearch", "--param", "title_bost=2")
    assert "unknown param 'title_bost' (did you mean 'title_boost'?)" in param.output
    model = invoke(fresh, "run", "--strategy", "vectorsearch", "--model", "minlm")
    assert "model 'minlm' not found" in model.output and "(did you mean 'minilm'?)" in model.output


def test_a_workspace_mapping_overrides_the_checkouts(tmp_path):
    from lab.backends.embedded import EmbeddedBackend
    from lab.context import Lab
    from lab.mapping import DEFAULT_MAPPING_PATH

    assert Lab(tmp_path, EmbeddedBackend(tmp_path)).mapping_path == DEFAULT_MAPPING_PATH
    (tmp_path / "mappings").mkdir()
    (tmp_path / "mappings" / "products.json").write_text(DEFAULT_MAPPING_PATH.read_text("utf-8"), "utf-8")
    assert Lab(tmp_path, EmbeddedBackend(tmp_path)).mapping_path == tmp_path / "mappings" / "products.json"


# --- tuning that does not rewrite history -------------------------------------------------------------

def test_param_arguments_read_back_as_the_same_params():
    import shlex

    from lab.templates import param_arguments, parse_param_overrides

    params = {"weights": [0.4, 0.6], "model": "ft1", "code": "123", "boost": 2.5, "flag": True, "text": "a b's"}
    words = shlex.split(param_arguments(params))
    assert words[::2] == ["--param"] * len(params)
    assert parse_param_overrides(words[1::2]) == params


def test_tune_stores_its_winner_under_its_own_name_and_saves_a_strategy(fresh):
    assert invoke(fresh, "run", "--strategy", "textsearch_boosted").exit_code == 0
    result = invoke(fresh, "tune", "--strategy", "textsearch_boosted", "--param", "title_boost=1,4",
                    "--save", "boosted_tuned", "--format", "json")
    assert result.exit_code == 0, result.output
    trials = json.loads(result.stdout)
    assert len(trials) == 2 and {t["title_boost"] for t in trials} == {1, 4}
    best = trials[0]["title_boost"]
    assert "stored as strategy textsearch_boosted.tuned" in result.stderr
    assert f"run it again: lab run --strategy textsearch_boosted --param title_boost={best}" in result.stderr
    board = {r["strategy"]: r for r in json.loads(invoke(fresh, "leaderboard", "--format", "json").stdout)}
    assert {"textsearch_boosted", "textsearch_boosted.tuned"} <= set(board)  # the template's row is untouched
    saved = json.loads((fresh.workspace / "queries" / "boosted_tuned.json").read_text("utf-8"))
    assert saved["params"]["title_boost"] == best and "tuned on tune" in saved["description"]
    again = invoke(fresh, "run", "--strategy", "boosted_tuned", "--format", "json")
    rows = {r["strategy"]: r for r in json.loads(again.stdout)}
    assert rows["boosted_tuned"]["ndcg@10"] == board["textsearch_boosted.tuned"]["ndcg@10"]
    taken = invoke(fresh, "tune", "--strategy", "textsearch_boosted", "--param", "title_boost=1,4",
                   "--save", "boosted_tuned")
    assert taken.exit_code == 1 and "--save boosted_tuned: a strategy of that name exists already" in taken.output


def test_data_info_in_every_format(lab):
    info = json.loads(invoke(lab, "data", "info", "--format", "json").stdout)
    dataset = lab.dataset
    assert info["products"] == len(dataset.products) == 160 and info["judgments"] == len(dataset.qrels)
    assert sum(s["queries"] for s in info["splits"].values()) + info["unlabeled"] == len(dataset.queries)
    assert info["fingerprint"] == dataset.fingerprint()
    rows = list(csv.DictReader(io.StringIO(invoke(lab, "data", "info", "--format", "csv").stdout)))
    assert rows[0] == {"item": "products", "value": "160"}


def test_rows_run_with_other_params_say_which(fresh):
    assert invoke(fresh, "run", "--strategy", "textsearch").exit_code == 0
    plain = invoke(fresh, "leaderboard")
    assert "params" not in header_of(plain.output)  # every row runs its template's defaults
    assert invoke(fresh, "run", "--strategy", "textsearch_boosted", "--param", "title_boost=2",
                  "--param", "description_boost=2").exit_code == 0
    board = invoke(fresh, "leaderboard")
    assert header_of(board.output)[-1] == "params"
    rows = {r["strategy"]: r for r in json.loads(invoke(fresh, "leaderboard", "--columns", "params",
                                                        "--format", "json").stdout)}
    assert rows["textsearch_boosted"]["params"] == "title_boost=2"  # description_boost=2 is its default
    assert rows["textsearch"]["params"] == ""


def test_columns_of_numbers_stay_numbers_whatever_their_marks():
    from lab.experiments.formats import markdown_table, numeric_columns

    header = ["strategy", "p", "train s", "W/T/L"]
    rows = [["rrf", "< 0.0001*", "—", "12/3/4"], ["hybrid", "0.0432", "~1,204", ""]]
    assert numeric_columns(header, rows) == [False, True, True, True]
    assert markdown_table(header, rows).splitlines()[1] == "|:---|---:|---:|---:|"
