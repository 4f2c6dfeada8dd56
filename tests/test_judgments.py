"""The judging loop on a hand-made dataset and hand-made runs: pooling, importing grades (with every kind of bad
line), conflicts kept apart, rater agreement (kappa worked out by hand), rescoring, and the CLI."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from lab.backends.embedded import EmbeddedBackend
from lab.cli import cli
from lab.context import Lab
from lab.data import Dataset
from lab.errors import LabError
from lab.judgments import import_grades, judgment_stats, pool_runs, rescore_runs
from lab.judgments.merge import CONFLICTS_TABLE, LOG_TABLE
from lab.results import latest_runs, list_runs, save_run


def make_dataset() -> Dataset:
    products = pd.DataFrame({"product_id": [f"p{i}" for i in range(1, 7)],
                             "product_title": [f"title {i}" for i in range(1, 7)],
                             "product_description": ["d" * 600, *[f"desc {i}" for i in range(2, 7)]]})
    queries = pd.DataFrame({"query_id": ["q1", "q2", "q3"], "query_text": ["red drill", "blue saw", "glue"],
                            "split": ["test", "test", "unlabeled"]})
    qrels = pd.DataFrame({"query_id": ["q1", "q1", "q2"], "product_id": ["p1", "p2", "p3"], "relevance": [2, 0, 1]})
    return Dataset("tiny", products, queries, qrels)


RUNS = {"alpha": {"q1": ["p3", "p1", "p4"], "q2": ["p3", "p5"]},
        "beta": {"q1": ["p4", "p5", "p1"], "q2": ["p6", "p3"]}}


def store_run(lab: Lab, strategy: str, ranked: dict[str, list[str]], stamp: str) -> None:
    from lab.evaluation.metrics import DEFAULT_METRICS, evaluate_ranking, mean_metrics

    dataset = lab.dataset
    per_query = evaluate_ranking(dataset.qrels_dict("test"), ranked, DEFAULT_METRICS)
    rows = [(q, r, d, float(10 - r)) for q, docs in ranked.items() for r, d in enumerate(docs, start=1)]
    ranking = pd.DataFrame(rows, columns=["query_id", "rank", "product_id", "score"])
    manifest = {"run_id": f"{strategy}-{stamp}-abcd1234", "strategy": strategy, "created": f"2026-12-07T00:00:{stamp}",
                "split": "test", "n_queries": len(per_query), "dataset": dataset.run_record(judgments=True),
                "metrics": mean_metrics(per_query), "backend": {"backend": "embedded"}, "seconds": 0.1,
                "queries_per_second": 20.0}
    save_run(lab.workspace, dataset.name, manifest, ranking, per_query)


@pytest.fixture
def lab(tmp_path) -> Lab:
    lab = Lab(workspace=tmp_path / "ws", backend=EmbeddedBackend(tmp_path / "ws"))
    lab.save_dataset(make_dataset())
    for i, (strategy, ranked) in enumerate(RUNS.items()):
        store_run(lab, strategy, ranked, f"0{i}")
    return lab


def write_csv(path, rows: list[str]):
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


# --- pool -----------------------------------------------------------------------------------------

def test_pool_pairs_grouped_by_query_best_rank_first(lab, tmp_path):
    pool = pool_runs(lab, ["alpha", "beta"], depth=2, out=tmp_path / "pool")
    pairs = pool.pairs
    assert list(zip(pairs["query_id"], pairs["product_id"], pairs["best_rank"], pairs["pooled_from"])) == [
        ("q1", "p3", 1, "alpha"), ("q1", "p4", 1, "beta"), ("q1", "p5", 2, "beta"),
        ("q2", "p6", 1, "beta"), ("q2", "p5", 2, "alpha")]
    assert pairs["query_text"].tolist()[:1] == ["red drill"]
    files = sorted(p.name for p in (tmp_path / "pool").iterdir())
    assert files == ["manifest.json", "pool.csv", "pool.jsonl", "pool.quepid.csv"]
    manifest = json.loads((tmp_path / "pool" / "manifest.json").read_text())
    assert (manifest["depth"], manifest["pairs"], manifest["queries"]) == (2, 5, 2)
    assert [r["strategy"] for r in manifest["runs"]] == ["alpha", "beta"]
    assert manifest["dataset"]["fingerprint"] == lab.dataset.fingerprint()
    quepid = (tmp_path / "pool" / "pool.quepid.csv").read_text().splitlines()
    assert quepid[:2] == ["query,docid,rating", "red drill,p3,"]
    jsonl = [json.loads(line) for line in (tmp_path / "pool" / "pool.jsonl").read_text().splitlines()]
    assert jsonl[0]["grade"] is None and len(jsonl) == 5


def test_pool_max_takes_whole_queries(lab, tmp_path):
    assert pool_runs(lab, ["alpha", "beta"], depth=2, max_pairs=4, out=tmp_path / "a").pairs["query_id"].tolist() == \
        ["q1"] * 3
    with pytest.raises(LabError, match="first query's pool alone has 3 pairs"):
        pool_runs(lab, ["alpha", "beta"], depth=2, max_pairs=2, out=tmp_path / "b")
    assert not (tmp_path / "b").exists()
    with pytest.raises(LabError, match="no run of 'gamma'"):
        pool_runs(lab, ["gamma"], out=tmp_path / "c")


def test_a_pool_description_is_cut(lab, tmp_path):
    pool = pool_runs(lab, ["beta"], depth=3, out=tmp_path / "pool")
    assert "p1" not in set(pool.pairs["product_id"])  # judged
    store_run(lab, "gamma", {"q1": ["p1"], "q2": ["p1"]}, "05")
    cut = pool_runs(lab, ["gamma"], depth=1, out=tmp_path / "pool2").pairs
    assert cut["product_description"].tolist() == ["d" * 500]


# --- import ---------------------------------------------------------------------------------------

def test_import_adds_agrees_and_keeps_conflicts_apart(lab, tmp_path):
    before = lab.dataset.qrels_fingerprint()
    grades = write_csv(tmp_path / "ann.csv", ["query_id,product_id,grade", "q1,p3,2", "q1,p1,1", "q2,p3,1", "q1,p4,"])
    merge = import_grades(lab, grades, rater="ann")
    assert (merge.added, merge.agreed, len(merge.conflicts), merge.ungraded) == (1, 1, 1, 1)
    assert merge.conflicts[0] | {"judged_at": None, "source": None} == {
        "query_id": "q1", "product_id": "p1", "kept": 2, "proposed": 1, "rater": "ann", "line": 3,
        "judged_at": None, "source": None}
    dataset = Dataset.load(lab.dataset_dir("tiny"))
    assert dataset.qrels_fingerprint() != before
    qrels = dataset.qrels.set_index(["query_id", "product_id"])
    assert qrels.loc[("q1", "p1"), "relevance"] == 2  # never overwritten
    assert qrels.loc[("q1", "p3"), "relevance"] == 2 and qrels.loc[("q1", "p3"), "rater"] == "ann"
    assert qrels.loc[("q1", "p3"), "source"] == str(grades.resolve())
    assert len(dataset.extras[LOG_TABLE]) == 3 and len(dataset.extras[CONFLICTS_TABLE]) == 1
    again = import_grades(lab, grades, rater="ann")
    assert (again.added, again.agreed, len(again.conflicts), again.repeated) == (0, 0, 0, 3)


@pytest.mark.parametrize("rows, message", [
    (["query_id,product_id,grade", "q1,p3,2", "q9,p1,1"], r"ann\.csv:3: field 'query_id': unknown query 'q9'"),
    (["query_id,product_id,grade", "q1,p9,1"], r"ann\.csv:2: field 'product_id': unknown product 'p9'"),
    (["query_id,product_id,grade", "q1,p3,3"], r"ann\.csv:2: field 'grade': grade '3' is not a whole number from 0 to 2"),
    (["query_id,product_id,grade", "q1,p3,1.5"], r"ann\.csv:2: field 'grade': grade '1.5'"),
    (["query_id,product_id,grade", "q1,p3,x"], r"ann\.csv:2: field 'grade': grade 'x'"),
    (["query_id,product_id,grade", "q1,p3,1", "q1,p3,1"], r"ann\.csv:3: query 'q1', product 'p3' already graded on line 2"),
    (["query_id,product_id,grade", "q3,p3,1"], r"ann\.csv:2: field 'query_id': query 'q3' is unlabeled"),
    (["query_id,product,grade", "q1,p3,1"], r"ann\.csv:2: no field 'product_id' or 'docid'"),
    (["query,docid,rating", "nothing,p3,1"], r"ann\.csv:2: field 'query': 'nothing' is not a query"),
])
def test_a_bad_line_is_one_error_and_changes_nothing(lab, tmp_path, rows, message):
    before = Dataset.load(lab.dataset_dir("tiny")).fingerprint()
    with pytest.raises(LabError, match=message):
        import_grades(lab, write_csv(tmp_path / "ann.csv", rows), rater="ann")
    assert Dataset.load(lab.dataset_dir("tiny")).fingerprint() == before


def test_a_quoted_text_over_several_lines_keeps_the_line_numbers(lab, tmp_path):
    sheet = write_csv(tmp_path / "ann.csv", ["query_id,product_id,product_title,grade", 'q1,p3,"two\nlines",2',
                                             "q1,p9,x,1"])
    with pytest.raises(LabError, match=r"ann\.csv:4: field 'product_id': unknown product 'p9'"):
        import_grades(lab, sheet, rater="ann")


def test_jsonl_and_quepid_files(lab, tmp_path):
    jsonl = tmp_path / "g.jsonl"
    jsonl.write_text('{"query_id": "q1", "product_id": "p4", "grade": 0}\n\n{"query_id": "q2", "product_id": "p6", '
                     '"grade": 2}\n', encoding="utf-8")
    assert import_grades(lab, jsonl, rater="ann").added == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query_id": "q1", "product_id": "p5", "grade": 0}\n[1]\n', encoding="utf-8")
    with pytest.raises(LabError, match=r"bad\.jsonl:2: not a JSON object"):
        import_grades(lab, bad, rater="ann")
    quepid = write_csv(tmp_path / "quepid.csv", ["query,docid,rating", "blue saw,p5,1"])
    assert import_grades(lab, quepid, rater="bob").added == 1
    assert lab.dataset.qrels_dict("test")["q2"] == {"p3": 1, "p6": 2, "p5": 1}


def test_a_failed_save_leaves_the_dataset_whole(lab, tmp_path, monkeypatch):
    import lab.data.dataset as dataset_module

    before = Dataset.load(lab.dataset_dir("tiny")).fingerprint()
    real = dataset_module.pq.write_table

    def failing(table, where, *args, **kwargs):
        if str(where).endswith(f"{LOG_TABLE}.parquet"):
            raise OSError("disk full")
        return real(table, where, *args, **kwargs)

    monkeypatch.setattr(dataset_module.pq, "write_table", failing)
    with pytest.raises(OSError):
        import_grades(lab, write_csv(tmp_path / "ann.csv", ["query_id,product_id,grade", "q1,p3,2"]), rater="ann")
    assert Dataset.load(lab.dataset_dir("tiny")).fingerprint() == before


# --- stats and agreement --------------------------------------------------------------------------

def test_stats_grades_coverage_and_kappa_by_hand(lab, tmp_path):
    import_grades(lab, write_csv(tmp_path / "ann.csv", ["query_id,product_id,grade", "q1,p3,2", "q1,p1,1", "q2,p3,1"]),
                  rater="ann")
    import_grades(lab, write_csv(tmp_path / "bob.csv", ["query_id,product_id,grade", "q1,p3,2", "q1,p1,2", "q2,p3,0"]),
                  rater="bob")
    stats = judgment_stats(lab)
    assert stats.grades.loc["test"].to_dict() == {"judged queries": 2, "grade 0": 1, "grade 1": 1, "grade 2": 2,
                                                  "judgments": 4}
    assert stats.conflicts == 2
    agreement = stats.agreement.set_index(["rater a", "rater b"])
    # ann [2,1,1] vs bob [2,2,0]: p_o = 1/3, p_e = 1/3·2/3 = 2/9 → (1/3 − 2/9) / (1 − 2/9) = 1/7
    assert agreement.loc[("ann", "bob"), "kappa"] == pytest.approx(1 / 7)
    assert agreement.loc[("ann", "bob"), "identical"] == pytest.approx(1 / 3)
    # quadratic weights: Σw·O = 1 + 1 = 2, Σw·E = (2·1·1 + 1·2·2 + 4·1·1) / 3 = 10/3 → 1 − 2 / (10/3) = 0.4
    assert agreement.loc[("ann", "bob"), "weighted kappa"] == pytest.approx(0.4)
    # original [2,1] vs bob [2,0]: p_o = 1/2, p_e = 1/4 → 1/3; original vs ann [1,1]: p_e = 1/2 → 0
    assert agreement.loc[("bob", "original"), "kappa"] == pytest.approx(1 / 3)
    assert agreement.loc[("ann", "original"), "kappa"] == pytest.approx(0.0)
    coverage = stats.coverage.set_index("strategy")
    assert coverage.loc["alpha", "judged@10"] == pytest.approx((2 / 10 + 1 / 10) / 2)  # q1: p3 p1; q2: p3
    assert coverage.loc["alpha", "stored"] == pytest.approx(0.1)
    assert coverage["stale"].all()


# --- rescore --------------------------------------------------------------------------------------

def test_rescore_scores_the_stored_ranking_against_new_judgments(lab, tmp_path):
    fingerprint = lab.dataset.qrels_fingerprint()
    assert {r.strategy for r in latest_runs(lab.workspace, "tiny", "test", fingerprint)} == {"alpha", "beta"}
    import_grades(lab, write_csv(tmp_path / "ann.csv", ["query_id,product_id,grade", "q1,p3,2"]), rater="ann")
    assert latest_runs(lab.workspace, "tiny", "test", lab.dataset.qrels_fingerprint()) == []
    done = {r.run.strategy: r for r in rescore_runs(lab)}
    alpha = done["alpha"]
    assert alpha.original.metrics["mrr@10"] == pytest.approx((1 / 2 + 1) / 2)  # q1: p1 at rank 2 → 1/2
    assert alpha.run.metrics["mrr@10"] == pytest.approx(1.0)                  # q1: p3 at rank 1 now judged 2
    assert alpha.run.metrics["judged@10"] == pytest.approx(0.15)
    assert alpha.run.manifest["rescored_from"]["run_id"] == alpha.original.run_id
    assert alpha.run.ranking().equals(alpha.original.ranking())
    assert alpha.missing_queries == 0
    assert {r.strategy for r in latest_runs(lab.workspace, "tiny", "test", lab.dataset.qrels_fingerprint())} == \
        {"alpha", "beta"}
    assert rescore_runs(lab) == []
    assert len(list_runs(lab.workspace, "tiny")) == 4


# --- CLI ------------------------------------------------------------------------------------------

def test_the_cli_loop(lab, tmp_path):
    runner = CliRunner()
    ws = ["--workspace", str(lab.workspace)]
    out = runner.invoke(cli, [*ws, "judge", "pool", "--strategies", "alpha,beta", "--depth", "2", "--out",
                              str(tmp_path / "pool")])
    assert out.exit_code == 0, out.output
    assert "pooled 5 unjudged pairs of 2 queries from 2 runs" in out.output
    sheet = pd.read_csv(tmp_path / "pool" / "pool.csv")
    sheet["grade"] = [2, 0, 1, 1, 0]
    sheet.to_csv(tmp_path / "graded.csv", index=False)
    out = runner.invoke(cli, [*ws, "judge", "import", str(tmp_path / "graded.csv"), "--rater", "ann"])
    assert out.exit_code == 0, out.output
    assert "ann: 5 new judgments" in out.output and "lab rescore" in out.output
    out = runner.invoke(cli, [*ws, "judge", "import", str(tmp_path / "missing.csv")])
    assert out.exit_code == 1 and "missing.csv: no such file" in out.output
    out = runner.invoke(cli, [*ws, "judge", "stats"])
    assert out.exit_code == 0, out.output
    assert "stale" in out.output
    out = runner.invoke(cli, [*ws, "rescore"])
    assert out.exit_code == 0, out.output
    assert "alpha" in out.output and "beta" in out.output
    out = runner.invoke(cli, [*ws, "rescore"])
    assert "every latest run on split 'test' is scored on the current judgments" in out.output


# --- coverage in the leaderboard ------------------------------------------------------------------

def test_leaderboard_coverage_columns_by_hand(lab):
    import math

    from lab.leaderboard import choose_columns, leaderboard_table

    runs = latest_runs(lab.workspace, "tiny", "test", lab.dataset.qrels_fingerprint())
    table = leaderboard_table(runs, coverage=lab.dataset.qrels_dict("test")).set_index("strategy")
    l3 = math.log2(3)
    # alpha, q1 [p3 p1 p4] {p1: 2, p2: 0}: condensed [p1] → 1; every unjudged hit at grade 2 → 2, 2, 2 is ideal
    # alpha, q2 [p3 p5] {p3: 1}: condensed [p3] → 1; unjudged=top: (1 + 2/log2 3) / (2 + 1/log2 3)
    assert table.loc["alpha", "ndcg@10 condensed"] == pytest.approx(1.0)
    assert table.loc["alpha", "ndcg@10 unjudged=top"] == pytest.approx((1 + (1 + 2 / l3) / (2 + 1 / l3)) / 2)
    assert table.loc["alpha", "bpref"] == pytest.approx(1.0)
    shown = choose_columns(None, False, table.reset_index())
    assert shown[shown.index("judged@10") + 1:][:3] == ["ndcg@10 condensed", "ndcg@10 unjudged=top", "bpref"]
    with pytest.raises(LabError, match="'bpref' needs --coverage"):
        choose_columns("strategy,bpref", False, leaderboard_table(runs))


def test_compare_coverage_and_the_judged_gap_warning(lab):
    import math

    from lab.experiments.compare import compare_runs, coverage_rows

    store_run(lab, "gamma", {"q1": ["p1", "p2"], "q2": ["p3"]}, "05")
    runs = latest_runs(lab.workspace, "tiny", "test", lab.dataset.qrels_fingerprint())
    runs = sorted(runs, key=lambda r: r.strategy)  # alpha, beta, gamma
    comparison = compare_runs(runs, ["ndcg@10"], judged_margin=0.01)
    # judged@10: alpha (1 + 1) / 20 = 0.10, beta 0.10, gamma (2 + 1) / 20 = 0.15
    assert comparison.judged_gaps == [("alpha", "gamma", pytest.approx(0.05)), ("beta", "gamma", pytest.approx(0.05))]
    assert compare_runs(runs, ["ndcg@10"], judged_margin=0.1).judged_gaps == []
    rows = coverage_rows(runs[:1], lab.dataset.qrels_dict("test"), ["ndcg@10"]).iloc[0]
    assert (rows["k"], rows["judged@k"]) == (10, pytest.approx(0.1))
    assert rows["value"] == pytest.approx((1 / math.log2(3) + 1) / 2)  # q1: p1 (2) at rank 2; q2: p3 at rank 1
    assert (rows["condensed"], rows["bpref"]) == (pytest.approx(1.0), pytest.approx(1.0))
    out = CliRunner().invoke(cli, ["--workspace", str(lab.workspace), "compare", "alpha", "gamma", "--metric",
                                   "ndcg@10", "--coverage", "--judged-margin", "0.01", "--format", "markdown"])
    assert out.exit_code == 0, out.output
    assert "judged@10 of alpha and gamma differ by +0.050" in out.output
    assert "| metric | strategy | k | judged@k | value | condensed | unjudged=top | bpref |" in out.output


def test_importing_a_dataset_again_does_not_drop_imported_grades(tmp_path):
    from click.testing import CliRunner

    from lab.cli import cli

    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text("".join(json.dumps({"_id": f"d{i}", "title": f"drill {i}", "text": ""}) + "\n"
                                               for i in range(4)), encoding="utf-8")
    (beir / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "drill"}) + "\n", encoding="utf-8")
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td0\t1\n", encoding="utf-8")
    ws = tmp_path / "ws"

    def lab(*args: str):
        return CliRunner().invoke(cli, ["--workspace", str(ws), *args], obj={})

    assert lab("data", "import", "beir", "--from", str(beir), "--name", "tiny").exit_code == 0
    qid = Dataset.load(ws / "datasets" / "tiny").queries["query_id"][0]  # the lab's id of q1
    grades = write_csv(tmp_path / "ann.csv", ["query_id,product_id,grade", f"{qid},d1,1", f"{qid},d2,0"])
    assert lab("judge", "import", str(grades), "--rater", "ann").exit_code == 0
    again = lab("data", "import", "beir", "--from", str(beir), "--name", "tiny")
    assert again.exit_code == 1
    assert again.output.strip() == ("error: dataset 'tiny' holds 2 grades imported with `lab judge import`; importing "
                                    "it again would drop them: give another --name, or --replace-judgments to "
                                    "replace it anyway")
    assert len(Dataset.load(ws / "datasets" / "tiny").qrels) == 3  # kept
    assert lab("data", "import", "beir", "--from", str(beir), "--name", "tiny", "--replace-judgments").exit_code == 0
    assert len(Dataset.load(ws / "datasets" / "tiny").qrels) == 1
