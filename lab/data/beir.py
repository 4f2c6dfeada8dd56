"""Import a BEIR folder (corpus.jsonl, queries.jsonl|.tsv, qrels/*.tsv; any of them may be gzipped) or TREC-style qrels.

Corpus lines ``{"_id", "title", "text"}`` become products (title → product_title, text →
product_description; ``_id`` is the product id, kept verbatim). Queries come from queries.jsonl
(``_id``, ``text``) or a tab-separated ``id<TAB>text`` file (an ``id``/``_id``/``query-id`` header is
skipped). Qrels are BEIR tsv (``query-id corpus-id score``, header optional) or TREC
(``qid 0 docid rel``), told apart per file by their number of fields.

Query ids: like every lab dataset, a query's id is the hash of its normalised text, so splits,
caches and leakage checks behave the same everywhere; the source id is kept in
``source_query_id``. Source queries whose normalised texts are identical become one lab query
(source ids space-separated in ``source_query_id``; their judgments are unioned, keeping the highest
grade where both judged a document; counted in ``meta["duplicates"]``).

Splits: qrels files named after a split define it. ``test`` → test (so reported numbers are on
BEIR's test queries); ``dev``/``val``/``validation`` → val or tune, half each by query hash;
``train`` → train, or, when there is no dev file, train/val/tune 75/12.5/12.5 by hash so that
tuning never touches test. A query judged in several split files takes the strictest
(test > dev > train). Queries judged only in other qrels files, and queries without judgments, get
the hash split (60/10/10/20). Labels are the source's integer grades; negative grades (TREC's
"junk") become 0 with the source value kept in ``raw_relevance``. A judged query or document that
is not in the queries or corpus file is an error naming the qrels file and line.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

import pandas as pd

from ..errors import LabError
from .dataset import Dataset
from .ids import query_id_for
from .sources import SourceFile, data_error, iter_jsonl, plain_stem, plain_suffix, read_source
from .splits import split_of

QRELS_SUFFIXES = (".tsv", ".txt", ".qrels", ".trec")
SPLIT_FILE_NAMES = {"test": "test", "dev": "dev", "val": "dev", "valid": "dev", "validation": "dev",
                    "train": "train"}
_STRICTNESS = {"test": 3, "dev": 2, "train": 1, None: 0}
QUERY_TSV_HEADERS = {"id", "_id", "qid", "query-id", "query_id"}
QRELS_SCORE_HEADERS = {"score", "rel", "relevance", "label", "grade"}

PathLike = str | os.PathLike[str]


@dataclass
class _Judgment:
    source_query_id: str
    product_id: str
    grade: int
    kind: str | None
    path: Path
    line: int
    fields: tuple[str, str]
    """How the file names the query and document id fields (for error messages)."""


def _text_field(source: SourceFile, line: int, obj: dict[str, Any], field: str) -> str | None:
    value = obj.get(field)
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        raise data_error(source.path, f"expected text, found {type(value).__name__}", line, field)
    text = str(value).strip()
    return text or None


def _required_id(source: SourceFile, line: int, obj: dict[str, Any], field: str = "_id") -> str:
    value = _text_field(source, line, obj, field)
    if value is None:
        raise data_error(source.path, "is missing or empty", line, field)
    return value


def _read_corpus(source: SourceFile) -> pd.DataFrame:
    ids, titles, texts, seen = [], [], [], {}
    for line, obj in iter_jsonl(source):
        pid = _required_id(source, line, obj)
        if pid in seen:
            raise data_error(source.path, f"duplicate id '{pid}' (first at line {seen[pid]})", line, "_id")
        seen[pid] = line
        ids.append(pid)
        titles.append(_text_field(source, line, obj, "title"))
        texts.append(_text_field(source, line, obj, "text"))
    if not ids:
        raise data_error(source.path, "has no documents")
    return pd.DataFrame({"product_id": ids, "product_title": titles, "product_description": texts})


def _read_queries(source: SourceFile) -> list[tuple[str, str, int]]:
    """(source id, text, line) per query."""
    rows: list[tuple[str, str, int]] = []
    if plain_suffix(source.path) == ".jsonl":
        for line, obj in iter_jsonl(source):
            qid = _required_id(source, line, obj)
            text = _text_field(source, line, obj, "text")
            if text is None:
                raise data_error(source.path, "is missing or empty", line, "text")
            rows.append((qid, text, line))
    else:
        for line, raw in enumerate(source.text.split("\n"), start=1):
            raw = raw.rstrip("\r")
            if not raw.strip():
                continue
            qid, tab, text = raw.partition("\t")
            if not rows and qid.strip().lower() in QUERY_TSV_HEADERS and line == 1:
                continue
            if not tab or not text.strip():
                raise data_error(source.path, "expected 'id<TAB>text'", line, "text")
            rows.append((qid.strip(), text.strip(), line))
    seen: dict[str, int] = {}
    for qid, _text, line in rows:
        if qid in seen:
            raise data_error(source.path, f"duplicate query id '{qid}' (first at line {seen[qid]})", line, "_id")
        seen[qid] = line
    if not rows:
        raise data_error(source.path, "has no queries")
    return rows


def _grade(path: Path, line: int, field: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise data_error(path, f"{text!r} is not a number", line, field) from None
    if not value.is_integer():
        raise data_error(path, f"{text!r} is not an integer grade", line, field)
    return int(value)


def _read_qrels(source: SourceFile) -> list[_Judgment]:
    kind = SPLIT_FILE_NAMES.get(plain_stem(source.path))
    judgments: list[_Judgment] = []
    width = None
    for line, raw in enumerate(source.text.split("\n"), start=1):
        fields = raw.split("\t") if "\t" in raw else raw.split()
        fields = [f.strip() for f in fields]
        if not raw.strip():
            continue
        if width is None and len(fields) == 3 and fields[2].lower() in QRELS_SCORE_HEADERS:
            width = 3  # BEIR header: query-id corpus-id score
            continue
        if len(fields) not in (3, 4) or (width is not None and len(fields) != width):
            expected = {3: "3 fields (query-id corpus-id score)", 4: "4 fields (TREC: qid 0 docid rel)"}
            raise data_error(source.path, f"expected {expected.get(width or 0, 'query-id corpus-id score or qid 0 docid rel')}, "
                             f"found {len(fields)}", line)
        width = len(fields)
        qid, pid, grade_text = (fields[0], fields[1], fields[2]) if width == 3 else (fields[0], fields[2], fields[3])
        names = ("query-id", "corpus-id", "score") if width == 3 else ("qid", "docid", "rel")
        judgments.append(_Judgment(qid, pid, _grade(source.path, line, names[2], grade_text), kind, source.path,
                                   line, names[:2]))
    return judgments


def _find(directory: Path, names: Iterable[str]) -> Path | None:
    """The first of ``names`` (or its ``.gz``) that is a file in ``directory``."""
    candidates = [directory / variant for n in names for variant in (n, f"{n}.gz")]
    return next((path for path in candidates if path.is_file()), None)


def _qrels_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and plain_suffix(p) in QRELS_SUFFIXES)


def _default_qrels(directory: Path) -> list[Path]:
    folder = directory / "qrels"
    if folder.is_dir():
        return _qrels_files(folder)
    return sorted(p for p in directory.iterdir() if p.is_file() and (
        plain_stem(p) == "qrels" or plain_suffix(p) in (".qrels", ".trec")))


def _resolve(directory: PathLike | None, corpus: PathLike | None, queries: PathLike | None,
             qrels: PathLike | Sequence[PathLike] | None) -> tuple[Path, Path, list[Path]]:
    base = Path(directory) if directory is not None else None
    if base is not None and not base.is_dir():
        raise data_error(base, "not a directory")
    corpus_path = Path(corpus) if corpus is not None else (base and _find(base, ["corpus.jsonl"]))
    queries_path = Path(queries) if queries is not None else (
        base and _find(base, ["queries.jsonl", "queries.tsv", "topics.tsv"]))
    if qrels is None:
        qrels_paths = _default_qrels(base) if base is not None else []
    else:
        given = [Path(qrels)] if isinstance(qrels, (str, os.PathLike)) else [Path(p) for p in qrels]
        qrels_paths = [f for p in given for f in (_qrels_files(p) if p.is_dir() else [p])]
    where = f"in {base}" if base is not None else "given"
    if corpus_path is None:
        raise LabError(f"no corpus {where}: expected corpus.jsonl")
    if queries_path is None:
        raise LabError(f"no queries {where}: expected queries.jsonl or queries.tsv")
    if not qrels_paths:
        raise LabError(f"no qrels {where}: expected qrels/test.tsv (BEIR) or a TREC qrels file")
    return corpus_path, queries_path, qrels_paths


def _split_for(query_id: str, kind: str | None, has_dev: bool) -> str:
    if kind == "test":
        return "test"
    if kind == "dev":
        return split_of(query_id, (("val", 0.5), ("tune", 0.5)))
    if kind == "train":
        return "train" if has_dev else split_of(query_id, (("train", 0.75), ("val", 0.125), ("tune", 0.125)))
    return split_of(query_id)


def import_beir(directory: PathLike | None = None, *, corpus: PathLike | None = None,
                queries: PathLike | None = None, qrels: PathLike | Sequence[PathLike] | None = None,
                name: str | None = None) -> Dataset:
    """Read a BEIR/TREC dataset (a folder, or explicit corpus/queries/qrels paths) into a Dataset."""
    started = time.perf_counter()
    corpus_path, queries_path, qrels_paths = _resolve(directory, corpus, queries, qrels)
    corpus_source = read_source(corpus_path)
    products = _read_corpus(corpus_source)
    queries_source = read_source(queries_path)
    query_rows = _read_queries(queries_source)
    qrels_sources = [read_source(p) for p in qrels_paths]
    files = {str(s.path): s.describe() for s in (corpus_source, queries_source, *qrels_sources)}

    lab_id = {qid: query_id_for(text) for qid, text, _line in query_rows}
    merged: dict[str, list[str]] = {}
    texts: dict[str, str] = {}
    for qid, text, _line in query_rows:
        merged.setdefault(lab_id[qid], []).append(qid)
        texts.setdefault(lab_id[qid], text)

    known_products = set(products["product_id"])
    best: dict[tuple[str, str], tuple[int, int]] = {}
    kinds: dict[str, set[str | None]] = {}
    negatives = repeated = 0
    for source in qrels_sources:
        for j in _read_qrels(source):
            if j.source_query_id not in lab_id:
                raise data_error(j.path, f"'{j.source_query_id}' is not in {queries_path.name}", j.line, j.fields[0])
            if j.product_id not in known_products:
                raise data_error(j.path, f"'{j.product_id}' is not in {corpus_path.name}", j.line, j.fields[1])
            qid = lab_id[j.source_query_id]
            kinds.setdefault(qid, set()).add(j.kind)
            negatives += j.grade < 0
            key, label = (qid, j.product_id), max(j.grade, 0)
            if key in best:
                repeated += 1
                if label <= best[key][0]:
                    continue
            best[key] = (label, j.grade)
    strictest = {q: max(k, key=lambda kind: _STRICTNESS[kind]) for q, k in kinds.items()}

    has_dev = any(plain_stem(s.path) in ("dev", "val", "valid", "validation") for s in qrels_sources)
    query_ids = list(merged)
    frame_queries = pd.DataFrame({
        "query_id": query_ids,
        "query_text": [texts[q] for q in query_ids],
        "split": [_split_for(q, strictest.get(q), has_dev) for q in query_ids],
        "source_query_id": [" ".join(merged[q]) for q in query_ids],
    })
    frame_qrels = pd.DataFrame([(q, p, label, float(grade)) for (q, p), (label, grade) in best.items()],
                               columns=["query_id", "product_id", "relevance", "raw_relevance"])
    merged_groups = {q: ids for q, ids in merged.items() if len(ids) > 1}
    base = Path(directory) if directory is not None else corpus_path.parent
    dataset = Dataset(name or base.resolve().name, products, frame_queries, frame_qrels, {
        "source": {"kind": "beir", "corpus": str(corpus_path.resolve()), "queries": str(queries_path.resolve()),
                   "qrels": [str(p.resolve()) for p in qrels_paths]},
        "files": files,
        "label_map": {"name": "source", "rule": "source integer grades; negative grades → 0"},
        "split_policy": {str(p.name): SPLIT_FILE_NAMES.get(plain_stem(p), "hash") for p in qrels_paths},
        "duplicates": {
            "queries_merged_by_text": sum(len(ids) - 1 for ids in merged_groups.values()),
            "merged_query_examples": [ids for ids in list(merged_groups.values())[:5]],
            "repeated_judgments": repeated,
            "repeated_judgment_policy": "highest grade kept",
            "queries_in_several_split_files": sum(len(k - {None}) > 1 for k in kinds.values()),
            "negative_grades": int(negatives),
        },
        "created": datetime.now(timezone.utc).isoformat(),
    })
    dataset.meta["counts"] = dataset.counts()
    dataset.meta["import_seconds"] = round(time.perf_counter() - started, 3)
    return dataset
