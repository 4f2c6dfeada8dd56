"""Feature sets: the file format and its one-line errors, the text built-ins worked out by hand, and feature values
computed through the backend for candidates only (a clause's score, 0 where it does not match)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lab.backends.embedded import EmbeddedBackend
from lab.context import Lab
from lab.data import Dataset
from lab.errors import LabError
from lab.indexer import build_index
from lab.ltr.features import builtin_column, feature_set_named, load_feature_set, numbers, shared_counts, words
from lab.ltr.values import Pairs, feature_values, row_dots


def write(tmp_path: Path, data, name: str = "fs") -> Path:
    path = tmp_path / f"{name}.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def test_the_shipped_feature_set_loads():
    feature_set = feature_set_named("homedepot")
    assert "title_bm25" in feature_set.names and feature_set.models == ["minilm"]


@pytest.mark.parametrize("data, message", [
    ('{"features": [\n  {"name": "a",}\n]}', r"fs\.json:2:\d+: invalid JSON"),
    ({"features": []}, r"fs\.json: features: must be a non-empty array"),
    ({"features": [{"name": "a", "builtin": "query_length"}, {"name": "a", "builtin": "query_length"}]},
     r"features\[1\]\.name: 'a' is already a feature"),
    ({"features": [{"name": "a", "builtin": "bm25"}]}, r"features\[0\]\.builtin: unknown built-in \"bm25\""),
    ({"features": [{"name": "a", "builtin": "cosine", "model": "minilm"}]},
     r"features\[0\]\.vector: built-in 'cosine' needs vector"),
    ({"features": [{"name": "a", "builtin": "query_length", "field": "x"}]}, r"features\[0\]\.field: unknown key"),
    ({"features": [{"name": "a", "query": {"match": {"product_title": "{{keywords}}"}}}]},
     r"fs\.json: features\[0\]\.query\.match\.product_title: no value for \{\{keywords\}\}"),
    ({"features": [{"name": "a", "query": {"match": {}}, "builtin": "query_length"}]}, r"features\[0\]: give exactly one"),
    ({"features": [{"name": "1a", "builtin": "query_length"}]}, r"features\[0\]\.name: a feature name"),
])
def test_bad_feature_sets_are_one_line_errors_naming_the_place(tmp_path, data, message):
    with pytest.raises(LabError, match=message) as caught:
        load_feature_set(write(tmp_path, data))
    assert "\n" not in str(caught.value)


def test_an_unknown_feature_set_lists_the_known_ones(tmp_path):
    write(tmp_path, {"features": [{"name": "a", "builtin": "query_length"}]}, "mine")
    with pytest.raises(LabError, match=r"unknown feature set 'other' in .* \(known: mine\)"):
        feature_set_named("other", [tmp_path])
    with pytest.raises(LabError, match=r"unknown feature set 'mien' in .* \(did you mean 'mine'\?\)"):
        feature_set_named("mien", [tmp_path])


def test_a_workspace_feature_set_overrides_the_checkouts(tmp_path):
    checkout, workspace = tmp_path / "features", tmp_path / "ws" / "features"
    checkout.mkdir()
    workspace.mkdir(parents=True)
    write(checkout, {"description": "shipped", "features": [{"name": "a", "builtin": "query_length"}]}, "hd")
    write(workspace, {"description": "mine", "features": [{"name": "a", "builtin": "query_length"}]}, "hd")
    write(checkout, {"features": [{"name": "b", "builtin": "query_length"}]}, "only_shipped")
    assert feature_set_named("hd", [checkout, workspace]).path == workspace / "hd.json"
    assert feature_set_named("only_shipped", [checkout, workspace]).path == checkout / "only_shipped.json"


def builtin_value(feature, query: str, title: str | None) -> float:
    """The built-in's column for the one pair (query, title)."""
    return float(builtin_column(feature, [query], [title], np.array([0]), np.array([0]))[0])


def test_text_builtins_by_hand(tmp_path):
    feature_set = load_feature_set(write(tmp_path, {"features": [
        {"name": "q", "builtin": "query_length"}, {"name": "cov", "builtin": "coverage", "field": "product_title"},
        {"name": "num", "builtin": "numbers", "field": "product_title"},
        {"name": "len", "builtin": "field_length", "field": "product_title"}]}))
    q, cov, num, length = feature_set.features
    query, title = "3/4 in. Copper pipes 010", "Copper Pipe 3/4 in. x 10 ft."
    assert words(query) == ("3/4", "in", "copper", "pipe", "010")
    assert numbers(title) == {"3/4", "10"}
    assert builtin_value(q, query, title) == 5.0
    assert builtin_value(cov, query, title) == 4 / 5  # 3/4, in, copper, pipe of five
    assert builtin_value(num, query, title) == 2.0  # 3/4 and 10 (010 without its leading zero)
    assert builtin_value(length, query, title) == 7.0
    assert builtin_value(cov, "", title) == 0.0
    assert builtin_value(length, query, None) == 0.0 and builtin_value(cov, query, None) == 0.0


def test_head_word_and_bigram_coverage_by_hand(tmp_path):
    head, pairs = load_feature_set(write(tmp_path, {"features": [
        {"name": "head", "builtin": "head_word", "field": "product_title"},
        {"name": "pairs", "builtin": "bigram_coverage", "field": "product_title"}]})).features
    title = "Cordless Drill Kit with 18V Battery"
    assert builtin_value(head, "cordless drills", title) == 1.0  # drill(s) is the last word and in the title
    assert builtin_value(head, "drill battery charger", title) == 0.0
    assert builtin_value(head, "", title) == 0.0
    # (cordless, drill) adjacent in the title; (drill, battery) not; (battery, 18v) reversed there
    assert builtin_value(pairs, "cordless drill battery", title) == 1 / 2
    assert builtin_value(pairs, "drill", title) == 0.0


def test_text_builtin_columns_pair_each_query_with_its_candidates(tmp_path):
    features = load_feature_set(write(tmp_path, {"features": [
        {"name": "q", "builtin": "query_length"}, {"name": "cov", "builtin": "coverage", "field": "product_title"},
        {"name": "num", "builtin": "numbers", "field": "product_title"},
        {"name": "len", "builtin": "field_length", "field": "product_title"},
        {"name": "head", "builtin": "head_word", "field": "product_title"},
        {"name": "pairs", "builtin": "bigram_coverage", "field": "product_title"}]})).features
    queries = ["red drill bits", "2 in. pipe", ""]
    titles = ["Red Drill Bit Set", "Pipe 2 in. x 10 ft.", None]
    query_rows, title_rows = np.array([0, 0, 0, 1, 1, 1, 2]), np.array([0, 1, 2, 1, 0, 2, 0])
    expected = {
        "q": [3, 3, 3, 3, 3, 3, 0],
        "cov": [1, 0, 0, 1, 0, 0, 0],  # red, drill, bit all in title 0; 2, in, pipe all in title 1
        "num": [0, 0, 0, 1, 0, 0, 0],  # 2 in title 1 only
        "len": [4, 6, 0, 6, 4, 0, 4],  # red drill bit set; pipe 2 in x 10 ft
        "head": [1, 0, 0, 1, 0, 0, 0],  # bit in title 0, pipe in title 1
        "pairs": [1, 0, 0, 1 / 2, 0, 0, 0],  # (red drill) (drill bit) in title 0; (2 in) of (2 in) (in pipe)
    }
    for feature in features:
        column = builtin_column(feature, queries, titles, query_rows, title_rows)
        assert column.tolist() == expected[feature.name], feature.name


def test_shared_counts_count_the_asked_items_a_field_holds():
    wanted = [frozenset("ab"), frozenset(), frozenset("cd")]
    found = [frozenset("bcd"), frozenset("a"), frozenset()]
    counts = shared_counts(wanted, found, np.array([0, 0, 0, 1, 2, 2]), np.array([0, 1, 2, 0, 0, 1]))
    assert counts.tolist() == [1, 1, 0, 0, 2, 0]
    assert shared_counts([], [], np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)).tolist() == []


def test_row_dots_in_chunks_are_each_rows_dot():
    rng = np.random.default_rng(7)
    left, right = rng.normal(size=(5, 16)).astype(np.float32), rng.normal(size=(9, 16)).astype(np.float32)
    left_rows, right_rows = rng.integers(0, 5, size=23), rng.integers(0, 9, size=23)
    chunked = row_dots(left, right, left_rows, right_rows, chunk=4)  # 23 rows: five full chunks and a short one
    whole = np.einsum("ij,ij->i", left[left_rows], right[right_rows])
    assert chunked.dtype == np.float32 and np.array_equal(chunked, whole)
    wide_left, wide_right = left.astype(np.float64), right.astype(np.float64)
    direct = [float(np.dot(wide_left[i], wide_right[j])) for i, j in zip(left_rows, right_rows)]
    assert chunked.tolist() == pytest.approx(direct, rel=1e-5, abs=1e-5)
    assert row_dots(left, right, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)).shape == (0,)


def test_pairs_find_each_hits_row_among_its_querys_candidates():
    pairs = Pairs.of([["a", "b", "c"], [], ["c", "d"]])
    assert pairs.ids == ["a", "b", "c", "d"]
    assert pairs.query_rows.tolist() == [0, 0, 0, 2, 2] and pairs.id_rows.tolist() == [0, 1, 2, 2, 3]
    rows = pairs.rows_of(np.array([0, 0, 2, 2, 1, 0]), ["c", "a", "d", "b", "a", "zz"])
    assert rows.tolist() == [2, 0, 4, -1, -1, -1]  # b is no candidate of query 2, query 1 has none, zz of none
    assert Pairs.of([["a", "b", "a"]]).rows_of(np.array([0]), ["a"]).tolist() == [2]  # twice: its last row


def tiny_lab(tmp_path: Path) -> Lab:
    import pandas as pd

    products = pd.DataFrame({"product_id": ["p1", "p2", "p3", "p4"],
                             "product_title": ["red drill", "blue drill bit", "red paint", "garden hose"],
                             "product_description": [None, None, None, None], "attributes": [None] * 4,
                             "brand": [None] * 4})
    queries = pd.DataFrame({"query_id": ["q1"], "query_text": ["red drill"], "split": ["train"],
                            "source_query_id": ["q1"]})
    qrels = pd.DataFrame({"query_id": ["q1"], "product_id": ["p1"], "relevance": [2], "raw_relevance": [3.0]})
    lab = Lab(workspace=tmp_path / "ws", backend=EmbeddedBackend(tmp_path / "ws"))
    lab.save_dataset(Dataset("tiny", products, queries, qrels))
    build_index(lab, models=[])
    return lab


def test_query_features_score_only_the_candidates(tmp_path):
    lab = tiny_lab(tmp_path)
    feature_set = load_feature_set(write(tmp_path, {"features": [
        {"name": "any", "query": {"constant_score": {"filter": {"match": {"product_title": "{{query_text}}"}},
                                                     "boost": 2}}},
        {"name": "all", "query": {"constant_score": {"filter": {"match": {"product_title": {
            "query": "{{query_text}}", "operator": "and"}}}, "boost": 5}}},
        {"name": "bm25", "query": {"match": {"product_title": "{{query_text}}"}}}]}))
    # p3 matches "red" but is no candidate of the second query; p4 matches nothing
    values = feature_values(lab, feature_set, ["red drill", "red drill"], [["p4", "p1", "p2"], ["p2"]])
    assert values[:, 0].tolist() == [0, 2, 2, 2]
    assert values[:, 1].tolist() == [0, 5, 0, 0]
    full = lab.backend.search_batch(lab.index_name, [{"size": 10, "query": {"match": {"product_title": "red drill"}}}])
    bm25 = {hit.doc_id: hit.score for hit in full[0].hits}  # restricting to the ids leaves each score as it was
    assert values[:, 2].tolist() == pytest.approx([0.0, bm25["p1"], bm25["p2"], bm25["p2"]])


def test_a_feature_the_backend_refuses_names_the_file_and_feature(tmp_path):
    lab = tiny_lab(tmp_path)
    path = write(tmp_path, {"features": [{"name": "phrase", "query": {"match_phrase": {"product_title": "{{query_text}}"}}}]})
    with pytest.raises(LabError, match=r"fs\.json: feature 'phrase' failed: .*match_phrase"):
        feature_values(lab, load_feature_set(path), ["red drill"], [["p1"]])


def test_cosine_of_a_text_with_itself_is_one(tmp_path):
    lab = tiny_lab(tmp_path)
    feature_set = load_feature_set(write(tmp_path, {"features": [
        {"name": "cos", "builtin": "cosine", "model": "minilm", "vector": "title_vector"}]}))
    values = feature_values(lab, feature_set, ["red paint", "garden hose"], [["p3", "p4"], ["p4"]])
    assert values[0, 0] == pytest.approx(1.0, abs=1e-3) and values[2, 0] == pytest.approx(1.0, abs=1e-3)
    assert values[1, 0] < 0.9
    bad = load_feature_set(write(tmp_path, {"features": [
        {"name": "cos", "builtin": "cosine", "model": "minilm", "vector": "colour_vector"}]}, "bad"))
    with pytest.raises(LabError, match=r"vector 'colour_vector' is not a vector kind"):
        feature_values(lab, bad, ["x"], [["p1"]])
    assert np.isfinite(values).all()
