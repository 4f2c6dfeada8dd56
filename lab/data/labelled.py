"""Import labelled texts (text, label) from CSV or JSON lines, for label-driven similarity learning.

Each row is one record — a product title, a support ticket, a job ad — and its class. The result is
an ordinary lab Dataset with products only (no queries, no judgments):

- products: ``product_id`` (the ``--id`` column, else the first 16 hex digits of sha1 of the stripped
  text), ``product_title`` = the text, and the label in the products' ``category`` column (or the
  column named by ``store_as``), the column `lab finetune --objective labels`, `lab eval neighbors`
  read by default (and `lab map --color-by category` colours by);
- a record with an empty label stays a product without a label (left out of label training and
  evaluation, shown grey on a map);
- the same text twice with the same label is one record (duplicates counted in the meta); the same
  text (or id) with two different labels is an error naming both lines.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from ..errors import LabError
from ..finetune.config import DEFAULT_LABEL_COLUMN
from .dataset import PRODUCT_COLUMNS, Dataset
from .sources import data_error, iter_jsonl, read_csv, read_source, record_file, record_text, require_fields
from .triplets import text_id

Row = tuple[int, Any, Any, Any]
"""(line, text, label, id) as found in the file."""


def _csv_rows(path: Path, text: str, label: str, id_column: str | None) -> tuple[Iterator[Row], dict[str, Any]]:
    table = read_csv(path, [text, label, *([id_column] if id_column else [])])
    frame = table.frame
    ids = frame[id_column] if id_column else [None] * len(frame)
    rows = ((table.line_of(i), t, lab, pid) for i, (t, lab, pid) in enumerate(zip(frame[text], frame[label], ids)))
    return rows, {**table.source.describe(), "format": "csv", "rows": len(frame)}


def _jsonl_rows(path: Path, text: str, label: str, id_column: str | None) -> tuple[Iterator[Row], dict[str, Any]]:
    source = read_source(path)

    def rows() -> Iterator[Row]:
        for line, record in iter_jsonl(source):
            require_fields(path, line, record, (text, label, *([id_column] if id_column else [])))
            yield line, record[text], record[label], record[id_column] if id_column else None

    return rows(), {**source.describe(), "format": "jsonl"}


def import_labelled(path: str | Path, name: str | None = None, text: str = "text", label: str = "label",
                    id_column: str | None = None, store_as: str = DEFAULT_LABEL_COLUMN) -> Dataset:
    """Read a labelled-records file (CSV with a header, or JSONL) into a products-only Dataset, the
    file's ``label`` column stored as the products' ``store_as`` column."""
    started = time.perf_counter()
    path, kind = record_file(path, {"--text": text, "--label": label, "--id": id_column})
    if store_as in PRODUCT_COLUMNS and store_as != "brand":
        raise LabError(f"--as {store_as}: the products' '{store_as}' column holds text; store the label as another "
                       "column (e.g. category)")
    rows, describe = (_csv_rows if kind == "csv" else _jsonl_rows)(path, text, label, id_column)
    records: dict[str, tuple[int, str, str | None]] = {}
    duplicates = 0
    for line, raw_text, raw_label, raw_id in rows:
        body = record_text(path, line, text, raw_text, numbers=True)
        value = record_text(path, line, label, raw_label, required=False, numbers=True)
        pid = record_text(path, line, id_column, raw_id, numbers=True) if id_column else text_id(body)
        if pid in records:
            first_line, first_text, first_label = records[pid]
            if first_text != body:
                raise data_error(path, f"id '{pid}' was given to another text on line {first_line}", line, id_column)
            if first_label != value:
                raise data_error(path, f"the same text is labelled '{first_label}' on line {first_line}, "
                                       f"here '{value}'", line, label)
            duplicates += 1
            continue
        records[pid] = (line, body, value)
    if not records:
        raise data_error(path, "has no records")
    products = pd.DataFrame({"product_id": list(records), "product_title": [r[1] for r in records.values()],
                             store_as: pd.Series([r[2] for r in records.values()], dtype=object)})
    labelled = products[store_as].dropna()
    meta = {
        "source": {"kind": "labelled", "path": str(path.resolve()),
                   "columns": {"text": text, "label": label, "id": id_column}},
        "files": {path.name: {**describe, "rows": len(records) + duplicates}},
        "label_column": store_as,
        "labels": {"records": int(len(labelled)), "unlabelled": int(len(products) - len(labelled)),
                   "classes": int(labelled.nunique())},
        "duplicates": {"rows": duplicates, "policy": "first row kept"},
        "created": datetime.now(timezone.utc).isoformat(),
    }
    empty = pd.DataFrame({"query_id": [], "query_text": [], "split": []})
    qrels = pd.DataFrame({"query_id": [], "product_id": [], "relevance": pd.Series([], dtype="int64")})
    dataset = Dataset(name or path.stem, products, empty, qrels, meta)
    dataset.meta["counts"] = dataset.counts()
    dataset.meta["import_seconds"] = round(time.perf_counter() - started, 3)
    return dataset
