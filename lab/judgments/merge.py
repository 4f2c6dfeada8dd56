"""Importing raters' grades: read a CSV / JSONL file of (query, product, grade), check every line, and merge the
grades into the dataset's qrels with their provenance (rater, time, source file).

A new pair joins the qrels; a pair already judged the same way is recorded as agreement; a pair judged
differently keeps its grade and the new one goes to the ``judgment_conflicts`` table, never over it. Every
imported grade is kept in the ``judgment_log`` table (what `lab judge stats` measures agreement on). The
dataset is replaced whole (Dataset.save is atomic), so a failed or killed import changes nothing.
"""

from __future__ import annotations

import csv
import getpass
import io
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from ..data import Dataset
from ..data.splits import UNLABELED
from ..workspace import read_json
from ..errors import LabError

LOG_TABLE = "judgment_log"
CONFLICTS_TABLE = "judgment_conflicts"
ORIGINAL_RATER = "original"
"""The rater of the grades a dataset was imported with."""
QUERY_FIELDS = ("query_id", "query")
PRODUCT_FIELDS = ("product_id", "docid")
GRADE_FIELDS = ("grade", "rating", "relevance")
"""Accepted column names, the lab's first (``query`` = query text and ``docid`` / ``rating``: Quepid's CSV)."""
LOG_COLUMNS = ("query_id", "product_id", "relevance", "rater", "judged_at", "source", "line")


@dataclass(frozen=True)
class Grade:
    """One graded pair of an import file, with the line it came from."""

    query_id: str
    product_id: str
    grade: int
    line: int


@dataclass
class Merge:
    """What an import did: pairs added, agreeing with an existing grade, in conflict, already imported."""

    dataset: Dataset
    source: str
    rater: str
    added: int = 0
    agreed: int = 0
    repeated: int = 0
    ungraded: int = 0
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    qrels_fingerprint_before: str = ""


def grade_scale(dataset: Dataset) -> tuple[int, int]:
    """The grades a rater may give: the dataset's lowest label (0 at most) to its highest (1 at least)."""
    labels = dataset.qrels["relevance"]
    return (min(0, int(labels.min())), max(1, int(labels.max()))) if len(labels) else (0, 1)


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) of a CSV/TSV (header first) or JSONL file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LabError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise LabError(f"{path}:{number}: not a JSON object ({exc})") from None
            if not isinstance(row, dict):
                raise LabError(f"{path}:{number}: not a JSON object")
            yield number, row
        return
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
    if reader.fieldnames is None:
        raise LabError(f"{path}: empty file")
    for row in reader:
        yield reader.line_num, row


def _field(row: dict[str, Any], names: tuple[str, ...], path: Path, line: int) -> tuple[str, Any]:
    for name in names:
        if name in row:
            return name, row[name]
    raise LabError(f"{path}:{line}: no field {' or '.join(repr(n) for n in names)}")


def _text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value).strip()


def read_grades(path: Path, dataset: Dataset) -> tuple[list[Grade], int]:
    """The graded rows of ``path`` checked against ``dataset``, and how many rows had no grade yet (skipped).
    LabError naming the file, line and field for an unknown query or product, an unlabeled query, a grade
    off the scale or not a whole number, or a pair given twice."""
    low, high = grade_scale(dataset)
    queries = dataset.queries.set_index("query_id")["split"].to_dict()
    by_text = dataset.queries.groupby("query_text")["query_id"].agg(list).to_dict()
    products = set(dataset.products["product_id"])
    seen: dict[tuple[str, str], int] = {}
    grades, ungraded = [], 0
    for line, row in _rows(path):
        query_field, query = _field(row, QUERY_FIELDS, path, line)
        _, product = _field(row, PRODUCT_FIELDS, path, line)
        grade_field, grade = _field(row, GRADE_FIELDS, path, line)
        query, product, grade = _text(query), _text(product), _text(grade)
        if query_field == "query":
            ids = by_text.get(query, [])
            if len(ids) != 1:
                raise LabError(f"{path}:{line}: field 'query': {query!r} is "
                               f"{'not a query' if not ids else 'the text of several queries'} of dataset "
                               f"'{dataset.name}' (give query_id)")
            query = ids[0]
        if query not in queries:
            raise LabError(f"{path}:{line}: field '{query_field}': unknown query {query!r} in dataset '{dataset.name}'")
        if queries[query] == UNLABELED:
            raise LabError(f"{path}:{line}: field '{query_field}': query {query!r} is unlabeled (a source without "
                           "judgments, e.g. Kaggle's test.csv); it takes no grades")
        if product not in products:
            raise LabError(f"{path}:{line}: field 'product_id': unknown product {product!r} in dataset '{dataset.name}'")
        if grade == "":
            ungraded += 1
            continue
        try:
            value = float(grade)
        except ValueError:
            value = math.nan
        if not value.is_integer() or not low <= value <= high:
            raise LabError(f"{path}:{line}: field '{grade_field}': grade {grade!r} is not a whole number from "
                           f"{low} to {high} (the dataset's scale)")
        key = (query, product)
        if key in seen:
            raise LabError(f"{path}:{line}: query {query!r}, product {product!r} already graded on line {seen[key]}")
        seen[key] = line
        grades.append(Grade(query, product, int(value), line))
    return grades, ungraded


def merge_grades(dataset: Dataset, grades: list[Grade], rater: str, source: str,
                 judged_at: str | None = None) -> Merge:
    """``dataset`` with ``grades`` merged (see the module docstring); the dataset given is not changed."""
    if not rater or rater == ORIGINAL_RATER:
        raise LabError(f"--rater {rater!r}: give the rater's name ('{ORIGINAL_RATER}' means the dataset's own grades)")
    judged_at = judged_at or datetime.now(timezone.utc).isoformat()
    merge = Merge(dataset, source, rater, qrels_fingerprint_before=dataset.qrels_fingerprint())
    log = dataset.extras.get(LOG_TABLE, pd.DataFrame(columns=LOG_COLUMNS))
    logged = set(zip(log["query_id"], log["product_id"], log["rater"], log["relevance"].astype(int)))
    existing = dataset.qrels.set_index(["query_id", "product_id"])["relevance"].to_dict()
    provenance = {"rater": rater, "judged_at": judged_at, "source": source}
    added, entries = [], []
    for g in grades:
        if (g.query_id, g.product_id, rater, g.grade) in logged:
            merge.repeated += 1
            continue
        entries.append({"query_id": g.query_id, "product_id": g.product_id, "relevance": g.grade, **provenance,
                        "line": g.line})
        kept = existing.get((g.query_id, g.product_id))
        if kept is None:
            added.append({"query_id": g.query_id, "product_id": g.product_id, "relevance": g.grade, **provenance})
            existing[(g.query_id, g.product_id)] = g.grade
            merge.added += 1
        elif kept == g.grade:
            merge.agreed += 1
        else:
            merge.conflicts.append({"query_id": g.query_id, "product_id": g.product_id, "kept": int(kept),
                                    "proposed": g.grade, **provenance, "line": g.line})
    qrels = dataset.qrels.copy()
    for column in provenance:
        if column not in qrels.columns:
            qrels[column] = None
    qrels = pd.concat([qrels, pd.DataFrame(added, columns=[*qrels.columns])], ignore_index=True) if added else qrels
    extras = dict(dataset.extras)
    extras[LOG_TABLE] = pd.concat([log, pd.DataFrame(entries, columns=LOG_COLUMNS)], ignore_index=True)
    if merge.conflicts:
        extras[CONFLICTS_TABLE] = pd.concat([dataset.extras.get(CONFLICTS_TABLE, pd.DataFrame()),
                                             pd.DataFrame(merge.conflicts)], ignore_index=True)
    meta = dict(dataset.meta)
    meta["judgment_imports"] = [*meta.get("judgment_imports", []),
                                {**provenance, "added": merge.added, "agreed": merge.agreed,
                                 "conflicts": len(merge.conflicts), "repeated": merge.repeated}]
    merged = Dataset(dataset.name, dataset.products, dataset.queries, qrels, meta, extras)
    merged.meta["counts"] = {**meta.get("counts", {}), **merged.counts()}
    merge.dataset = merged
    return merge


def login_name() -> str:
    """The user's login name, the default rater; LabError asking for --rater where there is none."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        raise LabError("no login name to record as the rater: give --rater NAME") from None


def import_grades(lab: Any, path: str | Path, rater: str | None = None) -> Merge:
    """Read ``path``, merge its grades into the current dataset (rater: ``rater``, else the user's login name)
    and save it in place; runs scored on the old judgments can be re-scored with `lab rescore`."""
    path = Path(path)
    if not path.is_file():
        raise LabError(f"{path}: no such file")
    dataset = lab.dataset
    grades, ungraded = read_grades(path, dataset)
    merge = merge_grades(dataset, grades, rater or login_name(), str(path.resolve()))
    merge.ungraded = ungraded
    if merge.added or merge.agreed or merge.conflicts:
        lab.save_dataset(merge.dataset, current=False)
        lab.use_dataset(dataset.name)
    return merge


def refuse_dropping_grades(lab: Any, name: str, option: str = "dataset name") -> None:
    """A LabError when dataset ``name`` holds grades added by `lab judge import`: importing the source again over it
    would drop them (``lab data import --replace-judgments`` says that is meant); ``option``: where the name came
    from, for a name that cannot be a dataset's."""
    directory = lab.dataset_dir(name, option)
    meta = directory / "meta.json"
    if not meta.is_file() or LOG_TABLE not in read_json(meta).get("extra_tables", []):
        return
    grades = len(pd.read_parquet(directory / f"{LOG_TABLE}.parquet", columns=["query_id"]))
    raise LabError(f"dataset '{name}' holds {grades:,} grades imported with `lab judge import`; importing it again "
                   "would drop them: give another --name, or --replace-judgments to replace it anyway")
