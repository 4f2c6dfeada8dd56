"""The Dataset model: views, fingerprints, validation, atomic save and clear load errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from lab.data import Dataset
from lab.data.ids import query_id_for
from lab.data.splits import split_of
from lab.errors import DataError, LabError


def _query(text: str, split: str | None = None) -> dict:
    qid = query_id_for(text)
    return {"query_id": qid, "query_text": text, "split": split or split_of(qid)}


def small_dataset() -> Dataset:
    products = pd.DataFrame({"product_id": ["p1", "p2", "p3"],
                             "product_title": ["Red Drill", "Blue Saw", None],
                             "brand": ["Acme", None, None]})
    queries = pd.DataFrame([_query("drill", "train"), _query("saw", "test"), _query("hammer", "test"),
                            _query("nails", "unlabeled")])
    qrels = pd.DataFrame({"query_id": [query_id_for("drill"), query_id_for("saw"), query_id_for("saw")],
                          "product_id": ["p1", "p2", "p1"], "relevance": [2, 2, 0],
                          "raw_relevance": [3.0, 2.67, np.nan]})
    return Dataset("small", products, queries, qrels, {"source": {"kind": "test"}})


def test_tables_get_every_schema_column_as_object_strings():
    ds = small_dataset()
    assert list(ds.products.columns) == ["product_id", "product_title", "product_description", "attributes", "brand"]
    assert ds.products["product_id"].dtype == object
    assert ds.products["product_description"].tolist() == [None, None, None]
    assert ds.products["product_title"].tolist()[2] is None
    assert list(ds.queries.columns) == ["query_id", "query_text", "split", "source_query_id"]
    assert ds.qrels["relevance"].dtype == np.int64 and ds.qrels["raw_relevance"].dtype == np.float64


def test_views_by_split():
    ds = small_dataset()
    assert ds.queries_for("test")["query_text"].tolist() == ["saw", "hammer"]
    assert ds.queries_for("all")["query_text"].tolist() == ["drill", "saw", "hammer"]  # never the unlabeled
    assert ds.queries_for("unlabeled")["query_text"].tolist() == ["nails"]
    assert ds.qrels_dict("test") == {query_id_for("saw"): {"p2": 2, "p1": 0}}
    assert ds.qrels_dict("train") == {query_id_for("drill"): {"p1": 2}}
    with pytest.raises(LabError, match="unknown split 'dev'"):
        ds.queries_for("dev")
    counts = ds.counts()
    assert counts["splits"]["test"] == {"queries": 2, "judged": 1, "unjudged": 1}
    assert counts["unjudged_queries"] == 1 and counts["unlabeled_queries"] == 1
    assert counts["labels"] == {"0": 1, "2": 2}


def test_dataset_leakage_guard_uses_the_dataset_splits():
    ds = small_dataset()
    ds.assert_no_test_leakage([query_id_for("drill")])
    with pytest.raises(LabError, match="test split"):
        ds.assert_no_test_leakage([query_id_for("drill"), query_id_for("hammer")])


def test_fingerprints_ignore_row_order_and_follow_content():
    ds = small_dataset()
    shuffled = Dataset("other-name", ds.products.iloc[::-1], ds.queries.iloc[::-1], ds.qrels.iloc[::-1], {})
    assert shuffled.fingerprint() == ds.fingerprint()
    assert shuffled.qrels_fingerprint() == ds.qrels_fingerprint()

    retitled = ds.products.copy()
    retitled.loc[0, "product_title"] = "Green Drill"
    changed = Dataset("small", retitled, ds.queries, ds.qrels, {})
    assert changed.fingerprint() != ds.fingerprint()
    assert changed.qrels_fingerprint() == ds.qrels_fingerprint()  # same judgments

    relabeled = ds.qrels.copy()
    relabeled.loc[2, "relevance"] = 1
    assert Dataset("small", ds.products, ds.queries, relabeled, {}).qrels_fingerprint() != ds.qrels_fingerprint()

    moved = ds.queries.copy()
    moved.loc[moved["query_text"] == "saw", "split"] = "tune"
    assert Dataset("small", ds.products, moved, ds.qrels, {}).qrels_fingerprint() != ds.qrels_fingerprint()


def test_fingerprints_follow_a_table_replaced_on_the_same_dataset():
    ds = small_dataset()
    before, qrels_before = ds.fingerprint(), ds.qrels_fingerprint()
    relabeled = ds.qrels.copy()
    relabeled.loc[2, "relevance"] = 1
    ds.qrels = relabeled
    assert ds.qrels_fingerprint() != qrels_before and ds.fingerprint() != before
    ds.extras = {"notes": pd.DataFrame({"note": ["x"]})}
    assert ds.fingerprint() not in (before, Dataset("small", ds.products, ds.queries, relabeled, {}).fingerprint())


@pytest.mark.parametrize("change, message", [
    (lambda p, q, r: r.__setitem__("product_id", ["p1", "p2", "p9"]), "qrels product_id 'p9' is not in the products"),
    (lambda p, q, r: q.__setitem__("split", ["train", "test", "test", "dev"]), "unknown split 'dev'"),
    (lambda p, q, r: p.__setitem__("product_id", ["p1", "p1", "p3"]), "duplicate products key p1"),
    (lambda p, q, r: q.__setitem__("split", ["unlabeled", "test", "test", "unlabeled"]), "unlabeled query has judgments"),
])
def test_inconsistent_tables_are_rejected(change, message):
    ds = small_dataset()
    products, queries, qrels = ds.products.copy(), ds.queries.copy(), ds.qrels.copy()
    change(products, queries, qrels)
    with pytest.raises(DataError, match=message):
        Dataset("bad", products, queries, qrels, {})


def test_save_and_load_round_trip(tmp_path):
    ds = small_dataset()
    ds.save(tmp_path / "small")
    assert sorted(p.name for p in (tmp_path / "small").iterdir()) == [
        "meta.json", "products.parquet", "qrels.parquet", "queries.parquet"]
    loaded = Dataset.load(tmp_path / "small")
    assert loaded.name == "small" and loaded.fingerprint() == ds.fingerprint()
    assert loaded.products["product_id"].dtype == object
    assert loaded.products["brand"].tolist() == ["Acme", None, None]
    assert np.isnan(loaded.qrels["raw_relevance"].iloc[2])
    meta = json.loads((tmp_path / "small" / "meta.json").read_text())
    assert meta["fingerprint"] == ds.fingerprint() and meta["source"] == {"kind": "test"} and "created" in meta


def test_failed_save_leaves_the_previous_dataset_untouched(tmp_path, monkeypatch):
    target = tmp_path / "small"
    small_dataset().save(target)
    before = {p.name: p.read_bytes() for p in target.iterdir()}

    calls = []
    write_table = pq.write_table

    def failing_write(table, where, *args, **kwargs):
        calls.append(where)
        if len(calls) == 2:
            raise OSError("disk full")
        return write_table(table, where, *args, **kwargs)

    monkeypatch.setattr("lab.data.dataset.pq.write_table", failing_write)
    changed = small_dataset()
    changed.products.loc[0, "product_title"] = "Changed"
    with pytest.raises(OSError, match="disk full"):
        changed.save(target)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["small"]  # no staging debris


def test_first_save_that_fails_leaves_nothing(tmp_path, monkeypatch):
    def failing_write(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("lab.data.dataset.pq.write_table", failing_write)
    with pytest.raises(OSError):
        small_dataset().save(tmp_path / "small")
    assert list(tmp_path.iterdir()) == []


def test_load_errors_name_the_problem(tmp_path):
    with pytest.raises(LabError, match="no dataset at"):
        Dataset.load(tmp_path / "missing")
    small_dataset().save(tmp_path / "a")
    (tmp_path / "a" / "qrels.parquet").unlink()
    with pytest.raises(LabError, match="incomplete: qrels.parquet is missing"):
        Dataset.load(tmp_path / "a")

    small_dataset().save(tmp_path / "b")
    (tmp_path / "b" / "products.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(LabError, match=r"cannot read .*products.parquet"):
        Dataset.load(tmp_path / "b")

    small_dataset().save(tmp_path / "c")
    (tmp_path / "c" / "meta.json").write_text("{broken")
    with pytest.raises(LabError, match=r"cannot read .*meta.json"):
        Dataset.load(tmp_path / "c")
