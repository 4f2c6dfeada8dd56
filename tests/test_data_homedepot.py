"""Home Depot importer on small Kaggle-shaped files (and the real files when they are available)."""

from __future__ import annotations

import gzip
import os
import time
from pathlib import Path

import pytest

from lab.data import SPLITS, Dataset, import_homedepot
from lab.data.ids import query_id_for
from lab.data import sources
from lab.data.sources import forced_encoding
from lab.errors import DataError, LabError

TRAIN_HEADER = "id,product_uid,product_title,search_term,relevance\n"


def write(path: Path, text: str, encoding: str = "cp1252") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def train_rows(*rows: str) -> str:
    return TRAIN_HEADER + "".join(r + "\n" for r in rows)


@pytest.fixture
def source(tmp_path) -> Path:
    write(tmp_path / "train.csv", train_rows(
        '2,100001,Simpson Strong-Tie 12-Gauge Angle,angle bracket,3',
        '3,100001,Simpson Strong-Tie 12-Gauge Angle,l bracket,2.5',
        '9,100002,"BEHR Premium 1-gal. #SC-141 Tugboat Wood and Concrete Coating, Deck",deck over,1.5',
        '16,100005,Delta Vero 1-Handle Shower Faucet Trim Kit in Chrome,Angle  Bracket,1',
        '17,100005,Delta Vero Shower Trim Kit,rain shower head,2.33',
        '18,100006,Caf\u00e9 Table 30\u00b0 Tilt,slide bolt,2.67',
        '19,100006,Caf\u00e9 Table 30\u00b0 Tilt,Slide bolt,2',
        '20,100007,Plain Title,NA,1.25',
    ))
    write(tmp_path / "test.csv", "id,product_uid,product_title,search_term\n"
                                 "1,100001,Simpson Strong-Tie 12-Gauge Angle,shelf bracket\n"
                                 "4,100009,Only In Test,wall anchor\n"
                                 "5,100010,Another Test Product,ANGLE bracket\n")
    return tmp_path


def test_titles_only_import(source):
    ds = import_homedepot(source)
    assert ds.name == "homedepot"
    products = ds.products.set_index("product_id")
    assert list(products.index) == ["100001", "100002", "100005", "100006", "100007", "100009", "100010"]
    assert products.loc["100002", "product_title"].endswith("Coating, Deck")
    assert products.loc["100006", "product_title"] == "Caf\u00e9 Table 30\u00b0 Tilt"  # Windows-1252 decoded
    assert products.loc["100005", "product_title"] == "Delta Vero 1-Handle Shower Faucet Trim Kit in Chrome"
    assert products["product_description"].isna().all() and products["brand"].isna().all()
    dup = ds.meta["duplicates"]
    assert dup["products_with_conflicting_titles"] == 1
    assert dup["conflicting_title_examples"][0]["product_id"] == "100005"
    assert ds.meta["files"]["train.csv"]["encoding"] == "cp1252"
    assert len(ds.meta["files"]["train.csv"]["sha256"]) == 64


def test_queries_are_normalised_text_and_test_csv_queries_are_unlabeled(source):
    ds = import_homedepot(source)
    queries = ds.queries.set_index("query_id")
    angle = query_id_for("angle bracket")
    assert queries.loc[angle, "query_text"] == "angle bracket"  # first spelling seen
    assert queries.loc[query_id_for("NA"), "query_text"] == "NA"  # never read as a missing value
    assert set(ds.queries_for("all")["query_text"]) == {"angle bracket", "l bracket", "deck over",
                                                        "rain shower head", "slide bolt", "NA"}
    assert set(ds.queries_for("unlabeled")["query_text"]) == {"shelf bracket", "wall anchor"}
    assert queries.loc[angle, "split"] in SPLITS  # "ANGLE bracket" in test.csv is the judged query
    assert ds.meta["counts"]["test_csv_queries_judged_in_train_csv"] == 1
    assert ds.meta["counts"]["products_only_in_test_csv"] == 2
    assert ds.meta["duplicates"]["search_terms_merged_by_normalisation"] == 2


def test_reference_labels_round_half_to_even_and_duplicates_are_averaged(source):
    ds = import_homedepot(source)
    qrels = {(q, p): (r, raw) for q, p, r, raw in ds.qrels.itertuples(index=False)}
    assert qrels[(query_id_for("angle bracket"), "100001")] == (2, 3.0)
    assert qrels[(query_id_for("l bracket"), "100001")] == (1, 2.5)  # round(2.5) = 2 → 1
    assert qrels[(query_id_for("deck over"), "100002")] == (1, 1.5)  # round(1.5) = 2 → 1
    assert qrels[(query_id_for("angle bracket"), "100005")] == (0, 1.0)
    assert qrels[(query_id_for("rain shower head"), "100005")] == (1, 2.33)
    assert qrels[(query_id_for("NA"), "100007")] == (0, 1.25)
    # "slide bolt" 2.67 and "Slide bolt" 2 are one query and one pair: mean 2.335 → round 2 → 1
    label, raw = qrels[(query_id_for("slide bolt"), "100006")]
    assert (label, round(raw, 3)) == (1, 2.335)
    assert len(ds.qrels) == 7
    assert ds.meta["duplicates"]["duplicate_judgment_pairs"] == 1
    assert ds.meta["duplicates"]["judgment_rows_merged"] == 1
    assert ds.meta["label_map"]["table"]["2.5"] == 1 and ds.meta["label_map"]["table"]["1.5"] == 1


def test_fine_label_map_uses_thirds(source):
    ds = import_homedepot(source, label_map="fine")
    labels = dict(zip(ds.qrels["raw_relevance"].round(3), ds.qrels["relevance"]))
    assert labels == {3.0: 6, 2.5: 4, 1.5: 2, 1.0: 0, 2.33: 4, 2.335: 4, 1.25: 1}
    with pytest.raises(LabError, match="unknown label map 'coarse'"):
        import_homedepot(source, label_map="coarse")


def test_descriptions_and_attributes_fill_their_columns(source):
    write(source / "product_descriptions.csv", "product_uid,product_description\n"
                                               "100001,Angle made of steel.\n"
                                               "100002,\n"
                                               "999999,Not in the catalogue.\n")
    write(source / "attributes.csv", "product_uid,name,value\n"
                                     "100001,Bullet01,Versatile connector\n"
                                     "100001,MFG Brand Name,Simpson Strong-Tie\n"
                                     "100001,Material,Galvanized Steel\n"
                                     "100005.0,MFG Brand Name,Delta\n"
                                     ",,\n"
                                     "999999,MFG Brand Name,Nobody\n")
    ds = import_homedepot(source)
    products = ds.products.set_index("product_id")
    assert products.loc["100001", "product_description"] == "Angle made of steel."
    assert products.loc["100002", "product_description"] is None
    assert products.loc["100001", "brand"] == "Simpson Strong-Tie"
    assert products.loc["100001", "attributes"] == ("Bullet01 Versatile connector MFG Brand Name Simpson Strong-Tie "
                                                    "Material Galvanized Steel")
    assert products.loc["100005", "brand"] == "Delta"
    assert products.loc["100002", "brand"] is None and products.loc["100002", "attributes"] is None
    counts = ds.meta["counts"]
    assert counts["descriptions_for_unknown_products"] == 1
    assert counts["attributes_for_unknown_products"] == 1
    assert counts["attribute_rows_without_product"] == 1


def test_utf8_copy_reads_as_utf8(tmp_path):
    write(tmp_path / "train.csv", train_rows("1,1,Caf\u00e9 Chair,cafe chair,3"), encoding="utf-8")
    ds = import_homedepot(tmp_path)
    assert ds.products["product_title"].tolist() == ["Caf\u00e9 Chair"]
    assert ds.meta["files"]["train.csv"]["encoding"] == "utf-8"


@pytest.mark.parametrize("content, message", [
    (train_rows("1,100001,Angle,angle bracket,high"), r"train.csv line 2 field 'relevance': 'high' is not a number"),
    (train_rows("1,100001,Angle,angle,3", "2,100002,Bolt,bolt,"), r"train.csv line 3 field 'relevance': '' is not a number"),
    (train_rows("1,100001,Angle,angle,3", "2,100002,Bolt,bolt,4"), r"train.csv line 3 field 'relevance': 4 is outside 1..3"),
    (train_rows("1,100001,Angle,  ,3"), r"train.csv line 2 field 'search_term': is empty"),
    (train_rows("1,,Angle,angle,3"), r"train.csv line 2 field 'product_uid': is empty"),
    ("id,product_uid,product_title,relevance\n1,1,A,3\n", r"train.csv line 1: missing column 'search_term'"),
    (TRAIN_HEADER, r"train.csv: has a header but no rows"),
    ("", r"train.csv: file is empty"),
    (train_rows("1,100001,Angle,angle,3", "2,100002,Bolt,bolt,3,extra"), r"train.csv: malformed CSV: Expected 5 fields in line 3"),
])
def test_bad_train_csv_is_one_clear_line(tmp_path, content, message):
    write(tmp_path / "train.csv", content)
    with pytest.raises(DataError, match=message) as err:
        import_homedepot(tmp_path)
    assert "\n" not in str(err.value)


def test_line_numbers_count_physical_lines_of_quoted_multiline_titles(tmp_path):
    write(tmp_path / "train.csv", train_rows('1,100001,"Two\nLine Title",angle,3', "2,100002,Bolt,bolt,x"))
    with pytest.raises(DataError, match=r"line 4 field 'relevance'"):
        import_homedepot(tmp_path)


def test_cp1252_smart_quotes_read_as_quotes(tmp_path):
    (tmp_path / "train.csv").write_bytes(train_rows("1,100001,Caf\u00e9 drill X,drill,3").encode("cp1252")
                                         .replace(b"X", b"\x93pro\x94"))
    ds = import_homedepot(tmp_path)
    assert ds.products["product_title"].tolist() == ["Caf\u00e9 drill \u201cpro\u201d"]
    assert ds.meta["files"]["train.csv"]["encoding"] == "cp1252"


@pytest.mark.parametrize("encoding, recorded", [("utf-8-sig", "utf-8-sig"), ("utf-16", "utf-16")])
def test_byte_order_marks_choose_the_encoding(tmp_path, encoding, recorded):
    write(tmp_path / "train.csv", train_rows("1,100001,\u201cPro\u201d Angle,angle,3"), encoding=encoding)
    ds = import_homedepot(tmp_path)
    assert ds.products["product_title"].tolist() == ["\u201cPro\u201d Angle"]
    assert ds.meta["files"]["train.csv"]["encoding"] == recorded


def test_bytes_undefined_in_cp1252_are_replaced_and_recorded(tmp_path):
    (tmp_path / "train.csv").write_bytes(train_rows("1,100001,3\x89\xdbXTier,shelf,3").encode("latin-1")
                                         .replace(b"X", b"\x90"))
    ds = import_homedepot(tmp_path)
    assert ds.products["product_title"].tolist() == ["3\u2030\u00db\ufffdTier"]
    assert ds.meta["files"]["train.csv"]["replaced_bytes"] == {
        "count": 1, "first_line": 2, "first_column": 13, "policy": "bytes undefined in Windows-1252 read as U+FFFD"}


def test_forced_encoding_is_strict_and_control_characters_are_refused(tmp_path):
    (tmp_path / "train.csv").write_bytes(train_rows("1,100001,drill \x93pro\x94,drill,3").encode("latin-1"))
    with forced_encoding("utf-8"), pytest.raises(DataError, match=r"train.csv line 2: not valid UTF-8 \(byte 0x93 at column 16\)"):
        import_homedepot(tmp_path)
    with forced_encoding("latin-1"), pytest.raises(
            DataError, match=r"train.csv line 2: control character U\+0093 at column 16 when read as iso8859-1"):
        import_homedepot(tmp_path)
    with pytest.raises(LabError, match=r"--encoding 'klingon': unknown encoding"):
        with forced_encoding("klingon"):
            pass


def test_utf16_without_byte_order_mark_is_refused_by_name(tmp_path):
    write(tmp_path / "train.csv", train_rows("1,100001,Angle,angle,3"), encoding="utf-16-le")
    with pytest.raises(DataError, match=r"train.csv: has NUL bytes: binary, or UTF-16 without a byte-order mark"):
        import_homedepot(tmp_path)
    with forced_encoding("utf-16-le"):
        assert import_homedepot(tmp_path).meta["files"]["train.csv"]["encoding"] == "utf-16-le"


def test_missing_files_and_folders(tmp_path):
    with pytest.raises(DataError, match=r"train.csv: file not found"):
        import_homedepot(tmp_path)
    with pytest.raises(DataError, match=r"nowhere: not a directory"):
        import_homedepot(tmp_path / "nowhere")


def test_bad_optional_file_is_named(source):
    write(source / "attributes.csv", "product_uid,label\n1,x\n")
    with pytest.raises(DataError, match=r"attributes.csv line 1: missing columns 'name', 'value'"):
        import_homedepot(source)


def test_failed_import_writes_nothing(source, tmp_path):
    workspace = tmp_path / "workspace"
    import_homedepot(source).save(workspace / "datasets" / "homedepot")
    before = Dataset.load(workspace / "datasets" / "homedepot").fingerprint()
    write(source / "train.csv", train_rows("1,100001,Angle,angle,oops"))
    with pytest.raises(DataError):
        import_homedepot(source).save(workspace / "datasets" / "homedepot")
    assert Dataset.load(workspace / "datasets" / "homedepot").fingerprint() == before


def _real_data() -> Path | None:
    for candidate in (os.environ.get("LAB_DATA"), str(Path(__file__).resolve().parents[2] / "shared" / "data" / "homedepot")):
        if candidate and (Path(candidate) / "train.csv").is_file():
            return Path(candidate)
    return None


@pytest.mark.skipif(_real_data() is None, reason="Home Depot files not found ($LAB_DATA or ../shared/data/homedepot)")
def test_real_homedepot_files():
    directory = _real_data()
    ds = import_homedepot(directory)
    counts = ds.meta["counts"]
    assert counts["qrels"] + ds.meta["duplicates"]["judgment_rows_merged"] == ds.meta["files"]["train.csv"]["rows"]
    if ds.meta["files"]["train.csv"]["rows"] == 58376:  # the Kaggle train.csv
        assert counts["judged_queries"] == 9340  # 9,341 search terms; "slide  bolt" = "slide bolt"
        assert ds.meta["duplicates"]["judgment_rows_merged"] == 2
        assert counts["labels"] == {"0": 4125, "1": 27131, "2": 27118}
        if "test.csv" in ds.meta["files"]:
            assert counts["products"] == 54667
    assert ds.qrels["relevance"].between(0, 2).all()
    split_sizes = {s: counts["splits"][s]["queries"] for s in SPLITS}
    total = sum(split_sizes.values())
    assert total == counts["judged_queries"]
    assert abs(split_sizes["test"] / total - 0.2) < 0.02 and abs(split_sizes["train"] / total - 0.6) < 0.02


def test_a_header_of_200k_columns_fails_fast_in_one_short_line(tmp_path):
    (tmp_path / "train.csv").write_text("," * 200_000 + "\n1\n")
    started = time.perf_counter()
    with pytest.raises(DataError) as err:
        import_homedepot(tmp_path)
    assert time.perf_counter() - started < 2
    assert str(err.value) == (f"{tmp_path / 'train.csv'} line 1: the header has 200,001 columns, more than "
                              "the 1,000 a CSV file may have")


def test_error_lines_stay_short_whatever_the_header(tmp_path):
    write(tmp_path / "train.csv", ",".join(f"column_{i:04d}_" + "x" * 200 for i in range(900)) + "\n1\n")
    with pytest.raises(DataError, match=r"train.csv line 1: missing columns 'product_uid'") as err:
        import_homedepot(tmp_path)
    assert len(str(err.value)) < 300 + len(str(tmp_path)) + 20 and str(err.value).endswith("…")


def test_long_lines_and_files_beyond_the_memory_are_refused(tmp_path, monkeypatch):
    write(tmp_path / "train.csv", train_rows("1,100001,Angle,angle,3", f"2,100002,{'Bolt ' * 20},bolt,3"))
    monkeypatch.setattr(sources, "MAX_LINE_BYTES", 64)
    with pytest.raises(DataError, match=r"train.csv line 3: 116 bytes long, more than the 64 bytes a line may have"):
        import_homedepot(tmp_path)
    monkeypatch.undo()
    monkeypatch.setattr(sources, "available_memory", lambda: 1_000)
    with pytest.raises(DataError, match=r"train.csv: 191 bytes, more than the 100 an import can read with 0.0 GB of memory available"):
        import_homedepot(tmp_path)
    monkeypatch.setattr(sources, "available_memory", lambda: 10_000)
    (tmp_path / "train.csv").write_bytes(gzip.compress(train_rows("1,100001,Angle,angle,3").encode() + b" " * 5_000))
    with pytest.raises(DataError, match=r"train.csv: unpacks to over 1,001 bytes, more than the 1,000 an import"):
        import_homedepot(tmp_path)
