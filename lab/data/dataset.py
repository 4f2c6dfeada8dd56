"""The lab's dataset: products, queries (with splits) and graded judgments, saved as parquet + meta.json."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import DataError, LabError
from ..workspace import atomic_path
from .splits import ALL, SPLITS, UNLABELED, assert_no_test_leakage, check_split

SCHEMA_VERSION = 1

PRODUCT_COLUMNS: dict[str, pa.DataType] = {
    "product_id": pa.string(), "product_title": pa.string(), "product_description": pa.string(),
    "attributes": pa.string(), "brand": pa.string(),
}
QUERY_COLUMNS: dict[str, pa.DataType] = {
    "query_id": pa.string(), "query_text": pa.string(), "split": pa.string(), "source_query_id": pa.string(),
}
QREL_COLUMNS: dict[str, pa.DataType] = {
    "query_id": pa.string(), "product_id": pa.string(), "relevance": pa.int64(), "raw_relevance": pa.float64(),
}
TABLES: dict[str, dict[str, pa.DataType]] = {"products": PRODUCT_COLUMNS, "queries": QUERY_COLUMNS,
                                              "qrels": QREL_COLUMNS}
TABLE_KEYS: dict[str, list[str]] = {"products": ["product_id"], "queries": ["query_id"],
                                    "qrels": ["query_id", "product_id"]}
EXTRA_TABLE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
"""Names of extra tables (saved as ``<name>.parquet``): lower-case words, not a core table's name."""


def _object_strings(values: pd.Series) -> pd.Series:
    """Strings as object dtype with None for absent values (pandas 3 would use its ``str`` dtype)."""
    values = values.astype(object)
    return values.where(values.notna(), None)


def conform(frame: pd.DataFrame, columns: dict[str, pa.DataType]) -> pd.DataFrame:
    """``frame`` with every schema column (absent ones all-None) in schema order, typed; extra columns
    follow unchanged."""
    out = pd.DataFrame(index=range(len(frame)))
    frame = frame.reset_index(drop=True)
    for name, kind in columns.items():
        values = frame[name] if name in frame.columns else pd.Series([None] * len(frame), dtype=object)
        if kind == pa.string():
            out[name] = _object_strings(values)
        elif kind == pa.int64():
            out[name] = values.astype("int64")
        else:
            out[name] = values.astype("float64")
    for name in frame.columns:
        if name not in columns:
            out[name] = frame[name]
    return out


def _encode_column(values: pd.Series) -> str:
    """A column as text: values joined by \\x1f, absent values as \\x00, floats by repr."""
    if pd.api.types.is_integer_dtype(values):
        return "\x1f".join(map(str, values.tolist()))
    if pd.api.types.is_float_dtype(values):
        return "\x1f".join("\x00" if math.isnan(v) else repr(v) for v in values.tolist())
    return "\x1f".join("\x00" if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) else str(v)
                       for v in values.tolist())


def _table_digest(hasher: Any, name: str, frame: pd.DataFrame, columns: Iterable[str], key: list[str]) -> None:
    ordered = frame.sort_values(key, kind="stable")
    hasher.update(f"\x1d{name}:{len(ordered)}".encode())
    for column in columns:
        hasher.update(f"\x1e{column}\x1f".encode())
        hasher.update(_encode_column(ordered[column]).encode("utf-8", "surrogatepass"))


@dataclass
class Dataset:
    """Products, queries and graded judgments (qrels) plus what the import recorded (``meta``).

    products: product_id (str), product_title, product_description, attributes, brand (None = absent)
    queries:  query_id (str), query_text, split (train/val/tune/test/unlabeled), source_query_id
    qrels:    query_id, product_id, relevance (int label), raw_relevance (source value or NaN)
    extras:   optional further tables an importer keeps (e.g. ``triplets``), saved, loaded and
              fingerprinted with the rest; their content is the importer's business
    """

    name: str
    products: pd.DataFrame
    queries: pd.DataFrame
    qrels: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, pd.DataFrame] = field(default_factory=dict)
    _digests: dict[str, tuple[tuple[pd.DataFrame, ...], str]] = field(
        default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.products = conform(self.products, PRODUCT_COLUMNS)
        self.queries = conform(self.queries, QUERY_COLUMNS)
        self.qrels = conform(self.qrels, QREL_COLUMNS)
        self.extras = {name: frame.reset_index(drop=True) for name, frame in self.extras.items()}
        self._validate()

    def _validate(self) -> None:
        for name in self.extras:
            if not EXTRA_TABLE_NAME.match(name) or name in TABLES or name == "meta":
                raise DataError(f"dataset '{self.name}': extra table name '{name}' must be lower-case letters, "
                                f"digits or '_' and not one of {', '.join([*TABLES, 'meta'])}")
        for table, key in TABLE_KEYS.items():
            frame = getattr(self, table)
            if frame[key].isna().any().any():
                raise DataError(f"dataset '{self.name}': {table} has rows without {' / '.join(key)}")
            duplicated = frame.duplicated(key)
            if duplicated.any():
                first = frame.loc[duplicated, key].iloc[0].tolist()
                raise DataError(f"dataset '{self.name}': duplicate {table} key {'/'.join(map(str, first))}")
        bad_split = ~self.queries["split"].isin([*SPLITS, UNLABELED])
        if bad_split.any():
            raise DataError(f"dataset '{self.name}': query {self.queries.loc[bad_split, 'query_id'].iloc[0]} "
                            f"has unknown split '{self.queries.loc[bad_split, 'split'].iloc[0]}'")
        for column, table in (("query_id", self.queries), ("product_id", self.products)):
            dangling = ~self.qrels[column].isin(table[column])
            if dangling.any():
                raise DataError(f"dataset '{self.name}': qrels {column} '{self.qrels.loc[dangling, column].iloc[0]}' "
                                f"is not in the {'queries' if column == 'query_id' else 'products'} table")
        unlabeled = self.queries.loc[self.queries["split"] == UNLABELED, "query_id"]
        if self.qrels["query_id"].isin(unlabeled).any():
            raise DataError(f"dataset '{self.name}': an unlabeled query has judgments")

    # --- views ------------------------------------------------------------------------------

    def queries_for(self, split: str) -> pd.DataFrame:
        """The queries of ``split`` (train/val/tune/test/unlabeled, or ``all`` = the four splits)."""
        check_split(split)
        wanted = list(SPLITS) if split == ALL else [split]
        return self.queries[self.queries["split"].isin(wanted)].reset_index(drop=True)

    def qrels_dict(self, split: str = "test") -> dict[str, dict[str, int]]:
        """``{query_id: {product_id: relevance}}`` for the judged queries of ``split`` (ranx's format)."""
        ids = set(self.queries_for(split)["query_id"])
        qrels = self.qrels[self.qrels["query_id"].isin(ids)]
        out: dict[str, dict[str, int]] = {}
        for qid, pid, rel in zip(qrels["query_id"].tolist(), qrels["product_id"].tolist(),
                                 qrels["relevance"].tolist()):
            out.setdefault(qid, {})[pid] = int(rel)
        return out

    def split_assignment(self) -> dict[str, str]:
        """query id → split."""
        return dict(zip(self.queries["query_id"].tolist(), self.queries["split"].tolist()))

    def assert_no_test_leakage(self, query_ids: Iterable[str]) -> None:
        """Raise LabError if any of ``query_ids`` is a test (or unlabeled) query of this dataset."""
        assert_no_test_leakage(query_ids, self.split_assignment())

    def counts(self) -> dict[str, Any]:
        """Products, queries per split (judged / unjudged), judgments and their label distribution."""
        judged = set(self.qrels["query_id"])
        splits = {}
        for split in (*SPLITS, UNLABELED):
            ids = self.queries.loc[self.queries["split"] == split, "query_id"]
            n_judged = int(ids.isin(judged).sum())
            splits[split] = {"queries": int(len(ids)), "judged": n_judged, "unjudged": int(len(ids)) - n_judged}
        labels = self.qrels["relevance"].value_counts().sort_index()
        return {
            "products": int(len(self.products)),
            "queries": int(len(self.queries)),
            "judged_queries": len(judged),
            "unjudged_queries": sum(s["unjudged"] for k, s in splits.items() if k != UNLABELED),
            "unlabeled_queries": splits[UNLABELED]["queries"],
            "splits": splits,
            "qrels": int(len(self.qrels)),
            "labels": {str(k): int(v) for k, v in labels.items()},
        }

    # --- fingerprints -------------------------------------------------------------------------

    def fingerprint(self) -> str:
        """A hash of the products, queries (with splits), qrels and extra tables' content, independent of
        row order (a dataset without extra tables hashes as before they existed)."""
        return self._digest("dataset", self._fingerprint)

    def _fingerprint(self) -> str:
        hasher = hashlib.sha256(f"relevance-lab/dataset/v{SCHEMA_VERSION}".encode())
        for table, columns in TABLES.items():
            _table_digest(hasher, table, getattr(self, table), columns, TABLE_KEYS[table])
        for name in sorted(self.extras):
            frame = self.extras[name]
            columns = sorted(map(str, frame.columns))
            _table_digest(hasher, f"extra:{name}", frame.rename(columns=str), columns, columns)
        return hasher.hexdigest()[:16]

    def qrels_fingerprint(self) -> str:
        """A hash of the judgments a run is scored against: (query, split, product, label)."""
        return self._digest("qrels", self._qrels_fingerprint)

    def _qrels_fingerprint(self) -> str:
        qrels = self.qrels[["query_id", "product_id", "relevance"]].merge(
            self.queries[["query_id", "split"]], on="query_id", how="left")
        hasher = hashlib.sha256(f"relevance-lab/qrels/v{SCHEMA_VERSION}".encode())
        _table_digest(hasher, "qrels", qrels, ["query_id", "split", "product_id", "relevance"],
                      ["query_id", "product_id"])
        return hasher.hexdigest()[:16]

    def _digest(self, name: str, compute: Callable[[], str]) -> str:
        """A digest computed once per set of table objects (tables are replaced, never changed in place)."""
        tables = (self.products, self.queries, self.qrels, *self.extras.values())
        held = self._digests.get(name)
        if held is None or len(held[0]) != len(tables) or any(a is not b for a, b in zip(held[0], tables)):
            held = self._digests[name] = (tables, compute())
        return held[1]

    def summary(self) -> dict[str, Any]:
        """What `lab data info` shows: products, queries per split (judged), judgments per label, extra tables,
        classes of the label column, fingerprint."""
        from .splits import SPLITS, UNLABELED

        judged = set(self.qrels["query_id"])
        splits = {}
        for split in SPLITS:
            ids = self.queries_for(split)["query_id"]
            splits[split] = {"queries": len(ids), "judged": int(ids.isin(judged).sum())}
        out: dict[str, Any] = {"name": self.name, "products": len(self.products), "queries": len(self.queries),
                               "splits": splits, "unlabeled": int((self.queries["split"] == UNLABELED).sum()),
                               "judgments": len(self.qrels),
                               "labels": {int(k): int(v) for k, v in
                                          self.qrels["relevance"].value_counts().sort_index().items()},
                               "extras": {name: len(frame) for name, frame in sorted(self.extras.items())}}
        column = self.meta.get("label_column")
        if column in self.products.columns:
            values = self.products[column].dropna()
            out["classes"] = {"column": column, "classes": int(values.nunique()), "labelled": len(values)}
        out["fingerprint"] = self.fingerprint()
        return out

    def run_record(self, judgments: bool = False) -> dict[str, str]:
        """What a run, model card or tuning manifest records of the dataset it used: name and fingerprint, and
        with ``judgments`` the fingerprint of the qrels it was scored against."""
        record = {"name": self.name, "fingerprint": self.fingerprint()}
        if judgments:
            record["qrels_fingerprint"] = self.qrels_fingerprint()
        return record

    # --- storage ------------------------------------------------------------------------------

    def save(self, directory: str | os.PathLike[str]) -> None:
        """Write ``products/queries/qrels.parquet``, each extra table as ``<name>.parquet`` and
        ``meta.json``; the directory appears whole or not at all."""
        meta = {**self.meta, "name": self.name, "schema_version": SCHEMA_VERSION,
                "fingerprint": self.fingerprint(), "qrels_fingerprint": self.qrels_fingerprint(),
                "extra_tables": sorted(self.extras)}
        meta.setdefault("created", datetime.now(timezone.utc).isoformat())
        with atomic_path(directory) as staged:
            staged.mkdir()
            for table, columns in TABLES.items():
                frame = getattr(self, table)
                schema = pa.schema([(c, t) for c, t in columns.items()])
                arrow = pa.Table.from_pandas(frame[list(columns)], schema=schema, preserve_index=False)
                extra = [c for c in frame.columns if c not in columns]
                for column in extra:
                    arrow = arrow.append_column(column, pa.array(frame[column].tolist(), from_pandas=True))
                pq.write_table(arrow, staged / f"{table}.parquet")
            for name, frame in self.extras.items():
                pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), staged / f"{name}.parquet")
            (staged / "meta.json").write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> "Dataset":
        """Read a dataset written by :meth:`save`; LabError naming the file if missing or unreadable."""
        directory = Path(directory)
        if not directory.is_dir():
            raise LabError(f"no dataset at {directory}")
        meta_path = directory / "meta.json"
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise LabError(f"dataset at {directory} is incomplete: meta.json is missing (import it again)") from None
        except (OSError, ValueError) as exc:
            raise LabError(f"cannot read {meta_path}: {' '.join(str(exc).split())} (import it again)") from None
        extra_names = [str(name) for name in meta.get("extra_tables", [])]
        tables = {}
        for table in [*TABLES, *extra_names]:
            path = directory / f"{table}.parquet"
            if not path.exists():
                raise LabError(f"dataset at {directory} is incomplete: {path.name} is missing (import it again)")
            try:
                tables[table] = pq.read_table(path).to_pandas()
            except (OSError, pa.ArrowException) as exc:
                raise LabError(f"cannot read {path}: {' '.join(str(exc).split())} (import it again)") from None
        for table, columns in TABLES.items():
            missing = [c for c in columns if c not in tables[table].columns]
            if missing:
                raise LabError(f"{directory / (table + '.parquet')} lacks column(s) {', '.join(missing)} (import it again)")
        try:
            return cls(meta.get("name") or directory.name, tables["products"], tables["queries"], tables["qrels"], meta,
                       {name: tables[name] for name in extra_names})
        except (DataError, ValueError, TypeError) as exc:
            raise LabError(f"dataset at {directory} is inconsistent: {exc} (import it again)") from None
