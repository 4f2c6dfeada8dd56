"""Fine-tuning on the generated demo catalogue with a tiny budget: one real training run (interrupted,
then resumed) shared by the tests, plus the error paths, which stop before any training."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lab.backends.embedded import EmbeddedBackend
from lab.context import Lab
from lab.data import Dataset, generate_demo
from lab.embeddings import load_encoder
from lab.errors import DataError, LabError
from lab.finetune import (FinetuneConfig, assert_same_pipeline, build_training_data, draw_plots, finetune,
                          load_card, load_report, model_dir, pipeline_signature, report_dir)
from lab.finetune.examples import product_texts, refuse_test_queries
from lab.finetune.report import PLOTS
from lab.finetune.trainer import CHECKPOINTS, disk_errors, ensure_free_space, staging_dir
from training_support import InterruptAt

NAME = "tiny"
EVAL_CATALOGUE = 20
"""Random unjudged products the evaluators search during training besides the val-judged ones."""
INTERRUPT_AT = 3


def tiny_config(**overrides) -> FinetuneConfig:
    values = dict(name=NAME, max_steps=4, eval_steps=2, batch_size=8, max_seq_length=16, negatives="judged",
                  mine_top_k=20, similarity_pairs=40, seed=7, eval_catalogue=EVAL_CATALOGUE)
    return FinetuneConfig(**{**values, **overrides})


def make_lab(workspace: Path, dataset: Dataset) -> Lab:
    dataset.save(workspace / "datasets" / dataset.name)
    return Lab(workspace=workspace, backend=EmbeddedBackend(workspace), dataset_name=dataset.name)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Train, get interrupted after the first checkpoint, resume, finish."""
    mp = pytest.MonkeyPatch()
    mp.setenv("LAB_EMBED_PRECISION", "fp32")
    workspace = tmp_path_factory.mktemp("ws")
    lab = make_lab(workspace, generate_demo(seed=5, n_products=150, n_queries=100))
    with pytest.raises(LabError, match="interrupted at step") as interrupted:
        finetune(lab, tiny_config(), display=InterruptAt(INTERRUPT_AT))
    state = {"message": str(interrupted.value), "registered": model_dir(workspace, NAME).exists(),
             "checkpoints": sorted(p.name for p in (staging_dir(workspace, NAME) / CHECKPOINTS).glob("checkpoint-*"))}
    result = finetune(lab, tiny_config())
    yield lab, result, state
    mp.undo()


def test_interrupted_run_registers_nothing_and_resumes(trained):
    lab, result, state = trained
    assert not state["registered"]
    assert "checkpoint-2" in state["checkpoints"] and "resume from checkpoint-2" in state["message"]
    assert result.card["training"]["resumed_from"] == "checkpoint-2"
    assert result.card["training"]["steps"] == 4
    assert not staging_dir(lab.workspace, NAME).exists()


def test_the_training_log_is_kept_with_the_model_across_the_resume(trained):
    lab, result, _ = trained
    lines = (result.path / "training.log").read_text(encoding="utf-8").splitlines()
    starts = [line for line in lines if f"training {NAME}: 4 steps" in line]
    assert len(starts) == 2 and "resuming at step 2" in starts[1]  # the interrupted run, then the resumed one
    assert any("step 4/4" in line and "loss " in line for line in lines)
    assert any("ndcg@10 " in line for line in lines)


def test_model_loads_through_load_encoder_and_keeps_pooling(trained):
    lab, result, _ = trained
    tuned = load_encoder(NAME, lab.workspace)
    base = load_encoder("minilm", lab.workspace)
    assert tuned.dimension == base.dimension == 384
    assert tuned.fingerprint != base.fingerprint
    texts = ["cordless drill", "Brookhaven kitchen faucet in chrome"]
    vectors = tuned.encode(texts)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(vectors, base.encode(texts), atol=1e-4)
    assert pipeline_signature(result.path) == pipeline_signature(base.path)
    assert pipeline_signature(result.path)["pooling"]["pooling_mode"] == "mean"
    assert pipeline_signature(result.path)["normalized"] is True
    catalogue = product_texts(lab.dataset.products, tiny_config().text_fields)
    assert lab.embedding_cache.count(tuned.cache_namespace) >= catalogue.nunique()  # nothing left to encode


def test_changed_pooling_is_refused(trained, tmp_path):
    lab, result, _ = trained
    changed = tmp_path / "changed"
    shutil.copytree(result.path, changed)
    pooling = changed / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text())
    config["pooling_mode"] = "cls"
    pooling.write_text(json.dumps(config))
    with pytest.raises(LabError, match="changed the base model's pooling"):
        assert_same_pipeline(load_encoder("minilm", lab.workspace).path, changed)


def test_training_data_excludes_test_queries(trained):
    lab, result, _ = trained
    dataset = lab.dataset
    config = tiny_config()
    data = build_training_data(dataset, config, product_texts(dataset.products, config.text_fields),
                               miner=lambda queries: [[] for _ in queries])
    splits = dataset.split_assignment()
    assert {splits[q] for q in data.examples["query_id"]} == {"train"}
    assert data.test_overlap == 0
    assert result.card["data"]["train"]["test_query_overlap"] == 0
    assert result.report["test_query_overlap"] == 0


def test_leak_guard_refuses_test_queries(trained):
    lab, _, _ = trained
    dataset = lab.dataset
    texts = product_texts(dataset.products, ("product_title",))
    test_query = dataset.queries_for("test").iloc[0]
    leaked = pd.DataFrame({"query_id": [test_query["query_id"]], "query": [test_query["query_text"]]})
    with pytest.raises(LabError, match="test split"):
        refuse_test_queries(dataset, leaked)
    same_text = pd.DataFrame({"query_id": ["not-a-test-id"], "query": [test_query["query_text"].upper()]})
    with pytest.raises(LabError, match="text of a test query"):
        refuse_test_queries(dataset, same_text)
    assert len(texts) == len(dataset.products)


def test_hard_negatives_are_judged_irrelevant(trained):
    lab, result, _ = trained
    dataset = lab.dataset
    labels = {(q, p): r for q, p, r in zip(dataset.qrels["query_id"], dataset.qrels["product_id"], dataset.qrels["relevance"])}
    config = tiny_config()
    texts = product_texts(dataset.products, config.text_fields)
    everything = texts.index.tolist()
    data = build_training_data(dataset, config, texts, miner=lambda queries: [everything for _ in queries])
    with_negative = data.examples[data.examples["negative_id"].notna()]
    assert len(with_negative) > 0
    assert all(labels[(q, p)] == 0 for q, p in zip(with_negative["query_id"], with_negative["negative_id"]))
    unjudged = build_training_data(dataset, tiny_config(negatives="unjudged"), texts,
                                   miner=lambda queries: [everything for _ in queries])
    assert all(labels.get((q, p), 0) == 0 for q, p in zip(unjudged.examples["query_id"], unjudged.examples["negative_id"]))
    assert result.card["data"]["train"]["with_hard_negative"] > 0


def test_report_files(trained):
    lab, result, _ = trained
    directory = report_dir(result.path)
    for name in PLOTS.values():
        assert (directory / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = load_report(result.path)
    assert set(report["metrics"]) == {"base", "finetuned"}
    assert 0 <= report["metrics"]["finetuned"]["ndcg@10"] <= 1
    assert {"2", "0", "random"} <= set(report["similarity"])
    assert report["curves"]["eval"][0]["step"] == 0 and report["curves"]["eval"][-1]["step"] == 4
    assert report["curves"]["loss"] and report["pairs"]["improved"] and report["pairs"]["deteriorated"]
    (directory / PLOTS["curves"]).unlink()
    draw_plots(directory, report, only_missing=True)
    assert (directory / PLOTS["curves"]).is_file()


def test_model_card(trained):
    lab, result, _ = trained
    card = load_card(result.path)
    assert card["dataset"] == {"name": lab.dataset.name, "fingerprint": lab.dataset.fingerprint()}
    assert card["base_model"]["fingerprint"] == load_encoder("minilm", lab.workspace).fingerprint
    assert card["data"]["train"]["split"] == "train" and card["data"]["eval"]["split"] == "val"
    assert card["data"]["train"]["positive_pairs"] > 0
    assert card["config"]["learning_rate"] == 5e-5 and card["config"]["batch_size"] == 8
    assert card["config"]["max_seq_length"] == 16 and card["config"]["seed"] == 7
    assert set(card["metrics"]) == {"evaluator", "leaderboard"}
    assert "eval_val_cosine_ndcg@10" in card["metrics"]["evaluator"]["finetuned"]
    val_judged = lab.dataset.qrels[lab.dataset.qrels["query_id"].isin(set(lab.dataset.queries_for("val")["query_id"]))]
    searched = val_judged["product_id"].astype(str).nunique() + EVAL_CATALOGUE
    assert card["data"]["eval"]["products_searched_during_training"] == searched
    assert card["data"]["eval"]["catalogue_products"] == 150 > searched
    readme = (result.path / "README.md").read_text()
    assert f"{searched:,} of 150 products searched: the judged ones and random others" in readme
    assert lab.dataset.fingerprint() in readme and card["base_model"]["fingerprint"] in readme
    assert "Hyper-parameters" in readme and "learning_rate" in readme


def test_existing_model_and_changed_settings_are_refused(trained):
    lab, _, _ = trained
    with pytest.raises(LabError, match="already exists"):
        finetune(lab, tiny_config())
    staging = staging_dir(lab.workspace, "other")
    staging.mkdir(parents=True)
    (staging / "run.json").write_text(json.dumps({"identity": {"run_hash": "something else"}}))
    with pytest.raises(LabError, match="other settings"):
        finetune(lab, tiny_config(name="other"))
    shutil.rmtree(staging)


def test_empty_and_tiny_training_sets(tmp_path):
    dataset = generate_demo(seed=5, n_products=150, n_queries=100)
    lab = make_lab(tmp_path, dataset)
    with pytest.raises(DataError, match="only 0 .* lower --min-label"):
        finetune(lab, tiny_config(min_label=3))
    train = set(dataset.queries_for("train")["query_id"])
    kept = dataset.qrels[~dataset.qrels["query_id"].isin(train)]
    empty = Dataset("empty-train", dataset.products, dataset.queries, kept)
    lab = make_lab(tmp_path, empty)
    with pytest.raises(DataError, match="no judged queries"):
        finetune(lab, tiny_config())
    one_query = dataset.qrels[dataset.qrels["query_id"].isin(sorted(train)[:1]) | ~dataset.qrels["query_id"].isin(train)]
    lab = make_lab(tmp_path, Dataset("tiny-train", dataset.products, dataset.queries, one_query))
    with pytest.raises(DataError, match="fewer than one batch|at least"):
        finetune(lab, tiny_config(batch_size=64))
    assert not (tmp_path / "models" / NAME).exists()


def test_missing_base_model_and_bad_settings(tmp_path):
    lab = make_lab(tmp_path, generate_demo(seed=5, n_products=60, n_queries=40))
    with pytest.raises(LabError, match="model 'nonexistent' not found"):
        finetune(lab, tiny_config(base="nonexistent"))
    with pytest.raises(LabError, match="test split is for the leaderboard"):
        tiny_config(train_split="test")
    with pytest.raises(LabError, match="--name"):
        tiny_config(name="../escape")


def test_disk_space_is_checked(tmp_path):
    with pytest.raises(LabError, match="not enough disk space"):
        ensure_free_space(tmp_path, 1 << 62)
    ensure_free_space(tmp_path, 1)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_full_disk_becomes_one_clear_message(tmp_path):
    with pytest.raises(LabError, match="disk full while writing under .*rerun the same command"):
        with disk_errors(tmp_path), open("/dev/full", "wb") as full:
            full.write(b"checkpoint" * 1000)
            full.flush()


def test_report_command_prints_tables(trained):
    from click.testing import CliRunner

    from lab.cli import cli
    from lab.cli.finetune import finetune as finetune_group

    lab, result, _ = trained
    if "finetune" not in cli.commands:
        cli.add_command(finetune_group)
    outcome = CliRunner().invoke(cli, ["--workspace", str(lab.workspace), "--dataset", lab.dataset.name,
                                       "finetune", "report", NAME], obj={}, terminal_width=200)
    assert outcome.exit_code == 0, outcome.output
    assert "ndcg@10" in outcome.output and "test-query overlap 0" in outcome.output
    assert "pairs improved most" in outcome.output and PLOTS["similarity"] in outcome.output
    missing = CliRunner().invoke(cli, ["--workspace", str(lab.workspace), "finetune", "report", "nope"], obj={})
    assert missing.exit_code == 1 and "no fine-tuned model or adapter 'nope'" in missing.output


def test_the_sampled_catalogue_holds_every_val_judged_product_and_is_seeded(trained):
    from lab.finetune.validation import build_validation_data, during_training, sample_catalogue

    lab, _, _ = trained
    validation = build_validation_data(lab.dataset, tiny_config(), product_texts(lab.dataset.products, ("product_title",)))
    judged = set(validation.judged["product_id"])
    sample = sample_catalogue(validation, 7, seed=3)
    assert judged <= set(sample.index) and len(sample) == len(judged) + 7 and sample.index.is_unique
    assert sample.equals(sample_catalogue(validation, 7, seed=3))
    assert set(sample_catalogue(validation, 7, seed=4).index) - judged != set(sample.index) - judged
    assert (sample == validation.corpus[sample.index]).all()
    assert during_training(validation, tiny_config(eval_catalogue=0)) is validation
    assert len(during_training(validation, tiny_config(eval_catalogue=10_000)).corpus) == len(validation.corpus)
    with pytest.raises(LabError, match="--eval-catalogue must be at least 0"):
        tiny_config(eval_catalogue=-1)


def test_one_evaluation_an_epoch_falls_on_the_epochs_last_batch(trained, tmp_path):
    from lab.finetune.batches import LengthGroupedSampler
    from lab.finetune.trainer import training_arguments

    lab, _, _ = trained
    config = tiny_config(max_steps=-1, eval_steps=None, evals_per_epoch=1, negatives="none")
    datasets = build_training_data(lab.dataset, config, product_texts(lab.dataset.products, config.text_fields),
                                   None).to_datasets(config.seed)
    args = training_arguments(config, tmp_path, datasets, bf16=False)
    yielded = sum(len(list(LengthGroupedSampler(distinct=True)(part, batch_size=8, drop_last=False, seed=config.seed,
                                                                valid_label_columns=None, generator=None)))
                  for part in datasets.values())
    assert args.eval_steps == yielded  # not the rows / batch size: batches without a repeated text can be more
    assert yielded >= -(-sum(len(part) for part in datasets.values()) // 8)


def test_compare_models_on_val(trained):
    from lab.finetune import compare_models

    lab, _, _ = trained
    table = compare_models(lab, ["minilm", NAME], tiny_config())
    assert list(table["model"]) == sorted(table["model"], key=lambda m: -table.set_index("model").loc[m, "ndcg@10"])
    assert set(table["model"]) == {"minilm", NAME}
    assert ((0 <= table["ndcg@10"]) & (table["ndcg@10"] <= 1)).all()
    assert ((0 <= table["triplet_accuracy"]) & (table["triplet_accuracy"] <= 1)).all()
    assert (table["triplets"] > 0).all() and (table["dimension"] == 384).all()
    assert table.attrs["split"] == "val" and table.attrs["catalogue"] == len(lab.dataset.products)
