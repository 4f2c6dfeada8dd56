"""Import the Kaggle *Home Depot Product Search Relevance* files.

Files (Windows-1252 as Kaggle ships them; a UTF-8 copy is read as UTF-8; see ``sources.decode``):

- ``train.csv`` (required): id, product_uid, product_title, search_term, relevance (mean of raters, 1–3).
- ``test.csv`` (optional): the same without relevance. Its products join the catalogue; its queries
  have no judgments and are kept with split ``unlabeled`` (never evaluated, never trained on; a
  test.csv query whose normalised text is also judged in train.csv is simply that judged query).
- ``product_descriptions.csv`` (optional): product_uid, product_description.
- ``attributes.csv`` (optional): product_uid, name, value → ``attributes`` ("name value name value …",
  file order) and ``brand`` (the "MFG Brand Name" value).

Products are the product_uids of train.csv and test.csv; the first title seen wins and products seen
with several titles are reported in ``meta["duplicates"]``. Descriptions and attributes of other
products are ignored (counted in meta). Queries are identified by their normalised text, so search
terms differing only in case or spacing are one query. Judgment rows that fall on the same
(query, product) pair are merged by averaging their raw relevance (each is already a mean of raters;
keeping the maximum would bias labels upwards), then mapped to a label.

Label maps (rounding is half-to-even, as Python's ``round`` and pandas/NumPy ``round`` do, so the
labels equal what the reference study computed with ``int(round(relevance)) - 1``):

- ``reference``: ``round(relevance) - 1`` → 0/1/2 (1.5 → 2 → label 1; 2.5 → 2 → label 1; 2.67 → 2).
- ``fine``: ``round((relevance - 1) * 3)`` → 0..6 (thirds of the rater scale: 2.33 → 4, 2.5 → 4).
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from ..errors import LabError
from .dataset import Dataset
from .ids import query_id_for
from .sources import CsvTable, data_error, read_csv
from .splits import UNLABELED, split_of

BRAND_ATTRIBUTE = "MFG Brand Name"
RELEVANCE_RANGE = (1.0, 3.0)

LABEL_MAPS: dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]] = {
    "reference": ("round(relevance) - 1 → 0/1/2, half-to-even rounding (1.5 → 2, 2.5 → 2)",
                  lambda raw: np.round(raw).astype("int64") - 1),
    "fine": ("round((relevance - 1) * 3) → 0..6, half-to-even rounding",
             lambda raw: np.round((raw - 1.0) * 3.0).astype("int64")),
}


def _clean_ids(table: CsvTable, column: str, required: bool = True) -> pd.Series:
    """Stripped ids; ``100001.0`` (a spreadsheet round-trip) reads as ``100001``. Empty → error or None."""
    ids = table.frame[column].str.strip().str.replace(r"^(\d+)\.0+$", r"\1", regex=True)
    empty = ids == ""
    if required and empty.any():
        raise table.error(int(np.flatnonzero(empty.to_numpy())[0]), column, "is empty")
    return ids.astype(object).where(~empty, None)


def _search_terms(table: CsvTable) -> pd.Series:
    terms = table.frame["search_term"].str.strip()
    empty = terms == ""
    if empty.any():
        raise table.error(int(np.flatnonzero(empty.to_numpy())[0]), "search_term", "is empty")
    return terms.astype(object)


def _relevance(table: CsvTable) -> np.ndarray:
    text = table.frame["relevance"].str.strip()
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64")
    bad = np.flatnonzero(np.isnan(values))
    if len(bad):
        raise table.error(int(bad[0]), "relevance", f"{text.iloc[bad[0]]!r} is not a number")
    low, high = RELEVANCE_RANGE
    out = np.flatnonzero((values < low) | (values > high))
    if len(out):
        raise table.error(int(out[0]), "relevance", f"{text.iloc[out[0]]} is outside {low:g}..{high:g}")
    return values


def _titles(table: CsvTable) -> pd.Series:
    titles = table.frame["product_title"].str.strip()
    return titles.astype(object).where(titles != "", None)


def _products(pairs: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One row per product (first title wins) and the report of products seen with several titles."""
    products = pairs.drop_duplicates("product_id", keep="first")[["product_id", "product_title"]]
    distinct = pairs.dropna(subset=["product_title"]).drop_duplicates(["product_id", "product_title"])
    several = distinct[distinct["product_id"].duplicated(keep=False)]
    conflicting = list(dict.fromkeys(several["product_id"]))
    report = {"products_with_conflicting_titles": len(conflicting),
              "conflicting_title_examples": [
                  {"product_id": pid, "titles": several.loc[several["product_id"] == pid, "product_title"].tolist()}
                  for pid in conflicting[:5]],
              "title_policy": "first title seen (train.csv, then test.csv) wins"}
    return products.reset_index(drop=True), report


def _descriptions(directory: Path, products: pd.DataFrame, files: dict[str, Any],
                  counts: dict[str, Any]) -> None:
    path = directory / "product_descriptions.csv"
    if not path.exists():
        return
    table = read_csv(path, ["product_uid", "product_description"], need_rows=False)
    files[path.name] = {**table.source.describe(), "rows": len(table.frame)}
    ids = _clean_ids(table, "product_uid")
    text = table.frame["product_description"].str.strip()
    frame = pd.DataFrame({"product_id": ids, "text": text.astype(object).where(text != "", None)})
    frame = frame.drop_duplicates("product_id", keep="first").set_index("product_id")["text"]
    products["product_description"] = products["product_id"].map(frame)
    counts["descriptions_for_unknown_products"] = int((~frame.index.isin(products["product_id"])).sum())


def _attributes(directory: Path, products: pd.DataFrame, files: dict[str, Any],
                counts: dict[str, Any]) -> None:
    path = directory / "attributes.csv"
    if not path.exists():
        return
    table = read_csv(path, ["product_uid", "name", "value"], need_rows=False)
    files[path.name] = {**table.source.describe(), "rows": len(table.frame)}
    frame = pd.DataFrame({"product_id": _clean_ids(table, "product_uid", required=False),
                          "name": table.frame["name"].str.strip(), "value": table.frame["value"].str.strip()})
    counts["attribute_rows_without_product"] = int(frame["product_id"].isna().sum())
    frame = frame.dropna(subset=["product_id"])
    brands = frame[(frame["name"] == BRAND_ATTRIBUTE) & (frame["value"] != "")]
    brand = brands.drop_duplicates("product_id").set_index("product_id")["value"]
    pieces = (frame["name"] + " " + frame["value"]).str.strip()
    flat = pieces[pieces != ""].groupby(frame["product_id"], sort=False).agg(" ".join)
    products["brand"] = products["product_id"].map(brand)
    products["attributes"] = products["product_id"].map(flat)
    counts["attributes_for_unknown_products"] = int((~flat.index.isin(products["product_id"])).sum())


def import_homedepot(directory: str | os.PathLike[str], label_map: str = "reference",
                     name: str = "homedepot") -> Dataset:
    """Read the Kaggle files in ``directory`` into a Dataset (see the module docstring for the rules)."""
    started = time.perf_counter()
    if label_map not in LABEL_MAPS:
        raise LabError(f"unknown label map '{label_map}' (expected one of: {', '.join(LABEL_MAPS)})")
    directory = Path(directory)
    if not directory.is_dir():
        raise data_error(directory, "not a directory")
    files: dict[str, Any] = {}
    counts: dict[str, Any] = {}

    train = read_csv(directory / "train.csv", ["product_uid", "product_title", "search_term", "relevance"])
    files["train.csv"] = {**train.source.describe(), "rows": len(train.frame)}
    judged = pd.DataFrame({"product_id": _clean_ids(train, "product_uid"), "product_title": _titles(train),
                           "query_text": _search_terms(train), "raw_relevance": _relevance(train)})
    judged["query_id"] = [query_id_for(t) for t in judged["query_text"]]

    pairs = [judged[["product_id", "product_title", "query_text", "query_id"]]]
    test_path = directory / "test.csv"
    if test_path.exists():
        test = read_csv(test_path, ["product_uid", "product_title", "search_term"], need_rows=False)
        files["test.csv"] = {**test.source.describe(), "rows": len(test.frame)}
        unjudged = pd.DataFrame({"product_id": _clean_ids(test, "product_uid"), "product_title": _titles(test),
                                 "query_text": _search_terms(test)})
        unjudged["query_id"] = [query_id_for(t) for t in unjudged["query_text"]]
        pairs.append(unjudged)
    every = pd.concat(pairs, ignore_index=True)

    products, title_report = _products(every)
    products["product_description"] = None
    products["attributes"] = None
    products["brand"] = None
    counts["products_only_in_test_csv"] = int((~products["product_id"].isin(judged["product_id"])).sum())
    _descriptions(directory, products, files, counts)
    _attributes(directory, products, files, counts)

    queries = every.drop_duplicates("query_id", keep="first")[["query_id", "query_text"]].reset_index(drop=True)
    judged_ids = set(judged["query_id"])
    queries["split"] = [split_of(q) if q in judged_ids else UNLABELED for q in queries["query_id"]]
    queries["source_query_id"] = None
    if len(pairs) > 1:
        test_ids = set(pairs[1]["query_id"])
        counts["test_csv_queries"] = len(test_ids)
        counts["test_csv_queries_judged_in_train_csv"] = len(test_ids & judged_ids)

    grouped = judged.groupby(["query_id", "product_id"], sort=False)["raw_relevance"]
    qrels = grouped.agg(["mean", "size"]).reset_index()
    raw = qrels["mean"].to_numpy()
    rule, mapping = LABEL_MAPS[label_map]
    qrels = pd.DataFrame({"query_id": qrels["query_id"], "product_id": qrels["product_id"],
                          "relevance": mapping(raw), "raw_relevance": raw, "rows": qrels["size"]})

    texts = judged.drop_duplicates("query_text")
    duplicates = {
        "judgment_rows": int(len(judged)),
        "duplicate_judgment_pairs": int((qrels["rows"] > 1).sum()),
        "judgment_rows_merged": int(len(judged) - len(qrels)),
        "duplicate_pair_policy": "mean of the raw relevance values, then the label map",
        "search_terms_merged_by_normalisation": int(len(texts) - texts["query_id"].nunique()),
        **title_report,
    }
    table = (pd.DataFrame({"raw": raw, "label": qrels["relevance"]}).drop_duplicates("raw").sort_values("raw"))
    dataset = Dataset(name, products, queries, qrels.drop(columns="rows"), {
        "source": {"kind": "homedepot", "directory": str(directory.resolve())},
        "files": files,
        "label_map": {"name": label_map, "rule": rule,
                      "table": {f"{r:g}": int(label) for r, label in zip(table["raw"], table["label"])}},
        "duplicates": duplicates,
        "created": datetime.now(timezone.utc).isoformat(),
    })
    dataset.meta["counts"] = {**dataset.counts(), **counts}
    dataset.meta["import_seconds"] = round(time.perf_counter() - started, 3)
    return dataset
