"""Import (anchor, positive[, negative]) triplets from CSV or JSON lines, e.g. job-matching data
(anchor = a candidate profile, positive = a matching job, negative = one that does not match).

The result is an ordinary lab Dataset, so every tool works on it:

- products: the unique positive and negative texts (``product_title`` = the text; id = the first 16
  hex digits of sha1 of the stripped text, so the same text always gets the same id);
- queries: the unique anchors (ids from the normalised text, as every importer does; anchors that
  differ only in case or spacing are one query, the first text wins);
- qrels: anchor → positive relevance 1, anchor → negative relevance 0;
- splits: anchors 80 % train, 10 % val, 10 % test by the hash of their id (``tune`` stays empty),
  so an anchor and all its triplets are in one split. It is the hash every lab import splits by:
  an anchor lands in train exactly when a 60/10/10/20 import puts the same query text in train,
  val or tune, so triplets made from a lab dataset's judgments never train on its test queries;
- the extra table ``triplets``: anchor_id, positive_id, negative_id, split, negative_source
  (``file``, or the mining rule ``lowest`` / ``hard``).

Without a negative column (or when mining is forced) negatives are mined with a model among all
positive texts (see :mod:`lab.data.negatives`). Exact duplicate rows are dropped and counted; a
text that is both a positive and a negative of one anchor is an error naming the lines.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import LabError
from .dataset import Dataset
from .ids import query_id_for
from .negatives import Mining, mine_negatives
from .sources import data_error, iter_jsonl, read_csv, read_source, record_file, record_text, require_fields
from .splits import HOLDOUT_SHARES, split_of

TRIPLETS_TABLE = "triplets"
TRIPLET_COLUMNS = ("anchor_id", "positive_id", "negative_id", "split", "negative_source")
FILE_NEGATIVES = "file"
DEFAULT_COLUMNS = {"anchor": "anchor", "positive": "positive", "negative": "negative"}
"""Column (CSV) or field (JSONL) names unless the caller names others."""
EXAMPLES = 5


def text_id(text: str) -> str:
    """The id of a positive/negative text: sha1 of the stripped text, 16 hex digits."""
    return hashlib.sha1(text.strip().encode("utf-8", "surrogatepass")).hexdigest()[:16]


@dataclass
class Records:
    """The file's rows: source line, anchor, positive and negative (None without a negative column)."""

    path: Path
    lines: list[int]
    anchors: list[str]
    positives: list[str]
    negatives: list[str | None]
    describe: dict[str, Any]


def _negative_column(path: Path, found: list[str], negative: str | None, line: int = 1) -> str | None:
    """The negatives' column: ``negative`` if named (an error at ``line`` if absent), else the
    default column if ``found`` has it, else None."""
    if negative is None:
        return DEFAULT_COLUMNS["negative"] if DEFAULT_COLUMNS["negative"] in found else None
    if negative not in found:
        raise data_error(path, f"missing column '{negative}' (found: {', '.join(found) or 'none'})", line)
    return negative


def _read_csv(path: Path, anchor: str, positive: str, negative: str | None) -> Records:
    table = read_csv(path, [anchor, positive])
    frame = table.frame
    negative = _negative_column(path, list(frame.columns), negative)
    lines = [table.line_of(row) for row in range(len(frame))]
    read = lambda column: [record_text(path, line, column, value) for line, value in zip(lines, frame[column])]
    return Records(path, lines, read(anchor), read(positive), read(negative) if negative else [None] * len(lines),
                   {**table.source.describe(), "format": "csv", "rows": len(frame)})


def _read_jsonl(path: Path, anchor: str, positive: str, negative: str | None) -> Records:
    source = read_source(path)
    lines, anchors, positives, negatives = [], [], [], []
    for line, record in iter_jsonl(source):
        if not lines:
            negative = _negative_column(path, list(map(str, record)), negative, line)
        require_fields(path, line, record, (anchor, positive, *([negative] if negative else [])))
        lines.append(line)
        anchors.append(record_text(path, line, anchor, record[anchor]))
        positives.append(record_text(path, line, positive, record[positive]))
        negatives.append(record_text(path, line, negative, record[negative]) if negative else None)
    if not lines:
        raise data_error(path, "has no records")
    return Records(path, lines, anchors, positives, negatives,
                   {**source.describe(), "format": "jsonl", "rows": len(lines)})


def read_triplet_file(path: str | os.PathLike[str], anchor: str = "anchor", positive: str = "positive",
                      negative: str | None = None) -> Records:
    """The file's rows. ``negative``: the negatives' column, required when named; None: a column
    called ``negative`` if the file has one (in the CSV header or the first JSON record)."""
    path, kind = record_file(path, {"--anchor": anchor, "--positive": positive, "--negative": negative})
    return (_read_csv if kind == "csv" else _read_jsonl)(path, anchor, positive, negative)


def _first_lines(records: Records, rows: np.ndarray) -> list[int]:
    return [records.lines[int(i)] for i in rows[:EXAMPLES]]


def _check_conflicts(records: Records, anchor_ids: list[str], positive_ids: list[str],
                     negative_ids: list[str | None]) -> None:
    """DataError when a row's negative is its positive, or a positive of the same anchor elsewhere."""
    positive_line: dict[tuple[str, str], int] = {}
    for line, a, p in zip(records.lines, anchor_ids, positive_ids):
        positive_line.setdefault((a, p), line)
    for line, a, p, n in zip(records.lines, anchor_ids, positive_ids, negative_ids):
        if n is None:
            continue
        if n == p:
            raise data_error(records.path, "is the same text as the positive", line, "negative")
        if (a, n) in positive_line:
            raise data_error(records.path, f"is a positive of the same anchor on line {positive_line[(a, n)]}",
                             line, "negative")


def _mine(rows: pd.DataFrame, texts: dict[str, str], anchor_texts: dict[str, str], mining: Mining) -> pd.DataFrame:
    """``rows`` (anchor_id, positive_id) with a mined negative_id; rows of an anchor for which
    no candidate is eligible are dropped."""
    candidates = list(dict.fromkeys(rows["positive_id"]))
    position = {pid: i for i, pid in enumerate(candidates)}
    anchors = list(dict.fromkeys(rows["anchor_id"]))
    by_anchor = rows.groupby("anchor_id", sort=False)["positive_id"]
    positives = [[position[p] for p in dict.fromkeys(by_anchor.get_group(a))] for a in anchors]
    wanted = by_anchor.size().reindex(anchors).tolist()
    candidate_vectors = mining.encode([texts[c] for c in candidates])
    anchor_vectors = mining.encode([anchor_texts[a] for a in anchors])
    mined = mine_negatives(anchor_vectors, candidate_vectors, positives, wanted, mining.rule,
                           mining.max_positive_similarity)
    dealt = {a: [candidates[j] for j in picks] for a, picks in zip(anchors, mined)}
    turn = rows.groupby("anchor_id", sort=False).cumcount().tolist()
    negative_ids = [dealt[a][t] if dealt[a] else None for a, t in zip(rows["anchor_id"], turn)]
    return rows.assign(negative_id=negative_ids).dropna(subset=["negative_id"]).reset_index(drop=True)


def import_triplets(path: str | os.PathLike[str], name: str | None = None, anchor: str = "anchor",
                    positive: str = "positive", negative: str | None = None,
                    mining: Mining | None = None) -> Dataset:
    """Read a triplet file into a Dataset (see the module docstring). ``mining``: mine the negatives
    (required when the file has no negative column; replaces the file's negatives otherwise)."""
    started = time.perf_counter()
    records = read_triplet_file(path, anchor, positive, negative)
    has_negatives = records.negatives[0] is not None
    if not has_negatives and mining is None:
        raise LabError(f"{records.path} has no '{DEFAULT_COLUMNS['negative']}' column: mine the negatives with "
                       "--mine lowest|hard (and --mine-model), or name the column with --negative")
    anchor_ids = [query_id_for(t) for t in records.anchors]
    positive_ids = [text_id(t) for t in records.positives]
    negative_ids = [text_id(t) if t is not None else None for t in records.negatives]
    use_file = has_negatives and mining is None
    _check_conflicts(records, anchor_ids, positive_ids, negative_ids if use_file else [None] * len(anchor_ids))

    texts: dict[str, str] = {}
    for pid, text in zip(positive_ids, records.positives):
        texts.setdefault(pid, text)
    anchor_texts: dict[str, str] = {}
    for aid, text in zip(anchor_ids, records.anchors):
        anchor_texts.setdefault(aid, text)

    rows = pd.DataFrame({"anchor_id": anchor_ids, "positive_id": positive_ids,
                         "negative_id": negative_ids if use_file else None})
    key = ["anchor_id", "positive_id", "negative_id"] if use_file else ["anchor_id", "positive_id"]
    duplicated = rows.duplicated(key).to_numpy()
    rows = rows[~duplicated].reset_index(drop=True)
    if use_file:
        for nid, text in zip(negative_ids, records.negatives):
            texts.setdefault(nid, text)
        source = FILE_NEGATIVES
    else:
        rows = _mine(rows.drop(columns="negative_id"), texts, anchor_texts, mining)
        source = mining.rule
    if rows.empty:
        raise data_error(records.path, "no triplet is left: no anchor has an eligible negative")

    shares = dict(HOLDOUT_SHARES)
    split = {a: split_of(a, HOLDOUT_SHARES) for a in anchor_texts}
    used_ids = list(dict.fromkeys([*rows["positive_id"], *rows["negative_id"]]))
    products = pd.DataFrame({"product_id": used_ids, "product_title": [texts[i] for i in used_ids]})
    queries = pd.DataFrame({"query_id": list(anchor_texts), "query_text": list(anchor_texts.values()),
                            "split": [split[a] for a in anchor_texts]})
    positive_pairs = rows[["anchor_id", "positive_id"]].drop_duplicates()
    negative_pairs = rows[["anchor_id", "negative_id"]].drop_duplicates()
    qrels = pd.concat([
        pd.DataFrame({"query_id": positive_pairs["anchor_id"], "product_id": positive_pairs["positive_id"],
                      "relevance": 1}),
        pd.DataFrame({"query_id": negative_pairs["anchor_id"], "product_id": negative_pairs["negative_id"],
                      "relevance": 0})], ignore_index=True)
    qrels["raw_relevance"] = qrels["relevance"].astype("float64")
    triplets = pd.DataFrame({"anchor_id": rows["anchor_id"], "positive_id": rows["positive_id"],
                             "negative_id": rows["negative_id"], "split": [split[a] for a in rows["anchor_id"]],
                             "negative_source": source})
    merged = len(dict.fromkeys(records.anchors)) - len(anchor_texts)
    meta = {
        "source": {"kind": "triplets", "path": str(records.path.resolve()),
                   "columns": {"anchor": anchor, "positive": positive,
                               "negative": (negative or DEFAULT_COLUMNS["negative"]) if has_negatives else None},
                   "rows": len(records.lines)},
        "files": {records.path.name: records.describe},
        "split_shares": shares,
        "negatives": {"source": source, **({"mining": mining.describe(),
                                            "candidates": "every positive text of the file"} if mining else {})},
        "duplicates": {"rows": int(duplicated.sum()), "first_lines": _first_lines(records, np.flatnonzero(duplicated)),
                       "key": "+".join(k.removesuffix("_id") for k in key), "policy": "first row kept",
                       "anchors_merged_by_normalisation": int(merged)},
        "created": datetime.now(timezone.utc).isoformat(),
    }
    if not use_file:
        meta["negatives"]["rows_without_eligible_negative"] = int((~duplicated).sum() - len(rows))
    dataset = Dataset(name or records.path.stem, products, queries, qrels, meta, {TRIPLETS_TABLE: triplets})
    dataset.meta["counts"] = {**dataset.counts(), "triplets": int(len(triplets)),
                              "triplets_per_split": {s: int((triplets["split"] == s).sum()) for s in shares}}
    dataset.meta["import_seconds"] = round(time.perf_counter() - started, 3)
    return dataset


def triplet_texts(dataset: Dataset, split: str) -> pd.DataFrame:
    """The triplets of ``split`` as texts: anchor_id, anchor, positive, negative."""
    table = dataset.extras.get(TRIPLETS_TABLE)
    if table is None:
        raise LabError(f"dataset '{dataset.name}' has no triplets: import a triplet file with "
                       "`lab data import triplets FILE`")
    rows = table[table["split"] == split]
    anchors = dict(zip(dataset.queries["query_id"], dataset.queries["query_text"]))
    titles = dict(zip(dataset.products["product_id"], dataset.products["product_title"]))
    return pd.DataFrame({"anchor_id": rows["anchor_id"].tolist(),
                         "anchor": [anchors[a] for a in rows["anchor_id"]],
                         "positive": [titles[p] for p in rows["positive_id"]],
                         "negative": [titles[n] for n in rows["negative_id"]]})
