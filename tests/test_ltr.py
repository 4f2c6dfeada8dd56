"""Learning to rank on the demo: feature logs (labels, unjudged candidates, nothing half-written), LambdaMART
training (never a test query, early stopping on val, the errors), the `rerank` stage of a strategy and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from demo_support import logged_demo
from lab.cli import cli
from lab.errors import LabError, TemplateError
from lab.ltr.features import load_feature_set
from lab.ltr.logging import log_features
from lab.ltr.store import FeatureLog, load_log
from lab.ltr.training import train_model, training_frame
from lab.runner import execute_strategy
from lab.templates import load_template, load_templates

FEATURES = {"features": [
    {"name": "title_bm25", "query": {"match": {"product_title": "{{query_text}}"}}},
    {"name": "title_all", "query": {"match": {"product_title": {"query": "{{query_text}}", "operator": "and"}}}},
    {"name": "coverage", "builtin": "coverage", "field": "product_title"},
    {"name": "words", "builtin": "query_length"}]}


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    return logged_demo(tmp_path_factory.mktemp("ltr"), FEATURES, "demo", seed=5, n_products=300, n_queries=200,
                       depth=20)


def test_the_log_holds_the_top_candidates_with_their_labels(logged):
    lab, _, log = logged
    table = log.table
    assert list(table.columns[:7]) == ["split", "query_id", "rank", "product_id", "first_stage_score", "label", "judged"]
    assert list(table.columns[7:]) == ["title_bm25", "title_all", "coverage", "words"]
    assert set(table["split"]) == {"train", "val", "test"}
    assert table.groupby("query_id")["rank"].max().max() <= 20
    qrels = lab.dataset.qrels_dict("all")
    for row in table.sample(50, random_state=0).itertuples():
        label = qrels[row.query_id].get(row.product_id)
        assert row.judged == (label is not None)
        assert (np.isnan(row.label) if label is None else row.label == label)
    # a reloaded log is the same table
    assert load_log(lab, "demo").table.equals(table)
    counts = log.manifest["splits"]["val"]
    assert counts["rows"] == int((table["split"] == "val").sum())


def test_unjudged_candidates_train_as_zero_or_are_left_out(logged):
    _, _, log = logged
    train = log.table[log.table["split"] == "train"]
    zero, drop = training_frame(log, "train", "zero"), training_frame(log, "train", "drop")
    assert len(zero) == len(train) and len(drop) == int(train["judged"].sum())
    assert (zero.loc[~zero["judged"], "label"] == 0).all()
    assert not drop["label"].isna().any()


def synthetic_log(lab, path: Path) -> FeatureLog:
    """Each train/val query's judged products plus two unjudged ones, the first stage in the worst order (lowest
    label first) and feature ``title_bm25`` = label + 1 (0 for unjudged): a model can only learn the ideal order."""
    dataset, rng = lab.dataset, np.random.default_rng(0)
    products = dataset.products["product_id"].tolist()
    rows = []
    for split in ("train", "val"):
        for qid, judged in dataset.qrels_dict(split).items():
            others = [p for p in rng.choice(products, 6, replace=False) if p not in judged][:2]
            items = sorted(judged.items(), key=lambda kv: kv[1])
            ranked = [(p, np.nan) for p in others] + [(p, float(label)) for p, label in items]
            for rank, (pid, label) in enumerate(ranked, start=1):
                signal = 0.0 if np.isnan(label) else label + 1
                rows.append((split, qid, rank, pid, 1.0 / rank, label, not np.isnan(label), signal, 0.0,
                             rng.random(), 1.0))
    columns = ["split", "query_id", "rank", "product_id", "first_stage_score", "label", "judged",
               "title_bm25", "title_all", "coverage", "words"]
    feature_set = load_feature_set(path)
    manifest = {"feature_set": feature_set.record(), "dataset": dataset.run_record(judgments=True), "depth": 20,
                "first_stage": {"name": "synthetic"}}
    return FeatureLog("synthetic", path, manifest, pd.DataFrame(rows, columns=columns))


def test_a_model_learns_the_one_feature_that_carries_the_labels(logged):
    lab, path, _ = logged
    model = train_model(lab, synthetic_log(lab, path), "synthetic", rounds=50, early_stopping=10)
    card = model.card
    # every judged product is a candidate, so ordering by label is the ideal ranking: nDCG@10 1 on val
    assert card["val"]["reranked"]["ndcg@10"] == pytest.approx(1.0)
    assert card["val"]["first_stage"]["ndcg@10"] < 0.95
    gains = card["feature_importance_gain"]
    assert max(gains, key=gains.get) == "title_bm25"
    assert card["test_query_overlap"] == 0 and len(card["val_curve"]) >= card["trees"]
    assert (model.path / "model.json").is_file()


def test_a_test_query_never_trains(logged):
    lab, path, _ = logged
    log = synthetic_log(lab, path)
    test_query = next(iter(lab.dataset.qrels_dict("test")))
    leaked = log.table.copy()
    leaked.loc[leaked.index[0], "query_id"] = test_query  # a test query marked as train
    with pytest.raises(LabError, match="training on them would leak"):
        train_model(lab, FeatureLog("leaky", path, log.manifest, leaked), "leaky", rounds=5)
    assert not (lab.workspace / "ltr" / lab.index_name / "models" / "leaky").exists()


def test_a_log_without_val_rows_is_refused(logged):
    lab, path, _ = logged
    log = synthetic_log(lab, path)
    no_val = FeatureLog("noval", path, log.manifest, log.table[log.table["split"] == "train"])
    with pytest.raises(LabError, match=r"feature log 'noval' has no val rows"):
        train_model(lab, no_val, "noval", rounds=5)


def test_a_feature_set_changed_since_logging_is_refused(logged, tmp_path):
    lab, path, _ = logged
    copy = tmp_path / "demo.json"
    copy.write_text(path.read_text(), encoding="utf-8")
    log = synthetic_log(lab, copy)
    copy.write_text(json.dumps({**FEATURES, "description": "edited"}), encoding="utf-8")
    with pytest.raises(LabError, match=r"demo\.json changed since feature log 'synthetic' was made"):
        train_model(lab, log, "stale", rounds=5)


def test_the_rerank_stage_of_a_strategy(logged, tmp_path):
    lab, path, log = logged
    model = train_model(lab, log, "demo-ltr", rounds=200, early_stopping=20)
    body = json.loads((lab.queries_dir / "textsearch.json").read_text())
    (tmp_path / "ltr_demo.json").write_text(json.dumps({**body, "rerank": {"ltr": "demo-ltr", "window": 20}}))
    template = load_template(tmp_path / "ltr_demo.json")
    first = execute_strategy(lab, load_templates(lab.queries_dir)["textsearch"], split="val")
    second = execute_strategy(lab, template, split="val")
    # the window's hits are the first stage's, reordered; the rest follow in their first-stage order
    for qid, hits in second.ranking.groupby("query_id"):
        before = first.ranking[first.ranking["query_id"] == qid]["product_id"].tolist()
        after = hits["product_id"].tolist()
        assert set(after[:20]) == set(before[:20]) and after[20:] == before[20:]
        assert hits["score"].is_monotonic_decreasing
    # the val candidates the card scored are the run's: the same val nDCG@10
    assert second.manifest["metrics"]["ndcg@10"] == pytest.approx(model.card["val"]["reranked"]["ndcg@10"])
    assert second.manifest["rerank"]["ltr"] == "demo-ltr"
    assert second.manifest["model_costs"]["ltr:demo-ltr"]["kind"] == "ltr"


def words_only(log: FeatureLog, directory: Path, name: str) -> tuple[Path, FeatureLog]:
    """A feature set ``<name>.json`` of the query length alone, and ``log`` cut down to it."""
    path = directory / f"{name}.json"
    path.write_text(json.dumps({"features": [{"name": "words", "builtin": "query_length"}]}), encoding="utf-8")
    return path, FeatureLog(name, path, {**log.manifest, "feature_set": load_feature_set(path).record()},
                            log.table[[*log.table.columns[:7], "words"]])


def test_a_model_scoring_every_candidate_alike_keeps_the_first_stage_order(logged, tmp_path):
    lab, _, log = logged
    path, words_log = words_only(log, tmp_path, "words")
    train_model(lab, words_log, "words-only", rounds=20)  # one value per query: equal scores within a query
    body = json.loads((lab.queries_dir / "textsearch.json").read_text())
    (tmp_path / "ltr_words.json").write_text(json.dumps({**body, "rerank": {"ltr": "words-only", "window": 20}}))
    first = execute_strategy(lab, load_templates(lab.queries_dir)["textsearch"], split="val")
    second = execute_strategy(lab, load_template(tmp_path / "ltr_words.json"), split="val")
    assert second.ranking["product_id"].tolist() == first.ranking["product_id"].tolist()


def test_a_model_of_a_changed_feature_set_is_refused_at_rerank(logged, tmp_path):
    lab, _, log = logged
    path, changing = words_only(log, tmp_path, "changing")
    train_model(lab, changing, "changing", rounds=5)
    path.write_text(json.dumps({"features": [{"name": "other", "builtin": "query_length"}]}), encoding="utf-8")
    body = json.loads((lab.queries_dir / "textsearch.json").read_text())
    (tmp_path / "ltr_changing.json").write_text(json.dumps({**body, "rerank": {"ltr": "changing"}}))
    with pytest.raises(LabError, match=r"changing\.json changed since LTR model 'changing' was made"):
        execute_strategy(lab, load_template(tmp_path / "ltr_changing.json"), split="val")


def test_a_model_changed_since_logging_is_refused_at_training_and_at_rerank(logged, tmp_path):
    lab, _, log = logged
    path = tmp_path / "cosine.json"
    path.write_text(json.dumps({"features": [{"name": "title_cosine", "builtin": "cosine", "vector": "text_vector",
                                              "model": "minilm"}]}), encoding="utf-8")
    current = lab.encoder("minilm").fingerprint
    fresh = log_features(lab, load_feature_set(path), lab.templates()["textsearch"], "cosine", splits=("val",),
                         depth=5)
    assert fresh.manifest["model_fingerprints"] == {"cosine:minilm": current}
    table = log.table[[*log.table.columns[:7]]].assign(title_cosine=log.table["title_bm25"])
    stale = {**log.manifest, "feature_set": load_feature_set(path).record(),
             "model_fingerprints": {"cosine:minilm": "0123456789abcdef"}}
    with pytest.raises(LabError, match=rf"feature log 'stale' was made with another version of model 'minilm' "
                                       rf"\(fingerprint 0123456789ab then, {current[:12]} now\)"):
        train_model(lab, FeatureLog("stale", path, stale, table), "stale", rounds=5)
    model = train_model(lab, FeatureLog("current", path, {**stale, "model_fingerprints": {"cosine:minilm": current}},
                                        table), "cosine-ltr", rounds=5)
    assert model.card["model_fingerprints"] == {"cosine:minilm": current}
    card_path = model.path / "card.json"
    card_path.write_text(json.dumps({**model.card, "model_fingerprints": {"cosine:minilm": "fedcba9876543210"}}))
    body = json.loads((lab.queries_dir / "textsearch.json").read_text())
    (tmp_path / "ltr_cosine.json").write_text(json.dumps({**body, "rerank": {"ltr": "cosine-ltr", "window": 5}}))
    with pytest.raises(LabError, match=r"LTR model 'cosine-ltr' was made with another version of model 'minilm'"):
        execute_strategy(lab, load_template(tmp_path / "ltr_cosine.json"), split="val")


@pytest.mark.parametrize("rerank, message", [
    ({"ltr": ""}, r"rerank: must be an object like"),
    ({"ltr": "m", "window": 0}, r"rerank\.window: must be a positive integer, got 0"),
    ({"ltr": "m", "depth": 5}, r"rerank\.depth: unknown key"),
])
def test_bad_rerank_keys(tmp_path, rerank, message):
    body = json.loads((Path(__file__).parent.parent / "queries" / "textsearch.json").read_text())
    (tmp_path / "bad.json").write_text(json.dumps({**body, "rerank": rerank}))
    with pytest.raises(TemplateError, match=message):
        load_template(tmp_path / "bad.json")


def test_a_failing_feature_writes_no_log(logged, tmp_path):
    lab, _, _ = logged
    path = tmp_path / "broken.json"
    path.write_text(json.dumps({"features": [{"name": "bad", "query": {"match_phrase": {"product_title": "{{query_text}}"}}}]}))
    template = load_templates(lab.queries_dir)["textsearch"]
    with pytest.raises(LabError, match=r"broken\.json: feature 'bad' failed"):
        log_features(lab, load_feature_set(path), template, "broken", depth=5)
    assert not (lab.workspace / "ltr" / lab.index_name / "logs" / "broken").exists()


def test_the_cli_logs_and_trains_and_says_what_is_wrong_in_one_line(logged):
    lab, _, _ = logged
    runner = CliRunner()
    base = ["--workspace", str(lab.workspace)]
    result = runner.invoke(cli, [*base, "ltr", "log", "--features", "nope"], obj={})
    assert result.exit_code == 1 and "unknown feature set 'nope'" in result.output
    assert len(result.output.strip().splitlines()) == 1
    result = runner.invoke(cli, [*base, "ltr", "train", "--log", "missing", "--name", "x"], obj={})
    assert result.exit_code == 1 and "no feature log 'missing'" in result.output
    result = runner.invoke(cli, [*base, "ltr", "train", "--log", "demo", "--name", "cli", "--rounds", "20"], obj={})
    assert result.exit_code == 0, result.output
    assert "ndcg@10" in result.output and "trees" in result.output
    result = runner.invoke(cli, [*base, "ltr", "train", "--log", "demo", "--name", "cli"], obj={})
    assert result.exit_code == 1 and "already exists" in result.output
