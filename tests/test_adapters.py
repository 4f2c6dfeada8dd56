"""Query-side adapters on the generated demo catalogue: identity at initialisation, MNRL training that
improves val nDCG@10, save/load, refusals, a run through the CLI that leaves the index untouched, and the
leaderboard's cost columns. Base vectors are real MiniLM encodings, read from the embedding cache."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from lab.adapters import adapter_key, document_model, parse_adapter_key
from lab.adapters.batches import no_duplicate_batches
from lab.adapters.config import AdapterConfig
from lab.adapters.encoder import AdapterEncoder
from lab.adapters.heads import adapt, make_head
from lab.adapters.store import CARD, WEIGHTS, adapter_dir
from lab.adapters.trainer import train_adapter
from lab.backends.embedded import EmbeddedBackend
from lab.cli import cli
from lab.context import Lab
from lab.data import generate_demo
from lab.embeddings import encode_cached
from lab.errors import LabError
from lab.finetune.examples import build_training_data, product_texts
from lab.finetune.retrieval import dense_metrics, dense_ranking
from lab.finetune.validation import build_validation_data
from lab.indexer import build_index, encode_records
from lab.leaderboard import format_seconds
from lab.runner import check_models, run_strategy
from lab.templates import load_templates

NAME = "lin"
KEY = adapter_key("minilm", NAME)


def tiny_config(**overrides) -> AdapterConfig:
    values = dict(kind="linear", name=NAME, batch_size=16, epochs=8, learning_rate=1e-3, patience=8, seed=3)
    return AdapterConfig(**{**values, **overrides})


def fresh_lab(workspace: Path) -> Lab:
    return Lab(workspace=workspace, backend=EmbeddedBackend(workspace), dataset_name="demo")


def invoke(workspace: Path, *args: str):
    return CliRunner().invoke(cli, ["--workspace", str(workspace), "--dataset", "demo", *args], obj={},
                              catch_exceptions=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A demo workspace indexed with MiniLM, and a linear adapter trained on it."""
    mp = pytest.MonkeyPatch()
    mp.setenv("LAB_EMBED_PRECISION", "fp32")
    workspace = tmp_path_factory.mktemp("ws")
    dataset = generate_demo(seed=5, n_products=150, n_queries=400)
    dataset.save(workspace / "datasets" / dataset.name)
    lab = fresh_lab(workspace)
    build_index(lab)
    result = train_adapter(lab, tiny_config())
    yield lab, result
    mp.undo()


def val_vectors(lab: Lab, key: str, config: AdapterConfig):
    """Val query ids, their vectors under ``key``, the catalogue ids and base vectors, the val judgments."""
    texts = product_texts(lab.dataset.products, config.text_fields)
    validation = build_validation_data(lab.dataset, config.data_config(), texts)
    queries = encode_cached(lab.encoder(key), list(validation.queries.values()), lab.embedding_cache)
    catalogue = encode_cached(lab.encoder("minilm"), texts.tolist(), lab.embedding_cache)
    return list(validation.queries), queries, texts.index.tolist(), catalogue, validation.qrels


def test_adapter_keys():
    assert parse_adapter_key("minilm+adapter:adapter") == ("minilm", "adapter")
    assert parse_adapter_key("minilm") is None and parse_adapter_key("+adapter:x") is None
    assert document_model("finetuned+adapter:a") == "finetuned" and document_model("minilm") == "minilm"


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_untrained_head_reproduces_the_base_vectors(trained, kind):
    lab, _ = trained
    texts = lab.dataset.queries["query_text"].head(50).tolist()
    base = encode_cached(lab.encoder("minilm"), texts, lab.embedding_cache)
    torch.manual_seed(0)
    adapted = adapt(make_head(kind, base.shape[1], 32), base, normalise=True)
    assert np.abs(adapted - base).max() < 1e-6  # identical up to float32 rounding of the re-normalisation
    assert (np.argsort(-(adapted @ base.T), axis=1) == np.argsort(-(base @ base.T), axis=1)).all()


def test_training_lowers_the_loss_and_improves_val_ndcg(trained):
    lab, result = trained
    card = result.card
    history = card["training"]["history"]
    assert history[0]["epoch"] == 0 and len(history) == card["training"]["epochs_run"] + 1
    assert min(h["loss"] for h in history[1:]) < history[0]["loss"]
    before, after = card["metrics"]["before"], card["metrics"]["after"]
    assert after["ndcg@10"] > before["ndcg@10"]
    assert after["ndcg@10"] == max(h["ndcg@10"] for h in history)
    assert card["training"]["best_epoch"] == next(h["epoch"] for h in history if h["ndcg@10"] == after["ndcg@10"])
    # the card's numbers are what exact cosine search with the saved adapter (and the base model) gives
    for key, expected in ((KEY, after), ("minilm", before)):
        ids, queries, products, catalogue, qrels = val_vectors(fresh_lab(lab.workspace), key, tiny_config())
        metrics, _ = dense_metrics(qrels, dense_ranking(ids, queries, products, catalogue, 100))
        assert metrics == pytest.approx(expected, abs=1e-6)


def test_saved_adapter_round_trips(trained):
    lab, result = trained
    assert sorted(p.name for p in result.path.iterdir()) == sorted([CARD, WEIGHTS])
    card = json.loads((result.path / CARD).read_text())
    assert card["kind"] == "linear" and card["key"] == KEY and card["test_query_overlap"] == 0
    assert card["base_model"]["fingerprint"] == lab.encoder("minilm").fingerprint
    assert card["dataset"]["fingerprint"] == lab.dataset.fingerprint()
    assert card["training"]["seconds"] > 0 and card["config"]["learning_rate"] == 1e-3
    weights = load_file(str(result.path / WEIGHTS))
    texts = lab.dataset.queries_for("val")["query_text"].tolist()
    base = encode_cached(lab.encoder("minilm"), texts, lab.embedding_cache)
    by_hand = torch.nn.functional.normalize(torch.from_numpy(base) @ weights["weight"].T + weights["bias"], dim=1)
    encoder = fresh_lab(lab.workspace).encoder(KEY)
    assert isinstance(encoder, AdapterEncoder) and encoder.dimension == base.shape[1]
    direct = encoder.encode(texts)
    assert np.allclose(direct, by_hand.numpy(), atol=1e-6)
    assert not np.allclose(direct, base, atol=1e-3)  # training moved the queries
    assert np.array_equal(encode_cached(encoder, texts, lab.embedding_cache), direct)
    assert np.array_equal(encode_cached(encoder, texts, lab.embedding_cache), direct)  # now from its own namespace
    assert encoder.cache_namespace != lab.encoder("minilm").cache_namespace
    assert encoder.fingerprint == fresh_lab(lab.workspace).encoder(KEY).fingerprint != encoder.base.fingerprint


def test_training_is_deterministic(trained):
    lab, result = trained
    again = train_adapter(fresh_lab(lab.workspace), tiny_config(name="again", epochs=2))
    assert again.card["training"]["history"] == result.card["training"]["history"][:3]


def test_other_base_or_base_version_is_refused(trained, tmp_path):
    lab, result = trained
    with pytest.raises(LabError, match="trained on base model 'minilm', not 'mpnet'"):
        fresh_lab(lab.workspace).encoder(adapter_key("mpnet", NAME))
    card = json.loads((result.path / CARD).read_text())
    card["base_model"]["fingerprint"] = "0" * 64
    changed = adapter_dir(lab.workspace, "changed")
    changed.mkdir()
    (changed / WEIGHTS).write_bytes((result.path / WEIGHTS).read_bytes())
    (changed / CARD).write_text(json.dumps(card))
    with pytest.raises(LabError, match="another version of 'minilm'.*--overwrite"):
        fresh_lab(lab.workspace).encoder(adapter_key("minilm", "changed"))
    with pytest.raises(LabError, match="adapter 'nope' not found.*lab finetune --adapter"):
        fresh_lab(lab.workspace).encoder(adapter_key("minilm", "nope"))


def test_existing_name_needs_overwrite(trained):
    lab, _ = trained
    with pytest.raises(LabError, match="already exists.*--overwrite"):
        train_adapter(lab, tiny_config())


def test_no_test_query_in_training(trained):
    lab, _ = trained
    dataset = lab.dataset
    config = tiny_config()
    data = build_training_data(dataset, config.data_config(), product_texts(dataset.products, config.text_fields))
    splits = dataset.split_assignment()
    assert {splits[q] for q in data.examples["query_id"]} == {"train"} and data.test_overlap == 0
    test = dataset.queries_for("test")
    queries = dataset.queries.copy()
    first_train = queries.index[queries["query_id"].isin(set(data.examples["query_id"]))][0]
    queries.loc[first_train, "query_text"] = test["query_text"].iloc[0]
    leaky = fresh_lab(lab.workspace)
    leaky.__dict__["dataset"] = dataclasses.replace(dataset, queries=queries)
    with pytest.raises(LabError, match="text of a test query"):
        train_adapter(leaky, tiny_config(name="leaky"))
    assert not adapter_dir(lab.workspace, "leaky").exists()


def test_batches_never_repeat_a_query_or_product():
    queries = ["q1", "q1", "q2", "q3", "q4", "q5", "q6", "q7"]
    products = ["a", "b", "a", "c", "d", "e", "f", "g"]
    negatives = [None, None, None, "d", None, None, None, None]
    batches = no_duplicate_batches(queries, products, negatives, 3, np.random.default_rng(1))
    assert batches and all(len(b) == 3 for b in batches)
    for batch in batches:
        seen = [f"q{queries[i]}" for i in batch] + [products[i] for i in batch] + [negatives[i] for i in batch if negatives[i]]
        assert len(seen) == len(set(seen))
    assert [b.tolist() for b in batches] == [b.tolist() for b in no_duplicate_batches(
        queries, products, negatives, 3, np.random.default_rng(1))]


def test_strategy_without_the_adapter_says_how_to_train_it(trained):
    lab, _ = trained
    template = load_templates(lab.queries_dir)["vectorsearch_adapter"]
    with pytest.raises(LabError, match="lab finetune --adapter"):
        run_strategy(lab, template, overrides={"adapter": "missing"})


def index_files(workspace: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_mtime_ns, p.stat().st_size)
            for folder in ("indexes", "index-state") for p in (workspace / folder).rglob("*") if p.is_file()}


def test_cli_trains_runs_and_shows_costs_without_reindexing(trained):
    lab, _ = trained
    workspace = lab.workspace
    result = invoke(workspace, "finetune", "--adapter", "mlp", "--name", "cli", "--hidden", "32", "--epochs", "3",
                    "--batch-size", "16")
    assert result.exit_code == 0, result.output
    assert "ndcg@10" in result.output and "test-query overlap 0" in result.output
    assert "lab run --strategy vectorsearch_adapter --param adapter=cli" in result.output
    trained_output = result.output
    report = invoke(workspace, "finetune", "report", "cli")
    assert report.exit_code == 0, report.output
    assert "adapter minilm+adapter:cli" in report.output and "mlp adapter 'cli'" in report.output
    ndcg_rows = lambda text: [line for line in text.splitlines() if line.startswith("│ ndcg@10 ")]
    assert ndcg_rows(report.output) == ndcg_rows(trained_output) and len(ndcg_rows(report.output)) == 1
    before = index_files(workspace)
    result = invoke(workspace, "run", "--strategy", "vectorsearch_adapter", "--param", "adapter=cli")
    assert result.exit_code == 0, result.output
    assert index_files(workspace) == before
    manifests = [json.loads(p.read_text()) for p in (workspace / "runs" / "demo").glob("*/manifest.json")]
    manifest = next(m for m in manifests if m["strategy"] == "vectorsearch_adapter")
    card = json.loads((adapter_dir(workspace, "cli") / CARD).read_text())
    assert list(manifest["models"]) == ["minilm+adapter:cli"]
    assert manifest["model_costs"]["minilm+adapter:cli"] == {
        "kind": "adapter", "train_seconds": card["training"]["seconds"], "reindex_seconds": 0.0,
        "reindex_basis": "none needed"}
    assert invoke(workspace, "run", "--strategy", "vectorsearch").exit_code == 0
    result = invoke(workspace, "leaderboard", "--columns", "strategy,ndcg@10,model,train s,re-index s")
    assert result.exit_code == 0
    assert "train s" in result.output and "re-index s" in result.output
    rows = {line.split("│")[2].strip(): [c.strip() for c in line.split("│")] for line in result.output.splitlines()
            if line.count("│") > 5}
    trained_seconds = format_seconds(card["training"]["seconds"])  # "9.8", or "10" from 10 s on
    assert rows["vectorsearch_adapter"][-4:-1] == ["minilm+adapter:cli", trained_seconds, "0.0"]
    base_cost = json.loads(next((workspace / "runs" / "demo").glob("vectorsearch-*/manifest.json")).read_text()
                           )["model_costs"]["minilm"]
    assert base_cost["kind"] == "base" and base_cost["train_seconds"] == 0 and base_cost["reindex_basis"] == "measured"
    assert base_cost["reindex_seconds"] == encode_records(lab)["minilm"]["estimated_seconds"] > 0
    assert rows["vectorsearch"][-4:-1] == ["minilm", "0.0", format_seconds(base_cost["reindex_seconds"])]
    report = invoke(workspace, "report", "--output", str(workspace / "page.html"))
    assert report.exit_code == 0, report.output
    page = (workspace / "page.html").read_text(encoding="utf-8")
    adapter_row = re.search(r"<tr[^>]*><td>\d+</td><td class=\"text\">vectorsearch_adapter</td>(.*?)</tr>", page)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", adapter_row[1])
    assert cells[-4:-1] == ["minilm+adapter:cli", trained_seconds, "0.0"]


def test_indexing_an_adapter_is_refused(trained):
    lab, _ = trained
    result = invoke(lab.workspace, "index", "--model", KEY)
    assert result.exit_code == 1 and "adapters need no re-indexing" in result.output
    result = invoke(lab.workspace, "finetune", "--adapter", "linear", "--loss", "cached-mnrl")
    assert result.exit_code == 1 and "--loss does not apply to --adapter" in result.output


def test_index_records_how_long_encoding_took(trained):
    lab, _ = trained
    record = encode_records(lab)["minilm"]
    assert record["fingerprint"] == lab.encoder("minilm").fingerprint and record["basis"] == "measured"
    assert record["texts"] == record["encoded"] > 0 and record["estimated_seconds"] == record["seconds"] > 0


def test_adapter_runs_only_on_current_base_vectors(trained):
    lab, _ = trained
    template = load_templates(lab.queries_dir)["vectorsearch_adapter"]
    check_models(lab, template, [adapter_key("minilm", NAME)])
    state = next((lab.workspace / "index-state").rglob("demo.json"))
    saved = state.read_bytes()
    stale = json.loads(saved)
    stale["models"]["minilm"] = "0" * 64
    try:
        state.write_text(json.dumps(stale))
        with pytest.raises(LabError, match="older version of model 'minilm'.*lab index --model minilm"):
            check_models(lab, template, [adapter_key("minilm", NAME)])
    finally:
        state.write_bytes(saved)
