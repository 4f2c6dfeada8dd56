"""Similarity from class labels: labelled records and their split, the label-grouped batch sampler,
top-k same-class precision (hand-computed), fine-tuning on labels (measured on held-out records), the
learning curve and `lab eval neighbors`, on the generated demo catalogue's `category`."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from lab.backends.embedded import EmbeddedBackend
from lab.cli import cli
from lab.context import Lab
from lab.data import generate_demo
from lab.data.demo_catalogue import DEPARTMENTS
from lab.data.labels import label_split_of, labelled_records
from lab.data.splits import HOLDOUT_SPLITS
from lab.errors import LabError
from lab.evaluation.neighbors import best_possible_precision, mean_precision, neighbor_precision, precision_by_label
from lab.finetune.config import FinetuneConfig
from lab.finetune.examples import product_texts
from lab.finetune.label_sampler import LabelGroupedBatchSampler, batch_sizes, label_grouped_sampler
from lab.finetune.labels import finetune_labels, label_pairs
from lab.finetune.learning_curve import parse_sizes

TITLE = ("product_title",)
NAME = "by-category"


def invoke(workspace: Path, *args: str):
    return CliRunner().invoke(cli, ["--workspace", str(workspace), *args], obj={}, catch_exceptions=False)


def label_config(**overrides) -> FinetuneConfig:
    values = dict(name=NAME, objective="labels", text_fields=TITLE, max_steps=12, eval_steps=6, max_seq_length=24,
                  learning_rate=2e-4, seed=3)
    return FinetuneConfig(**{**values, **overrides})


@pytest.fixture(scope="module")
def demo_lab(tmp_path_factory) -> Lab:
    mp = pytest.MonkeyPatch()
    mp.setenv("LAB_EMBED_PRECISION", "fp32")
    workspace = tmp_path_factory.mktemp("ws")
    dataset = generate_demo(seed=5, n_products=400, n_queries=20)
    dataset.save(workspace / "datasets" / dataset.name)
    lab = Lab(workspace=workspace, backend=EmbeddedBackend(workspace))
    lab.set_current_dataset(dataset.name)
    yield lab
    mp.undo()


@pytest.fixture(scope="module")
def trained(demo_lab):
    return finetune_labels(demo_lab, label_config(), ks=(10, 25), pool="all")


def test_demo_category_is_the_department():
    products = generate_demo(seed=2, n_products=120, n_queries=5).products
    department = {t.name: d.name for d in DEPARTMENTS for t in d.types}
    types = products["attributes"].map(lambda a: re.search(r"Product Type (.+?) Size ", a).group(1))
    assert (products["category"] == types.map(department)).all()
    assert products["category"].nunique() == len(DEPARTMENTS)


def test_label_split_is_80_10_10_by_product_id():
    ids = [str(100000 + i) for i in range(5000)]
    splits = pd.Series([label_split_of(p) for p in ids])
    shares = splits.value_counts(normalize=True)
    assert set(splits) == set(HOLDOUT_SPLITS) == {"train", "val", "test"}
    assert abs(shares["train"] - 0.8) < 0.03 and abs(shares["val"] - 0.1) < 0.02 and abs(shares["test"] - 0.1) < 0.02
    assert [label_split_of(p) for p in reversed(ids)] == splits[::-1].tolist()


@pytest.mark.parametrize("counts,batch_size", [((7, 3, 2, 1), 3), ((5, 5, 5, 5, 5), 4), ((40, 1, 1), 8),
                                               ((3, 9, 4, 6, 2, 8, 1, 5), 5)])
def test_sampler_one_pair_per_label_per_batch_and_every_pair_once(counts, batch_size):
    labels = [f"label{i}" for i, n in enumerate(counts) for _ in range(n)]
    labels = list(np.random.default_rng(0).permutation(labels))
    sampler = LabelGroupedBatchSampler(list(range(len(labels))), batch_size, False, seed=11, labels=labels)
    width = min(batch_size, len(counts))
    epochs = []
    for epoch in range(3):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert len(batches) == len(sampler) == max(max(counts), math.ceil(len(labels) / width))
        assert sorted(i for batch in batches for i in batch) == list(range(len(labels)))
        for batch in batches:
            assert 1 <= len(batch) <= width
            assert len({labels[i] for i in batch}) == len(batch)
        epochs.append(batches)
    sampler.set_epoch(0)
    assert list(sampler) == epochs[0]
    assert epochs[0] != epochs[1]
    assert sorted(batch_sizes(counts, batch_size)) == sorted(len(b) for b in epochs[0])


def test_label_pairs_share_a_label_and_use_each_record_once_as_anchor():
    texts = product_texts(generate_demo(seed=3, n_products=90, n_queries=5).products, TITLE)
    records = labelled_records(generate_demo(seed=3, n_products=90, n_queries=5).products, "category", texts)
    pairs = label_pairs(records, seed=1)
    label_of = dict(zip(records.product_ids, records.labels))
    assert (pairs["anchor_id"] != pairs["positive_id"]).all()
    assert all(label_of[a] == label_of[p] == lab for a, p, lab in
               zip(pairs["anchor_id"], pairs["positive_id"], pairs["label"]))
    assert pairs["anchor_id"].is_unique and pairs["positive_id"].is_unique
    assert len(pairs) == sum(n for n in records.class_counts().values() if n >= 2)


def _at(degrees: list[float]) -> np.ndarray:
    radians = np.radians(degrees)
    return np.stack([np.cos(radians), np.sin(radians)], axis=1)


def test_neighbor_precision_on_hand_made_vectors():
    vectors = _at([0, 10, 47, 80, 90])
    vectors[1] *= 3.0  # cosine: the length does not matter
    labels = ["a", "a", "b", "a", "b"]
    frame = neighbor_precision(vectors, labels, [1, 2, 3, 10])  # 10 capped at 4 (the other records)
    expected = {  # neighbours by angle, itself excluded
        "precision@1": [1, 1, 0, 0, 0],  # 0: 1a 2b 3a 4b · 1: 0a 2b 3a 4b · 2: 3a 1a 4b 0a · 3: 4b 2b 1a 0a · 4: 3a 2b 1a 0a
        "precision@2": [1 / 2, 1 / 2, 0, 0, 1 / 2],
        "precision@3": [2 / 3, 2 / 3, 1 / 3, 1 / 3, 1 / 3],
        "precision@4": [2 / 4, 2 / 4, 1 / 4, 2 / 4, 1 / 4],
    }
    assert list(frame.columns) == ["position", "label", *expected]
    for column, values in expected.items():
        np.testing.assert_allclose(frame[column], values)
    assert mean_precision(frame)["precision@1"] == pytest.approx(0.4)
    by_label = precision_by_label(frame)
    assert by_label.loc["a", "anchors"] == 3 and by_label.loc["a", "precision@3"] == pytest.approx(5 / 9)
    subset = neighbor_precision(vectors, labels, [2], anchors=np.array([2, 4]))
    np.testing.assert_allclose(subset["precision@2"], [0, 1 / 2])
    ceiling = best_possible_precision(labels, [1, 2, 4])
    np.testing.assert_allclose(ceiling["precision@2"], [1, 1, 1 / 2, 1, 1 / 2])
    np.testing.assert_allclose(ceiling["precision@4"], [2 / 4, 2 / 4, 1 / 4, 2 / 4, 1 / 4])


def test_neighbor_ties_are_broken_by_pool_position():
    frame = neighbor_precision(_at([0, 30, 30, 30]), ["x", "x", "y", "x"], [1])
    assert frame["precision@1"].tolist() == [1, 0, 0, 1]  # nearest: 0 → 1 (x), 1 → 2 (y), 2 → 1 (x), 3 → 1 (x)


def test_missing_or_degenerate_label_column_is_one_clear_error():
    products = generate_demo(seed=3, n_products=30, n_queries=5).products
    texts = product_texts(products, TITLE)
    with pytest.raises(LabError, match=r"--label-column 'colour' is not a product column.*available: .*brand.*category"):
        labelled_records(products, "colour", texts, "demo")
    constant = products.assign(kind="tool")
    with pytest.raises(LabError, match=r"--label-column 'kind' of dataset 'demo' has 1 class .*available columns"):
        labelled_records(constant, "kind", texts, "demo")
    half_empty = products.assign(category=[c if i % 2 else None for i, c in enumerate(products["category"])])
    assert len(labelled_records(half_empty, "category", texts)) == len(products) // 2
    with pytest.raises(LabError, match="--objective 'clusters'"):
        FinetuneConfig(objective="clusters")
    with pytest.raises(LabError, match="'x' is not a positive number"):
        parse_sizes("25,x")


def test_finetuning_on_labels_raises_same_class_precision_on_test_records(trained):
    summary = trained.evaluation.summary()
    base, tuned = summary.loc["minilm"], summary.loc[NAME]
    assert trained.evaluation.split == "test" and trained.evaluation.pool == "all"
    assert tuned["precision@25"] > base["precision@25"] + 0.03
    assert tuned["precision@10"] > base["precision@10"]
    card = trained.card
    assert card["objective"] == "labels" and card["data"]["train"]["label_column"] == "category"
    assert card["data"]["train"]["pairs_per_batch"] == 14 and card["training"]["steps"] == 12
    evaluator = card["metrics"]["evaluator"]
    assert set(evaluator["base"]) == set(evaluator["finetuned"]) and card["training"]["primary_metric"] in evaluator["base"]
    assert (trained.path / "finetune.json").is_file() and not (trained.path.parent / f".{NAME}.training").exists()


def test_training_batches_hold_one_pair_per_label(demo_lab):
    from lab.finetune.labels import build_label_data, load_label_records

    records = load_label_records(demo_lab, label_config()).split("train")
    data = build_label_data(records, seed=3)
    factory = label_grouped_sampler(data.pairs["label"])
    sampler = factory(data.to_dataset(), batch_size=64, drop_last=False, valid_label_columns=None, generator=None,
                      seed=3)
    labels = data.pairs["label"].to_numpy()
    batches = list(sampler)
    assert all(len(set(labels[b])) == len(b) for b in batches) and max(map(len, batches)) == 14
    assert sorted(i for b in batches for i in b) == list(range(len(labels)))


def test_learning_curve_cli_point_per_size_json_and_png(demo_lab):
    result = invoke(demo_lab.workspace, "finetune", "--objective", "labels", "--name", "curve", "--text-fields",
                    "product_title", "--max-steps", "3", "--eval-steps", "3", "--max-seq-length", "24",
                    "--learning-curve", "25,100", "--k", "5", "--k", "20", "--pool", "all")
    assert result.exit_code == 0, result.output
    reports = demo_lab.workspace / "reports"
    curve = json.loads((reports / "learning-curve-demo-category.json").read_text())
    assert [p["records"] for p in curve["points"]] == [0, 25, 100]
    assert curve["ks"] == [5, 20] and curve["pool"] == "all"
    assert all(set(p["precision"]) == set(curve["ceiling"]) == {f"precision@{k}" for k in curve["ks"]}
               for p in curve["points"])
    assert (reports / "learning-curve-demo-category.png").read_bytes()[:4] == b"\x89PNG"
    assert "learning curve" in result.output and "precision@20" in result.output
    assert not (demo_lab.workspace / "models" / "curve").exists()  # no 'all': nothing registered
    assert not list((demo_lab.workspace / "models").glob(".curve*"))


def test_eval_neighbors_cli_compares_models(demo_lab, trained):
    result = invoke(demo_lab.workspace, "eval", "neighbors", "--model", "minilm", "--model", NAME, "--text-fields",
                    "product_title", "--k", "1", "--k", "25", "--pool", "all", "--by-label")
    assert result.exit_code == 0, result.output
    rows = {line.split()[1]: line for line in result.output.splitlines() if line.startswith("│")}
    assert {"minilm", NAME, "best"} <= set(rows)
    assert "precision@25 per label" in result.output and "hand tools" in result.output
    tuned_row = re.findall(r"\d\.\d{4}", rows[NAME])
    summary = trained.evaluation.summary()
    assert float(tuned_row[1]) == pytest.approx(summary.loc[NAME, "precision@25"], abs=1e-4)
    missing = CliRunner().invoke(cli, ["--workspace", str(demo_lab.workspace), "eval", "neighbors", "--label-column",
                                       "colour"], obj={})
    assert missing.exit_code != 0 and "available" in missing.output


def test_finetune_report_of_a_label_model_recomputes_test_precision(demo_lab, trained):
    result = invoke(demo_lab.workspace, "finetune", "report", NAME)
    assert result.exit_code == 0, result.output
    assert f"{NAME}: minilm fine-tuned on label 'category'" in result.output
    assert "during training" in result.output and "val-neighbors_precision@" in result.output
    rows = {line.split()[1]: re.findall(r"\d\.\d{4}", line) for line in result.output.splitlines()
            if line.startswith("│") and "precision" not in line}
    tuned = trained.card["metrics"]["evaluator"]["finetuned"]
    shown = re.findall(r"│ val-neighbors_precision@10\s+│\s+\S+\s+│\s+(\d\.\d{4})", result.output)
    assert float(shown[0]) == pytest.approx(tuned["eval_val-neighbors_precision@10"], abs=1e-4)
    assert {"minilm", NAME, "best"} <= set(rows)


@pytest.mark.parametrize(("args", "message"), [
    (("--objective", "labels", "--min-label", "1"), "--min-label does not apply to --objective labels"),
    (("--objective", "labels", "--negatives", "judged"), "--negatives does not apply to --objective labels"),
    (("--objective", "triplets", "--label-column", "brand"), "--label-column does not apply to --objective triplets"),
    (("--label-column", "brand",), "--label-column does not apply to --objective pairs"),
    (("--learning-curve", "25",), "--learning-curve does not apply to --objective pairs"),
    (("--hidden", "64",), "--hidden does not apply to --objective pairs (it needs --adapter mlp)"),
    (("--k", "5",), "--k does not apply to --objective pairs (it needs --objective labels)"),
    (("--objective", "triplets", "--pool", "all"), "--pool does not apply to --objective triplets"),
])
def test_options_an_objective_would_ignore_are_refused(tmp_path, args, message):
    result = CliRunner().invoke(cli, ["--workspace", str(tmp_path), "finetune", *args], obj={})
    assert result.exit_code != 0 and message in result.output
