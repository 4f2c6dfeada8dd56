"""`lab ltr export`: the feature set, model and rescore in the OpenSearch LTR plugin's documented formats, the
trees checked by walking them as the plugin's xgboost+json parser does (x < split_condition → yes)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xgboost as xgb
from click.testing import CliRunner

from demo_support import logged_demo
from lab.cli import cli
from lab.errors import LabError
from lab.ltr.features import load_feature_set
from lab.ltr.logging import log_features
from lab.ltr.training import train_model
from lab.templates import load_templates

QUERY_FEATURES = {"features": [
    {"name": "title_bm25", "query": {"match": {"product_title": "{{query_text}}"}}},
    {"name": "title_all", "query": {"match": {"product_title": {"query": "{{query_text}}", "operator": "and"}}}},
    {"name": "text_bm25", "query": {"multi_match": {"query": "{{query_text}}",
                                                    "fields": ["product_title^4", "product_description"]}}}]}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    lab, _, log = logged_demo(root, QUERY_FEATURES, "plugin", seed=9, n_products=250, n_queries=160, depth=15)
    model = train_model(lab, log, "plugin-ltr", rounds=40, early_stopping=10)
    result = CliRunner().invoke(cli, ["--workspace", str(lab.workspace), "ltr", "export", "plugin-ltr",
                                      "--out", str(root / "out")], obj={})
    assert result.exit_code == 0, result.output
    return lab, log, model, root / "out"


def walk(node: dict, row: dict[str, float]) -> float:
    """One tree's leaf for ``row``, by the documented dump format (nodeid, split, split_condition, yes, no, missing,
    children; leaves hold leaf), comparing in float32 as the plugin (Java floats) and XGBoost do."""
    while "leaf" not in node:
        value = np.float32(row[node["split"]])
        below = value < np.float32(node["split_condition"])
        target = node["missing"] if np.isnan(value) else node["yes"] if below else node["no"]
        node = next(child for child in node["children"] if child["nodeid"] == target)
    return node["leaf"]


def test_the_feature_set_is_mustache_templates_with_keywords(exported):
    *_, out = exported
    body = json.loads((out / "featureset.json").read_text())
    features = body["featureset"]["features"]
    assert [f["name"] for f in features] == ["title_bm25", "title_all", "text_bm25"]
    for feature in features:
        assert feature["params"] == ["keywords"] and feature["template_language"] == "mustache"
        assert "{{query_text}}" not in json.dumps(feature) and "{{keywords}}" in json.dumps(feature)
    assert features[1]["template"] == {"match": {"product_title": {"query": "{{keywords}}", "operator": "and"}}}


def test_the_model_definition_ranks_as_the_lab(exported):
    _, log, model, out = exported
    body = json.loads((out / "model.json").read_text())
    assert body["model"]["name"] == "plugin-ltr" and body["model"]["model"]["type"] == "model/xgboost+json"
    trees = json.loads(body["model"]["model"]["definition"])  # a string holding the JSON array of trees
    assert len(trees) == model.card["trees"]
    rows = log.table[log.table["split"] == "val"]
    names = model.card["feature_set"]["features"]
    walked = np.array([sum(walk(tree, dict(zip(names, values))) for tree in trees)
                       for values in rows[names].to_numpy(np.float64)])
    margin = model.booster.predict(xgb.DMatrix(rows[names].to_numpy(np.float32), feature_names=names),
                                   output_margin=True)
    # the plugin adds no base score: the same scores up to one constant, so the same order
    offset = margin - walked
    assert np.allclose(offset, offset[0], atol=1e-4)


def test_the_search_template_rescores_the_first_stage_window(exported):
    *_, out = exported
    search = json.loads((out / "search-template.json").read_text())
    rescore = search["rescore"]
    assert rescore["window_size"] == 15
    assert rescore["query"]["rescore_query"] == {"sltr": {"params": {"keywords": "{{query_text}}"},
                                                          "model": "plugin-ltr"}}
    assert rescore["query"]["query_weight"] == 0.0 and rescore["query"]["rescore_query_weight"] == 1.0
    assert "bool" in search["query"] and search["size"] == "{{size}}"


def test_a_model_with_builtin_features_is_refused_naming_them(exported, tmp_path):
    lab, log, _, _ = exported
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps({"features": [
        {"name": "title_bm25", "query": {"match": {"product_title": "{{query_text}}"}}},
        {"name": "words", "builtin": "query_length"}]}), encoding="utf-8")
    mixed = log_features(lab, load_feature_set(path), load_templates(lab.queries_dir)["textsearch"], "mixed",
                         splits=("train", "val"), depth=5)
    train_model(lab, mixed, "mixed", rounds=5)
    result = CliRunner().invoke(cli, ["--workspace", str(lab.workspace), "ltr", "export", "mixed",
                                      "--out", str(tmp_path / "out")], obj={})
    assert result.exit_code == 1
    assert "built-in features words (query_length) have no OpenSearch LTR plugin form" in result.output
    assert not (tmp_path / "out").exists()
    with pytest.raises(LabError, match="no LTR model 'nope'"):
        from lab.ltr.export import export_model

        export_model(lab, "nope")
