"""BEIR / TREC importer on small folders written to tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lab.data import import_beir
from lab.data.ids import query_id_for
from lab.data.sources import forced_encoding
from lab.data.splits import split_of
from lab.errors import DataError, LabError

CORPUS = [
    {"_id": "d1", "title": "Cordless Drill", "text": "A 20-volt drill.", "metadata": {}},
    {"_id": "d2", "title": "", "text": "Circular saw with a 7-1/4 in. blade."},
    {"_id": "d3", "title": "Hammer", "text": None},
    {"_id": "d4", "title": "Tape Measure", "text": "25 ft."},
]
QUERIES = [
    {"_id": "q1", "text": "cordless drill"},
    {"_id": "q2", "text": "skill saw"},
    {"_id": "q3", "text": "claw hammer"},
    {"_id": "q4", "text": "measuring tape"},
    {"_id": "q5", "text": "never judged"},
]


def jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def tsv(path: Path, rows: list[str], header: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(("query-id\tcorpus-id\tscore\n" if header else "") + "".join(r + "\n" for r in rows))
    return path


@pytest.fixture
def beir(tmp_path) -> Path:
    folder = tmp_path / "toolset"
    folder.mkdir()
    jsonl(folder / "corpus.jsonl", CORPUS)
    jsonl(folder / "queries.jsonl", QUERIES)
    tsv(folder / "qrels" / "test.tsv", ["q1\td1\t2", "q1\td2\t0", "q2\td2\t1"])
    tsv(folder / "qrels" / "train.tsv", ["q3\td3\t1", "q2\td1\t0"])
    tsv(folder / "qrels" / "dev.tsv", ["q4\td4\t2"])
    return folder


def test_beir_folder(beir):
    ds = import_beir(beir)
    assert ds.name == "toolset"
    products = ds.products.set_index("product_id")
    assert products.loc["d1", "product_title"] == "Cordless Drill"
    assert products.loc["d1", "product_description"] == "A 20-volt drill."
    assert products.loc["d2", "product_title"] is None and products.loc["d3", "product_description"] is None
    queries = ds.queries.set_index("source_query_id")
    assert queries.loc["q1", "query_id"] == query_id_for("cordless drill")
    assert ds.qrels_dict("test") == {query_id_for("cordless drill"): {"d1": 2, "d2": 0},
                                     query_id_for("skill saw"): {"d2": 1, "d1": 0}}
    assert ds.meta["duplicates"]["queries_in_several_split_files"] == 1


def test_split_files_decide_splits(beir):
    ds = import_beir(beir)
    split = dict(zip(ds.queries["source_query_id"], ds.queries["split"]))
    assert split["q1"] == "test"
    assert split["q2"] == "test"  # judged in test.tsv and train.tsv: the strictest wins
    assert split["q3"] == "train"
    assert split["q4"] == split_of(query_id_for("measuring tape"), (("val", 0.5), ("tune", 0.5)))
    assert split["q5"] == split_of(query_id_for("never judged"))
    assert ds.meta["counts"]["judged_queries"] == 4
    assert ds.meta["split_policy"] == {"dev.tsv": "dev", "test.tsv": "test", "train.tsv": "train"}


def test_train_without_dev_feeds_val_and_tune_by_hash(tmp_path):
    jsonl(tmp_path / "corpus.jsonl", [{"_id": f"d{i}", "title": f"doc {i}"} for i in range(3)])
    jsonl(tmp_path / "queries.jsonl", [{"_id": f"q{i}", "text": f"query number {i}"} for i in range(400)])
    tsv(tmp_path / "qrels" / "train.tsv", [f"q{i}\td{i % 3}\t1" for i in range(400)])
    ds = import_beir(tmp_path)
    assert set(ds.queries["split"]) == {"train", "val", "tune"}
    assert (ds.queries["split"] == "train").mean() > 0.65


def test_trec_qrels_and_tsv_queries_with_explicit_paths(tmp_path):
    corpus = jsonl(tmp_path / "docs.jsonl", CORPUS)
    queries = tmp_path / "topics.tsv"
    queries.write_text("id\ttext\n101\tcordless drill\n102\tskill saw\n")
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("101 0 d1 2\n101 0 d3 -2\n102 Q0 d2 1\n")
    ds = import_beir(corpus=corpus, queries=queries, qrels=qrels, name="trec")
    assert ds.name == "trec"
    assert ds.qrels_dict("all") == {query_id_for("cordless drill"): {"d1": 2, "d3": 0},
                                    query_id_for("skill saw"): {"d2": 1}}
    raw = dict(zip(ds.qrels["product_id"], ds.qrels["raw_relevance"]))
    assert raw["d3"] == -2.0 and ds.meta["duplicates"]["negative_grades"] == 1
    assert set(ds.queries["split"]) <= {"train", "val", "tune", "test"}  # hash split: no split files


def test_explicit_qrels_folder(beir, tmp_path):
    ds = import_beir(corpus=beir / "corpus.jsonl", queries=beir / "queries.jsonl", qrels=beir / "qrels")
    assert ds.name == "toolset" and ds.counts()["qrels"] == 6


def test_identical_query_texts_become_one_query(tmp_path):
    jsonl(tmp_path / "corpus.jsonl", CORPUS)
    jsonl(tmp_path / "queries.jsonl", [{"_id": "a", "text": "Cordless Drill"}, {"_id": "b", "text": "cordless  drill"}])
    tsv(tmp_path / "qrels" / "test.tsv", ["a\td1\t1", "b\td1\t2", "b\td4\t1", "a\td1\t0"], header=False)
    ds = import_beir(tmp_path)
    assert len(ds.queries) == 1
    assert ds.queries["source_query_id"].iloc[0] == "a b"
    assert ds.qrels_dict("test") == {query_id_for("cordless drill"): {"d1": 2, "d4": 1}}
    assert ds.meta["duplicates"]["queries_merged_by_text"] == 1
    assert ds.meta["duplicates"]["repeated_judgments"] == 2


@pytest.mark.parametrize("qrels_line, message", [
    ("q1\td9\t1", r"test.tsv line 2 field 'corpus-id': 'd9' is not in corpus.jsonl"),
    ("q9\td1\t1", r"test.tsv line 2 field 'query-id': 'q9' is not in queries.jsonl"),
    ("q1\td1\tvery", r"test.tsv line 2 field 'score': 'very' is not a number"),
    ("q1\td1\t1.5", r"test.tsv line 2 field 'score': '1.5' is not an integer grade"),
    ("q1\td1", r"test.tsv line 2: expected 3 fields \(query-id corpus-id score\), found 2"),
])
def test_bad_qrels_are_one_clear_line(beir, qrels_line, message):
    tsv(beir / "qrels" / "test.tsv", [qrels_line])
    with pytest.raises(DataError, match=message) as err:
        import_beir(beir)
    assert "\n" not in str(err.value)


def test_trec_qrels_errors_use_trec_field_names(beir):
    (beir / "qrels" / "test.tsv").write_text("q1 0 d1 2\nq1 0 d77 1\n")
    with pytest.raises(DataError, match=r"test.tsv line 2 field 'docid': 'd77' is not in corpus.jsonl"):
        import_beir(beir)


def test_bad_corpus_and_queries(beir):
    corpus = beir / "corpus.jsonl"
    corpus.write_text('{"_id": "d1", "title": "Drill"}\n{"_id": "d2", "title": \n')
    with pytest.raises(DataError, match=r"corpus.jsonl line 2: invalid JSON"):
        import_beir(beir)
    corpus.write_text('{"_id": "d1"}\n{"title": "no id"}\n')
    with pytest.raises(DataError, match=r"corpus.jsonl line 2 field '_id': is missing or empty"):
        import_beir(beir)
    corpus.write_text('{"_id": "d1"}\n\n{"_id": "d1"}\n')
    with pytest.raises(DataError, match=r"corpus.jsonl line 3 field '_id': duplicate id 'd1' \(first at line 1\)"):
        import_beir(beir)
    jsonl(corpus, CORPUS)
    jsonl(beir / "queries.jsonl", [{"_id": "q1", "text": "  "}])
    with pytest.raises(DataError, match=r"queries.jsonl line 1 field 'text': is missing or empty"):
        import_beir(beir)


def test_encoding_problems_name_file_and_line(beir):
    corpus = beir / "corpus.jsonl"
    corpus.write_bytes(b'{"_id": "d1", "title": "ok"}\n{"_id": "d2", "title": "caf\xe9"}\n')
    with forced_encoding("utf-8"), pytest.raises(
            DataError, match=r"corpus.jsonl line 2: not valid UTF-8 \(byte 0xe9 at column 28\)"):
        import_beir(beir)
    corpus.write_bytes(b'{"_id": "d1", "title": "ok"}\n{"_id": "d2", "title": "tab\x0b"}\n')
    with pytest.raises(DataError, match=r"corpus.jsonl line 2: control character U\+000B at column 28 when read as utf-8"):
        import_beir(beir)
    corpus.write_bytes(b"\x00\x01binary")
    with pytest.raises(DataError, match=r"corpus.jsonl: has NUL bytes"):
        import_beir(beir)
    corpus.write_text("")
    with pytest.raises(DataError, match=r"corpus.jsonl: file is empty"):
        import_beir(beir)


def test_missing_parts(tmp_path):
    with pytest.raises(LabError, match="no corpus in"):
        import_beir(tmp_path)
    jsonl(tmp_path / "corpus.jsonl", CORPUS)
    with pytest.raises(LabError, match="no queries in"):
        import_beir(tmp_path)
    jsonl(tmp_path / "queries.jsonl", QUERIES)
    with pytest.raises(LabError, match="no qrels in"):
        import_beir(tmp_path)


def test_gzipped_files_import_like_plain_ones(beir, tmp_path):
    import gzip

    plain = import_beir(beir)
    packed = tmp_path / "packed" / "toolset"
    (packed / "qrels").mkdir(parents=True)
    for relative in ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv", "qrels/train.tsv", "qrels/dev.tsv"):
        (packed / f"{relative}.gz").write_bytes(gzip.compress((beir / relative).read_bytes()))
    dataset = import_beir(packed)
    assert dataset.fingerprint() == plain.fingerprint()
    described = dataset.meta["files"]
    corpus = next(v for k, v in described.items() if "corpus" in k)
    assert corpus["compression"] == "gzip" and corpus["bytes"] == (beir / "corpus.jsonl").stat().st_size
    (packed / "corpus.jsonl.gz").write_bytes(gzip.compress(b'{"_id": "d1"}\n{"_id": \n'))
    with pytest.raises(DataError, match=r"corpus.jsonl.gz line 2: invalid JSON"):
        import_beir(packed)
    (packed / "corpus.jsonl.gz").write_bytes(gzip.compress((beir / "corpus.jsonl").read_bytes())[:40])
    with pytest.raises(DataError, match=r"corpus.jsonl.gz: not a readable gzip file"):
        import_beir(packed)
