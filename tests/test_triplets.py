"""Triplet data: import (CSV/JSONL), errors naming file/line/field, the 80/10/10 anchor split, the
triplets table's save/load, negative mining, fine-tuning on triplets and triplet accuracy."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from lab.backends.embedded import EmbeddedBackend
from lab.cli import cli
from lab.context import Lab
from lab.data import Dataset
from lab.data.ids import query_id_for
from lab.data.splits import split_of
from lab.data.negatives import Mining, mine_negatives
from lab.data.triplets import TRIPLETS_TABLE, import_triplets, text_id, triplet_texts
from lab.errors import DataError, LabError
from lab.finetune import FinetuneConfig, finetune
from lab.finetune.triplets import TRIPLET_METRIC, accuracy, compare_triplet_accuracy

FAMILIES = {
    "nursing": ["Registered Nurse", "ICU Nurse", "Pediatric Nurse", "Night Shift Nurse", "Ward Nurse"],
    "kitchen": ["Head Chef", "Line Cook", "Pastry Chef", "Sous Chef", "Catering Cook"],
    "logistics": ["Truck Driver", "Forklift Operator", "Warehouse Picker", "Delivery Driver", "Dispatch Clerk"],
    "finance": ["Accountant", "Payroll Clerk", "Tax Advisor", "Financial Analyst", "Bookkeeper"],
}
CODES = ["zorquen-17", "vaxplim-42", "drukesh-63", "tobwil-28", "yunfex-81", "garmul-35", "quenvax-54", "plimdru-76"]
"""Made-up certificate codes: each stands for one job family, which the base model cannot know."""


def job_rows(n: int, seed: int = 3) -> list[dict[str, str]]:
    """Candidate profiles naming a made-up certificate; positive: a job of its family, negative: another's."""
    rng = random.Random(seed)
    families = list(FAMILIES)
    rows = []
    for i in range(n):
        code = CODES[i % len(CODES)]
        family = families[CODES.index(code) % len(families)]
        other = rng.choice([f for f in families if f != family])
        rows.append({"anchor": f"candidate {i}: {code} certified, {rng.randint(1, 30)} years",
                     "positive": rng.choice(FAMILIES[family]), "negative": rng.choice(FAMILIES[other])})
    return rows


def write_csv(path: Path, rows: list[dict[str, str]], columns: list[str] | None = None) -> Path:
    columns = columns or list(rows[0])
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


# --- import -----------------------------------------------------------------------------------

def test_csv_with_negatives_builds_a_lab_dataset(tmp_path):
    rows = [{"anchor": "Python developer", "positive": "Senior Python Engineer", "negative": "Head Chef"},
            {"anchor": "python  Developer", "positive": "Backend Engineer", "negative": "Truck Driver"},
            {"anchor": "Python developer", "positive": "Senior Python Engineer", "negative": "Head Chef"},
            {"anchor": "ICU nurse, 5 years", "positive": "Registered Nurse", "negative": "Welder"}]
    dataset = import_triplets(write_csv(tmp_path / "jobs.csv", rows))
    assert dataset.name == "jobs"
    assert len(dataset.queries) == 2  # anchors equal after normalisation are one query
    python = query_id_for("Python developer")
    assert dataset.queries.set_index("query_id").loc[python, "query_text"] == "Python developer"
    titles = dict(zip(dataset.products["product_id"], dataset.products["product_title"]))
    assert titles[text_id("Head Chef")] == "Head Chef" and len(titles) == 6
    qrels = dataset.qrels_dict("all")
    assert qrels[python] == {text_id("Senior Python Engineer"): 1, text_id("Backend Engineer"): 1,
                             text_id("Head Chef"): 0, text_id("Truck Driver"): 0}
    triplets = dataset.extras[TRIPLETS_TABLE]
    assert list(triplets.columns) == ["anchor_id", "positive_id", "negative_id", "split", "negative_source"]
    assert len(triplets) == 3 and set(triplets["negative_source"]) == {"file"}
    assert dataset.meta["duplicates"]["rows"] == 1 and dataset.meta["duplicates"]["first_lines"] == [4]
    assert dataset.meta["duplicates"]["anchors_merged_by_normalisation"] == 1
    assert dataset.meta["negatives"] == {"source": "file"}
    counts = dataset.counts()
    assert counts["splits"]["tune"] == {"queries": 0, "judged": 0, "unjudged": 0}
    assert counts["labels"] == {"0": 3, "1": 3}


def test_jsonl_with_named_columns(tmp_path):
    records = [{"profile": "welder with MIG experience", "job": "Welder", "bad": "Accountant", "id": 1},
               {"profile": "pastry chef", "job": "Pastry Chef", "bad": "Truck Driver", "id": 2}]
    path = write_jsonl(tmp_path / "pairs.jsonl", records)
    dataset = import_triplets(path, "named", anchor="profile", positive="job", negative="bad")
    assert dataset.name == "named" and len(dataset.extras[TRIPLETS_TABLE]) == 2
    texts = pd.concat([triplet_texts(dataset, s) for s in ("train", "val", "test")])
    assert set(zip(texts["anchor"], texts["positive"], texts["negative"])) == {
        ("welder with MIG experience", "Welder", "Accountant"), ("pastry chef", "Pastry Chef", "Truck Driver")}
    assert dataset.meta["source"]["columns"] == {"anchor": "profile", "positive": "job", "negative": "bad"}


def test_without_a_negative_column_mining_is_required(tmp_path):
    path = write_csv(tmp_path / "pairs.csv", job_rows(4), ["anchor", "positive"])
    with pytest.raises(LabError, match="no 'negative' column: mine the negatives with --mine"):
        import_triplets(path)


@pytest.mark.parametrize("content, message", [
    ("anchor,positive\nnurse,Registered Nurse\nchef,   \n", "line 3 field 'positive': is empty"),
    ("anchor,job\nnurse,Registered Nurse\n", "line 1: missing column 'positive' (found: anchor, job)"),
    ("anchor,positive,negative\nnurse,Registered Nurse,Registered Nurse\n",
     "line 2 field 'negative': is the same text as the positive"),
    ("anchor,positive,negative\nnurse,Registered Nurse,Chef\nnurse,Chef,Welder\n",
     "line 2 field 'negative': is a positive of the same anchor on line 3"),
    ('anchor,positive,negative\n"multi\nline anchor",Registered Nurse,Chef\n"x",,Chef\n',
     "line 4 field 'positive': is empty"),
])
def test_bad_csv_rows_name_file_line_and_field(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError) as error:
        import_triplets(path)
    assert str(error.value) == f"{path} {message}"


@pytest.mark.parametrize("lines, message", [
    (['{"anchor": "nurse", "positive": "Registered Nurse"}', '', '{"anchor": "chef"}'],
     "line 3 field 'positive': missing field (fields: anchor)"),
    (['{"anchor": "nurse", "positive": 7}'], "line 1 field 'positive': expected text, found int"),
    (['{"anchor": null, "positive": "Nurse"}'], "line 1 field 'anchor': is missing (null)"),
    (['{"anchor": "nurse", "positive": "Nurse"', ], "line 1: invalid JSON"),
])
def test_bad_jsonl_records_name_file_line_and_field(tmp_path, lines, message):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=f"^{path} {message}".replace("(", r"\(").replace(")", r"\)")):
        import_triplets(path)


def test_named_negative_column_must_exist_and_file_type_is_checked(tmp_path):
    path = write_csv(tmp_path / "pairs.csv", job_rows(3), ["anchor", "positive"])
    with pytest.raises(DataError, match=r"pairs.csv line 1: missing column 'neg'"):
        import_triplets(path, negative="neg")
    other = tmp_path / "pairs.txt"
    other.write_text("anchor,positive\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"unknown file type '.txt': expected .csv or .jsonl"):
        import_triplets(other)


def test_anchor_split_is_80_10_10_and_never_shared(tmp_path):
    dataset = import_triplets(write_csv(tmp_path / "many.csv", job_rows(4000)))
    shares = dataset.queries["split"].value_counts(normalize=True).to_dict()
    assert set(shares) == {"train", "val", "test"}
    assert shares["train"] == pytest.approx(0.8, abs=0.025)
    assert shares["val"] == pytest.approx(0.1, abs=0.02) and shares["test"] == pytest.approx(0.1, abs=0.02)
    triplets = dataset.extras[TRIPLETS_TABLE]
    assert (triplets.groupby("anchor_id")["split"].nunique() == 1).all()
    assigned = dataset.split_assignment()
    assert (triplets["split"] == triplets["anchor_id"].map(assigned)).all()
    assert dataset.counts()["splits"]["tune"]["queries"] == 0
    # the lab's usual split hash: a triplet train anchor is never a test query of a 60/10/10/20 import
    assert ((dataset.queries["split"] == "train") == (dataset.queries["query_id"].map(split_of) != "test")).all()


def test_triplets_table_survives_save_and_load_and_is_fingerprinted(tmp_path):
    dataset = import_triplets(write_csv(tmp_path / "jobs.csv", job_rows(50)))
    dataset.save(tmp_path / "ds")
    assert (tmp_path / "ds" / "triplets.parquet").is_file()
    loaded = Dataset.load(tmp_path / "ds")
    pd.testing.assert_frame_equal(loaded.extras[TRIPLETS_TABLE].astype(object),
                                  dataset.extras[TRIPLETS_TABLE].astype(object))
    assert loaded.fingerprint() == dataset.fingerprint()
    assert json.loads((tmp_path / "ds" / "meta.json").read_text())["extra_tables"] == [TRIPLETS_TABLE]
    plain = Dataset(dataset.name, dataset.products, dataset.queries, dataset.qrels)
    assert plain.fingerprint() != dataset.fingerprint()
    swapped = dataset.extras[TRIPLETS_TABLE].copy()
    swapped.loc[0, ["positive_id", "negative_id"]] = swapped.loc[0, ["negative_id", "positive_id"]].tolist()
    changed = Dataset(dataset.name, dataset.products, dataset.queries, dataset.qrels, {}, {TRIPLETS_TABLE: swapped})
    assert changed.fingerprint() != dataset.fingerprint()
    (tmp_path / "ds" / "triplets.parquet").unlink()
    with pytest.raises(LabError, match="incomplete: triplets.parquet is missing"):
        Dataset.load(tmp_path / "ds")
    with pytest.raises(DataError, match="extra table name 'qrels'"):
        Dataset("x", dataset.products, dataset.queries, dataset.qrels, {}, {"qrels": swapped})


# --- mining -----------------------------------------------------------------------------------

def test_mining_rules_on_hand_made_vectors():
    candidates = np.array([[1.0, 0.0], [0.995, 0.1], [0.9, 0.44], [0.0, 1.0], [-1.0, 0.05]])
    anchor = np.array([[1.0, 0.02]])
    # candidate 1 is a near-duplicate of the positive 0 (cosine 0.995): hard skips it
    assert mine_negatives(anchor, candidates, [[0]], [3], "hard") == [[2, 3, 4]]
    assert mine_negatives(anchor, candidates, [[0]], [3], "hard", max_positive_similarity=1.0) == [[1, 2, 3]]
    assert mine_negatives(anchor, candidates, [[0]], [2], "lowest") == [[4, 3]]
    assert mine_negatives(anchor, candidates, [[0]], [5], "lowest") == [[4, 3, 2, 4, 3]]  # dealt in turn
    assert mine_negatives(anchor, candidates, [[0, 1, 2, 3, 4]], [1], "hard") == [[]]


def test_hard_mining_never_returns_a_positive_or_a_near_duplicate():
    rng = np.random.default_rng(0)
    candidates = rng.normal(size=(300, 8))
    candidates[1::3] = candidates[0::3] + rng.normal(scale=0.05, size=(100, 8))  # near-duplicate pairs
    anchors = rng.normal(size=(60, 8))
    positives = [sorted(rng.choice(300, size=3, replace=False).tolist()) for _ in anchors]
    unit = candidates / np.linalg.norm(candidates, axis=1, keepdims=True)
    picks = mine_negatives(anchors, candidates, positives, [3] * len(anchors), "hard", 0.95)
    for row, chosen, own in zip(anchors, picks, positives):
        assert len(chosen) == 3 and not set(chosen) & set(own)
        assert (unit[chosen] @ unit[own].T).max() < 0.95
        eligible = [c for c in range(300) if c not in own and (unit[c] @ unit[own].T).max() < 0.95]
        scores = unit @ (row / np.linalg.norm(row))
        assert chosen == sorted(eligible, key=lambda c: -scores[c])[:3]


def test_import_with_mined_negatives_records_the_rule(tmp_path):
    vectors = {"nurse": [1.0, 0.0, 0.0], "chef": [0.0, 1.0, 0.0],
               "Registered Nurse": [0.9, 0.1, 0.0], "registered nurse": [0.91, 0.1, 0.0],
               "Ward Nurse": [0.6, 0.5, 0.0], "Head Chef": [0.1, 0.9, 0.0], "Welder": [0.0, 0.0, 1.0]}
    encode = lambda texts: np.array([vectors[t] for t in texts])
    rows = [("nurse", "Registered Nurse"), ("chef", "Head Chef"), ("chef", "registered nurse"),
            ("x", "Ward Nurse"), ("y", "Welder")]
    vectors.update(x=[0.0, 0.0, 1.0], y=[0.0, 0.7, 0.7])
    path = write_jsonl(tmp_path / "pairs.jsonl", [{"anchor": a, "positive": p} for a, p in rows])
    hard = import_triplets(path, mining=Mining("hard", encode, "handmade", "f" * 64))
    texts = pd.concat([triplet_texts(hard, s) for s in ("train", "val", "test")]).set_index("anchor")
    # nurse: "registered nurse" is a near-duplicate of its positive, so Ward Nurse is the hardest negative
    assert texts.loc["nurse", "negative"] == "Ward Nurse"
    assert set(hard.extras[TRIPLETS_TABLE]["negative_source"]) == {"hard"}
    assert hard.meta["negatives"]["mining"]["model"] == "handmade"
    assert hard.meta["negatives"]["mining"]["max_positive_similarity"] == 0.95
    lowest = import_triplets(path, mining=Mining("lowest", encode, "handmade", "f" * 64))
    texts = pd.concat([triplet_texts(lowest, s) for s in ("train", "val", "test")]).set_index("anchor")
    assert texts.loc["nurse", "negative"] == "Welder"
    assert lowest.meta["negatives"]["mining"]["rule"] == "lowest"


# --- fine-tuning and evaluation ---------------------------------------------------------------

def invoke(workspace: Path, *args: str):
    return CliRunner().invoke(cli, ["--workspace", str(workspace), *args], obj={}, catch_exceptions=False)


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """The CLI imports generated job triplets; a short fine-tune on their train split."""
    mp = pytest.MonkeyPatch()
    mp.setenv("LAB_EMBED_PRECISION", "fp32")
    root = tmp_path_factory.mktemp("triplets")
    workspace = root / "ws"
    result = invoke(workspace, "data", "import", "triplets", str(write_csv(root / "jobs.csv", job_rows(320))))
    assert result.exit_code == 0, result.output
    lab = Lab(workspace=workspace, backend=EmbeddedBackend(workspace))
    config = FinetuneConfig(name="jobs", objective="triplets", max_steps=16, eval_steps=8, batch_size=16,
                            max_seq_length=16, learning_rate=2e-4, warmup_ratio=0.0, bf16=False, seed=1)
    yield workspace, lab, finetune(lab, config), result.output
    mp.undo()


def test_cli_import_prints_the_dataset(tuned):
    _, lab, _, output = tuned
    assert "triplets" in output and "tune" in output
    assert lab.dataset.name == "jobs" and len(lab.dataset.extras[TRIPLETS_TABLE]) == 320


def test_finetuning_on_triplets_raises_test_triplet_accuracy(tuned):
    _, lab, result, _ = tuned
    triplets = result.report["triplets"]
    assert triplets["split"] == "test" and triplets["triplets"] == len(triplet_texts(lab.dataset, "test"))
    assert triplets["base"] < 0.7  # made-up codes: the base model is near chance
    assert triplets["finetuned"] >= triplets["base"] + 0.2
    assert result.card["metrics"]["triplets"] == triplets
    assert result.card["data"]["train"]["negatives"] == "triplets:file"
    assert result.card["data"]["train"]["test_query_overlap"] == 0
    evaluator = result.card["metrics"]["evaluator"]
    assert evaluator["finetuned"][TRIPLET_METRIC] > evaluator["base"][TRIPLET_METRIC]
    assert result.card["training"]["primary_metric"] == TRIPLET_METRIC  # the best checkpoint by val accuracy
    # the TripletEvaluator's val accuracy of the base model is the library's accuracy on val
    val = compare_triplet_accuracy(lab, ["minilm"], "val").iloc[0]
    assert val["accuracy"] == pytest.approx(evaluator["base"][TRIPLET_METRIC], abs=1.5 / val["triplets"])


def test_eval_triplets_command_compares_models(tuned):
    workspace, lab, result, _ = tuned
    out = invoke(workspace, "eval", "triplets", "--model", "minilm", "--model", "jobs")
    assert out.exit_code == 0, out.output
    assert "triplet accuracy" in out.output and "split test" in out.output
    shown = {line.split("│")[1].strip(): float(line.split("│")[2]) for line in out.output.splitlines()
             if line.startswith("│") and line.split("│")[1].strip() in ("minilm", "jobs")}
    assert shown["minilm"] == pytest.approx(result.report["triplets"]["base"], abs=1e-4)
    assert shown["jobs"] == pytest.approx(result.report["triplets"]["finetuned"], abs=1e-4)
    missing = invoke(workspace, "eval", "triplets", "--split", "tune")
    assert missing.exit_code == 2  # not a triplet split


def test_accuracy_is_strictly_closer_to_the_positive():
    anchors = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    positives = np.array([[1.0, 0.1], [0.0, 1.0], [0.5, 0.5]])
    negatives = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]])
    assert accuracy(anchors, positives, negatives) == pytest.approx(1 / 3)
    assert np.isnan(accuracy(np.empty((0, 2)), np.empty((0, 2)), np.empty((0, 2))))
