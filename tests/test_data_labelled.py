"""Labelled texts (text, label) imported as a products-only dataset, then used by `lab eval neighbors`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from lab.cli import cli
from lab.data import Dataset
from lab.data.labelled import import_labelled
from lab.data.triplets import text_id
from lab.errors import DataError, LabError

CLASSES = {
    "plumbing": ["copper pipe fitting", "kitchen faucet cartridge", "pvc elbow joint", "toilet flapper valve",
                 "shower head with hose", "sink drain trap", "water heater element", "pipe thread tape"],
    "lighting": ["led ceiling light", "pendant lamp shade", "dimmer switch for bulbs", "outdoor flood light",
                 "under cabinet light strip", "chandelier crystal", "motion sensor porch light", "smart bulb"],
    "garden": ["garden hose reel", "lawn mower blade", "pruning shears", "raised bed planter", "leaf rake",
               "sprinkler timer", "potting soil bag", "weed barrier fabric"],
}


def write_csv(path: Path, rows: list[tuple[str, str]], header: str = "text,label") -> Path:
    path.write_text(header + "\n" + "".join(f"{t},{lab}\n" for t, lab in rows), encoding="utf-8")
    return path


def rows() -> list[tuple[str, str]]:
    return [(text, label) for label, texts in CLASSES.items() for text in texts]


def test_csv_becomes_products_with_a_category_column(tmp_path):
    data = [*rows(), ("copper pipe fitting", "plumbing"), ("gift card", "")]
    dataset = import_labelled(write_csv(tmp_path / "items.csv", data))
    products = dataset.products.set_index("product_id")
    assert dataset.name == "items" and len(products) == 25  # 24 labelled + 1 unlabelled; one duplicate dropped
    assert products.loc[text_id("pvc elbow joint"), "category"] == "plumbing"
    assert products.loc[text_id("gift card"), "category"] is None
    assert dataset.queries.empty and dataset.qrels.empty
    assert dataset.meta["labels"] == {"records": 24, "unlabelled": 1, "classes": 3}
    assert dataset.meta["duplicates"]["rows"] == 1 and dataset.meta["label_column"] == "category"
    dataset.save(tmp_path / "ws" / "items")
    loaded = Dataset.load(tmp_path / "ws" / "items")
    assert loaded.products["category"].dropna().value_counts().to_dict() == {k: 8 for k in CLASSES}


def test_jsonl_with_ids_and_another_column_name(tmp_path):
    path = tmp_path / "tickets.jsonl"
    path.write_text("".join(json.dumps({"id": f"T{i}", "body": text, "queue": label}) + "\n"
                            for i, (text, label) in enumerate(rows())), encoding="utf-8")
    dataset = import_labelled(path, name="tickets", text="body", label="queue", id_column="id", store_as="queue")
    assert dataset.products["product_id"].tolist()[:2] == ["T0", "T1"]
    assert set(dataset.products["queue"]) == set(CLASSES) and dataset.meta["label_column"] == "queue"


@pytest.mark.parametrize(("content", "message"), [
    ("text,label\nred drill,tools\nred drill,garden\n", "line 3 field 'label': the same text is labelled 'tools' on line 2"),
    ("text,label\n,tools\n", "line 2 field 'text': is empty"),
    ("text,category\nred drill,tools\n", "line 1: missing column 'label' (found: text, category)"),
])
def test_bad_csv_rows_are_one_line_errors(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(message)):
        import_labelled(path)


def test_bad_jsonl_and_options_are_refused(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n{"text": "b"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=re.escape("bad.jsonl line 2 field 'label': missing field (fields: text)")):
        import_labelled(path)
    path.write_text('{"text": ["a"], "label": "x"}\n', encoding="utf-8")
    with pytest.raises(DataError, match="line 1 field 'text': expected text, found list"):
        import_labelled(path)
    with pytest.raises(LabError, match="--as product_title: the products' 'product_title' column holds text"):
        import_labelled(write_csv(tmp_path / "ok.csv", rows()), store_as="product_title")
    with pytest.raises(DataError, match="unknown file type '.txt'"):
        import_labelled(tmp_path / "items.txt")


def test_cli_import_then_neighbour_precision(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_EMBED_PRECISION", "fp32")
    source = write_csv(tmp_path / "items.csv", rows())
    workspace = tmp_path / "ws"
    run = lambda *args: CliRunner().invoke(cli, ["--workspace", str(workspace), *args], obj={},
                                           catch_exceptions=False)
    imported = run("data", "import", "labelled", str(source))
    assert imported.exit_code == 0, imported.output
    assert "classes (category)" in imported.output and "3 over 24 labelled products" in imported.output
    result = run("eval", "neighbors", "--split", "all", "--k", "1", "--k", "7", "--text-fields", "product_title")
    assert result.exit_code == 0, result.output
    assert "24 all records, 3 classes" in result.output
    row = next(line for line in result.output.splitlines() if line.startswith("│ minilm"))
    precision_at_1, precision_at_7 = map(float, re.findall(r"\d\.\d{4}", row))
    assert 1 / 3 < precision_at_7 <= precision_at_1 <= 1.0  # better than chance on these themed texts
    missing = CliRunner().invoke(cli, ["--workspace", str(workspace), "data", "import", "labelled"], obj={})
    assert missing.exit_code != 0 and "name the CSV or JSONL file" in missing.output
