"""Cross-encoder reranking on the generated demo catalogue: one tiny real training run (interrupted, then
resumed) shared by the tests, the rerank response processor of a template's pipeline in `lab run`, its score
cache, its manifest and leaderboard cost, and every bad input as one error naming the file and key."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from demo_support import demo_lab
from lab.engine.pipelines import split_response_processors
from lab.errors import LabError, QueryError, TemplateError
from lab.finetune.config import FinetuneConfig
from lab.leaderboard import choose_columns, leaderboard_cells, leaderboard_table
from lab.reranker.store import CARD_JSON, files_fingerprint, reranker_dir
from lab.reranker.training import train_reranker, training_pairs
from lab.runner import run_strategies, run_strategy
from lab.templates import load_template
from training_support import InterruptAt

NAME = "tiny-ce"
WINDOW = 20


def tiny_config(**overrides) -> FinetuneConfig:
    values = dict(name=NAME, objective="cross-encoder", max_steps=4, eval_steps=2, batch_size=8, max_seq_length=32,
                  negatives="unjudged", mine_from="bm25", mine_top_k=10, negatives_per_query=3,
                  text_fields=("product_title",), first_stage="textsearch", rerank_window=10, seed=7)
    return FinetuneConfig(**{**values, **overrides})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    lab = demo_lab(tmp_path_factory.mktemp("ce") / "ws", seed=5, n_products=150, n_queries=100)
    with pytest.raises(LabError, match="interrupted at step"):
        train_reranker(lab, tiny_config(), display=InterruptAt(3))
    interrupted = {"registered": reranker_dir(lab.workspace, NAME).exists(),
                   "staged": (lab.workspace / "rerankers" / f".{NAME}.training").is_dir()}
    result = train_reranker(lab, tiny_config())
    return lab, result, interrupted


def rerank_template(lab, name: str = "rerank_cross_encoder", edit=None):
    """The shipped template (or a copy in the workspace changed by ``edit``)."""
    if edit is None:
        return lab.templates()[name]
    data = json.loads(Path(lab.templates()[name].path).read_text(encoding="utf-8"))
    edit(data)
    path = lab.workspace_queries_dir / f"{name}_edited.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return load_template(path)


def test_interrupted_training_registers_nothing_and_resumes(trained):
    lab, result, interrupted = trained
    assert interrupted == {"registered": False, "staged": True}
    assert result.card["training"]["resumed_from"] == "checkpoint-2"
    assert result.card["training"]["steps"] == 4
    assert not (lab.workspace / "rerankers" / f".{NAME}.training").exists()


def test_training_pairs_are_graded_judgments_plus_unjudged_bm25_negatives(trained):
    lab, _, _ = trained
    from lab.finetune.examples import product_texts

    texts = product_texts(lab.dataset.products, ("product_title",))
    pairs, summary = training_pairs(lab, tiny_config(), texts, lambda d, n: _null())
    train_ids = set(lab.dataset.queries_for("train")["query_id"])
    assert set(pairs["query_id"]) <= train_ids
    qrels = lab.dataset.qrels
    grades = {(q, p): r for q, p, r in zip(qrels["query_id"], qrels["product_id"], qrels["relevance"])}
    judged = pairs[pairs["relevance"] >= 0]
    for qid, pid, label in zip(judged["query_id"], judged["product_id"], judged["label"]):
        assert label == {0: 0.0, 1: 0.5, 2: 1.0}[grades[(qid, pid)]]  # the demo's grades are 0..2
    mined = pairs[pairs["relevance"] < 0]
    assert len(mined) and (mined["label"] == 0.0).all()
    assert mined.groupby("query_id").size().max() <= 3
    for qid, query, pid in zip(mined["query_id"], mined["query"], mined["product_id"]):
        assert (qid, pid) not in grades
        top = lab.backend.search_batch(lab.index_name, [{"query": {"match": {"product_title": query}}, "size": 10}])
        assert pid in top[0].doc_ids
    assert summary["mined_negatives"] == len(mined) and summary["test_query_overlap"] == 0


def _null():
    from contextlib import nullcontext

    return nullcontext(lambda n: None)


def test_card_fingerprint_and_files(trained):
    lab, result, _ = trained
    card = json.loads((result.path / CARD_JSON).read_text(encoding="utf-8"))
    assert card["fingerprint"] == files_fingerprint(result.path)
    assert card["objective"] == "cross-encoder" and card["data"]["eval"]["first_stage"] == "textsearch"
    assert card["training"]["primary_metric"] == "eval_val_rerank_ndcg@10"
    assert set(card["metrics"]["reranked"]) >= {"ndcg@10", "mrr@10"}
    assert (result.path / "README.md").is_file() and (result.path / "training.log").is_file()


def test_the_cards_fp32_val_metrics_are_the_registered_models_in_fp32(trained):
    """The trained model's forward stays under the trainer's bf16 autocast: the card's fp32 numbers must come from
    the model as saved (here: reloaded by sentence-transformers itself, fp32, no autocast)."""
    import torch
    from sentence_transformers import CrossEncoder

    from lab.finetune.examples import product_texts
    from lab.progress import silent
    from lab.reranker.training import build_validation, rerank_metrics

    lab, result, _ = trained
    validation = build_validation(lab, tiny_config(), product_texts(lab.dataset.products, ("product_title",)), silent())
    reference = CrossEncoder(str(result.path), device="cpu", local_files_only=True)
    queries, texts = validation.pairs()
    with torch.autocast("cpu", enabled=False):
        scores = reference.predict(list(zip(queries, texts)), convert_to_numpy=True)
    assert result.card["metrics"]["reranked"] == pytest.approx(rerank_metrics(np.asarray(scores), validation))


def test_rerank_reorders_the_window_exactly_by_the_model_scores(trained, monkeypatch):
    from sentence_transformers import CrossEncoder

    lab, result, _ = trained
    monkeypatch.setenv("LAB_RERANK_PRECISION", "fp32")
    first = run_strategy(lab, lab.templates()["textsearch_boosted"], split="test")
    run = run_strategy(lab, rerank_template(lab), split="test",
                       overrides={"reranker": NAME, "rerank_window": WINDOW, "first_stage_weight": 0})
    titles = dict(zip(lab.dataset.products["product_id"].astype(str), lab.dataset.products["product_title"]))
    queries = dict(zip(lab.dataset.queries["query_id"], lab.dataset.queries["query_text"]))
    reference = CrossEncoder(str(result.path), device="cpu", local_files_only=True)
    before, after = first.ranking().groupby("query_id"), run.ranking().groupby("query_id")
    checked = 0
    for qid, group in after:
        ids, scores = group.sort_values("rank")["product_id"].tolist(), group.sort_values("rank")["score"].to_numpy()
        previous = before.get_group(qid).sort_values("rank")["product_id"].tolist()
        top = previous[:WINDOW]
        expected = reference.predict([(queries[qid], titles[p]) for p in top], convert_to_numpy=True)
        by_id = dict(zip(top, expected))
        assert sorted(ids[:len(top)]) == sorted(top)
        assert np.allclose(scores[:len(top)], [by_id[p] for p in ids[:len(top)]], atol=1e-5)
        assert (np.diff(scores) <= 0).all()  # best first, the tail below the window
        gaps = np.abs(np.subtract.outer(expected, expected))[np.triu_indices(len(top), 1)]
        if len(top) < 2 or gaps.min() > 1e-5:  # no near-tie: the order itself is the reference's
            assert ids[:len(top)] == [top[i] for i in np.argsort(-expected, kind="stable")]
        assert ids[len(top):] == previous[len(top):]
        checked += 1
    assert checked == run.manifest["n_queries"]
    record = run.manifest["rerank_processor"]
    assert record["window"] == WINDOW and record["executed_by"] == "embedded engine"
    assert record["precision"] == "fp32" and record["document_fields"] == ["product_title"]
    assert record["pairs"] == sum(min(WINDOW, n) for n in before.size())
    assert run.manifest["models"][f"cross-encoder:{NAME}"] == result.card["fingerprint"]
    assert run.manifest["model_costs"][f"cross-encoder:{NAME}"]["kind"] == "cross-encoder"


def test_a_pair_asked_twice_is_scored_once_and_answered_twice(trained, monkeypatch):
    from sentence_transformers import CrossEncoder

    from lab.reranker.scorer import CrossEncoderScorer, ScoringStats

    _, result, _ = trained
    monkeypatch.setenv("LAB_RERANK_PRECISION", "fp32")
    queries = ["cordless drill", "wood glue", "cordless drill", "deck screws", "wood glue"]
    texts = ["drill kit 18v", "glue 8 oz", "drill kit 18v", "screws 3 in.", "glue 8 oz"]
    stats = ScoringStats()
    scores = CrossEncoderScorer(result.path, result.card, workspace=None).score(queries, texts, stats=stats)
    expected = CrossEncoder(str(result.path), device="cpu", local_files_only=True).predict(list(zip(queries, texts)))
    assert np.allclose(scores, expected, atol=1e-5)
    assert scores[0] == scores[2] and scores[1] == scores[4]
    assert (stats.pairs, stats.scored, stats.cached) == (5, 3, 2)  # the 2 repeats are answered without the model


def test_a_second_run_reads_every_score_from_the_cache(trained, monkeypatch):
    lab, _, _ = trained
    monkeypatch.setenv("LAB_RERANK_PRECISION", "fp32")
    template, overrides = rerank_template(lab), {"reranker": NAME, "rerank_window": 10}
    first = run_strategy(lab, template, split="val", overrides=overrides)
    second = run_strategy(lab, template, split="val", overrides=overrides)
    assert second.manifest["rerank_processor"]["scored_pairs"] == 0
    assert second.manifest["rerank_processor"]["cached_pairs"] == first.manifest["rerank_processor"]["pairs"]
    assert second.ranking().equals(first.ranking())
    monkeypatch.setenv("LAB_RERANK_PRECISION", "bf16")  # another precision has scores of its own
    from lab.embeddings.precision import cpu_has_native_bf16

    third = run_strategy(lab, template, split="val", overrides=overrides)
    assert third.manifest["rerank_processor"]["scored_pairs"] == (first.manifest["rerank_processor"]["pairs"]
                                                                  if cpu_has_native_bf16() else 0)


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_batches_scored_side_by_side_equal_one_stream_and_the_threads_are_given_back(trained, precision):
    """predict runs its batches as parallel streams: every pair's score is the one the model gives it alone
    (fp32: sentence-transformers' own predict; int8: the same graph with one stream), and torch's thread setting
    is as it was afterwards."""
    import torch
    from sentence_transformers import CrossEncoder

    from lab.reranker.scorer import CrossEncoderScorer, predict

    lab, result, _ = trained
    queries = lab.dataset.queries["query_text"].astype(str).tolist()[:70]
    texts = lab.dataset.products["product_title"].astype(str).tolist()[:70]
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        model = CrossEncoderScorer(result.path, result.card, None, precision=precision).model()
        side_by_side = predict(model, queries, texts, batch_size=8, bf16=False, streams=2)
        assert torch.get_num_threads() == 2
        if precision == "fp32":
            reference = CrossEncoder(str(result.path), device="cpu", local_files_only=True)
            expected = reference.predict(list(zip(queries, texts)), batch_size=8, convert_to_numpy=True)
        else:
            expected = predict(model, queries, texts, batch_size=8, bf16=False, streams=1)
    finally:
        torch.set_num_threads(before)
    np.testing.assert_allclose(side_by_side, expected, rtol=0, atol=1e-6)


def test_int8_is_the_quantized_onnx_graph_chosen_only_within_the_val_tolerance(trained, monkeypatch):
    import onnx

    from lab.reranker.quantized import int8_graph
    from lab.reranker.scorer import CrossEncoderScorer

    lab, result, _ = trained
    card, inference = result.card, result.card["inference"]
    fp32_ndcg = card["metrics"]["reranked"]["ndcg@10"]
    assert inference["int8_ndcg@10_delta"] == pytest.approx(card["metrics"]["reranked_int8"]["ndcg@10"] - fp32_ndcg)
    within = [name for name in ("int8", "bf16") if inference[f"{name}_ndcg@10_delta"] is not None
              and abs(inference[f"{name}_ndcg@10_delta"]) <= 0.002]
    assert inference["precision"] == (within[0] if within else "fp32")
    graph = int8_graph(lab.workspace, NAME, result.path, card["fingerprint"], 32)
    assert {"MatMulInteger", "DynamicQuantizeLinear"} <= {node.op_type for node in onnx.load(str(graph)).graph.node}
    queries = lab.dataset.queries["query_text"].astype(str).tolist()[:30]
    texts = lab.dataset.products["product_title"].astype(str).tolist()[:30]
    int8 = CrossEncoderScorer(result.path, card, None, precision="int8").score(queries, texts)
    fp32 = CrossEncoderScorer(result.path, card, None, precision="fp32").score(queries, texts)
    assert 0 < np.abs(int8 - fp32).max() < 0.05  # quantized: close, not equal
    monkeypatch.setenv("LAB_RERANK_PRECISION", "int8")
    run = run_strategy(lab, rerank_template(lab), split="val", overrides={"reranker": NAME, "rerank_window": 10})
    assert run.manifest["rerank_processor"]["precision"] == "int8"


def test_leaderboard_rows_show_the_rerank_cost(trained):
    lab, _, _ = trained
    runs = [run_strategy(lab, lab.templates()["textsearch"], split="val"),
            run_strategy(lab, rerank_template(lab), split="val", overrides={"reranker": NAME, "rerank_window": 10})]
    table = leaderboard_table(runs)
    columns = choose_columns(table=table)
    assert columns[columns.index("rerank s") + 1] == "pairs/s"  # joined because a row reranks
    header, rows = leaderboard_cells(table, columns)
    row = {r[header.index("strategy")]: r for r in rows}
    assert row["textsearch"][header.index("rerank s")] == "—"
    assert row["rerank_cross_encoder"][header.index("pairs/s")] != ""


def test_missing_or_half_written_reranker_is_one_error_naming_it(trained):
    lab, result, _ = trained
    template = rerank_template(lab)
    with pytest.raises(LabError, match=r"rerank_cross_encoder.json: pipeline.response_processors\[0\].rerank."
                                       r"ml_opensearch.model_id: no cross-encoder 'cross-encoder'"):
        run_strategy(lab, template, split="val")
    batch = run_strategies(lab, [template], split="val", named=False)  # `lab run --all`: not run, with the reason
    assert batch.runs == [] and "no cross-encoder 'cross-encoder'" in batch.skipped[0][1]
    broken = reranker_dir(lab.workspace, "broken")
    shutil.copytree(result.path, broken)
    (broken / "config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(LabError, match="cross-encoder 'broken' .* half-written or changed since training"):
        run_strategy(lab, template, split="val", overrides={"reranker": "broken"})
    (broken / CARD_JSON).unlink()
    with pytest.raises(LabError, match=f"cross-encoder 'broken' at {broken} is half-written"):
        run_strategy(lab, template, split="val", overrides={"reranker": "broken"})


def test_a_window_larger_than_the_hits_is_refused(trained):
    lab, _, _ = trained
    with pytest.raises(TemplateError, match=r"rerank_cross_encoder.json: body.ext.rerank.window: 200 is larger "
                                            r"than the 100 hits"):
        run_strategy(lab, rerank_template(lab), split="val", overrides={"reranker": NAME, "rerank_window": 200})
    with pytest.raises(TemplateError, match=r"body.ext.rerank.window: must be a positive integer .* got 0"):
        run_strategy(lab, rerank_template(lab), split="val", overrides={"reranker": NAME, "rerank_window": 0})


def test_a_field_not_in_the_mapping_is_refused(trained):
    lab, _, _ = trained

    def edit(data):
        data["pipeline"]["response_processors"][0]["rerank"]["context"]["document_fields"] = ["product_title", "colour"]

    with pytest.raises(TemplateError, match=r"_edited.json: pipeline.response_processors\[0\].rerank.context."
                                            r"document_fields\[1\]: 'colour' is not a text field in the mapping"):
        run_strategy(lab, rerank_template(lab, edit=edit), split="val", overrides={"reranker": NAME})


def test_a_body_without_the_rerank_query_text_is_refused(trained):
    lab, _, _ = trained

    def edit(data):
        del data["body"]["ext"]["rerank"]["query_context"]

    with pytest.raises(TemplateError, match=r"body.ext.rerank.query_context.query_text: .* needs the query text"):
        run_strategy(lab, rerank_template(lab, edit=edit), split="val", overrides={"reranker": NAME})


@pytest.mark.parametrize("processors, message", [
    ([{"truncate_hits": {}}], r"response_processors\[0\].truncate_hits: not supported"),
    ([{"rerank": {"ml_opensearch": {"model_id": "m"}, "context": {"document_fields": []}}}],
     r"rerank.context.document_fields: must be a non-empty array"),
    ([{"rerank": {"ml_opensearch": {}, "context": {"document_fields": ["t"]}}}], r"model_id: must name"),
    ([{"rerank": {"ml_opensearch": {"model_id": "m"}, "context": {"document_fields": ["t"]}, "window": 5}}],
     r"rerank.window: unknown parameter"),  # the lab's window goes with the body (ext.rerank), not in OpenSearch's
    ([{"rerank": {"by_field": {"target_field": "x"}, "context": {"document_fields": ["t"]}}}],
     r"rerank.by_field: unknown parameter"),
    ([{"rerank": {"ml_opensearch": {"model_id": "m"}, "context": {"document_fields": ["t"]}}}] * 2,
     r"response_processors: the lab runs one response processor"),
])
def test_bad_rerank_processors_name_the_key(processors, message):
    with pytest.raises(QueryError, match=message):
        split_response_processors({"response_processors": processors})


def test_the_processor_leaves_the_fusion_pipeline_to_the_backend():
    fusion = [{"score-ranker-processor": {"combination": {"technique": "rrf"}}}]
    rerank = {"rerank": {"ml_opensearch": {"model_id": "m"}, "context": {"document_fields": ["t"]}}}
    rest, processor = split_response_processors({"phase_results_processors": fusion, "response_processors": [rerank]})
    assert rest == {"phase_results_processors": fusion}
    assert (processor.model_id, processor.document_fields) == ("m", ("t",))
    rest, processor = split_response_processors({"description": "d", "response_processors": [rerank]})
    assert rest is None and processor.model_id == "m"
    assert split_response_processors({"phase_results_processors": fusion}) == ({"phase_results_processors": fusion},
                                                                                None)


def invoke(workspace: Path, *args: str):
    from click.testing import CliRunner

    from lab.cli import cli

    return CliRunner().invoke(cli, ["--workspace", str(workspace), *args], obj={})


def test_cli_trains_reranks_and_shows_the_cost(trained):
    lab, _, _ = trained
    trained_cli = invoke(lab.workspace, "finetune", "--objective", "cross-encoder", "--name", "cli-ce", "--max-steps",
                         "2", "--batch-size", "8", "--max-seq-length", "32", "--first-stage", "textsearch",
                         "--rerank-window", "10", "--mine-top-k", "10")
    assert trained_cli.exit_code == 0, trained_cli.output
    assert "registered cross-encoder cli-ce" in trained_cli.output
    card = json.loads((reranker_dir(lab.workspace, "cli-ce") / CARD_JSON).read_text(encoding="utf-8"))
    assert (card["config"]["negatives"], card["config"]["mine_from"]) == ("unjudged", "bm25")
    assert card["config"]["text_fields"] == ["product_title"]  # what the shipped templates' processors read
    ran = invoke(lab.workspace, "run", "--strategy", "rerank_cross_encoder", "--param", "reranker=cli-ce",
                 "--param", "rerank_window=10", "--split", "val")
    assert ran.exit_code == 0, ran.output
    board = invoke(lab.workspace, "leaderboard", "--split", "val", "--format", "json")
    rows = {row["strategy"]: row for row in json.loads(board.output)}
    assert rows["rerank_cross_encoder"]["rerank s"] > 0 and rows["rerank_cross_encoder"]["pairs/s"] > 0


@pytest.mark.parametrize("args, message", [
    (("--objective", "cross-encoder", "--loss", "cached-mnrl"), "--loss does not apply to --objective cross-encoder"),
    (("--first-stage", "rrf"), "--first-stage does not apply to --objective pairs (it needs --objective cross-encoder)"),
    (("--objective", "cross-encoder", "--rerank-window", "0"), "--rerank-window must be at least 1"),
    (("--layers", "3"), "--layers does not apply to --objective pairs (it needs --objective cross-encoder)"),
    (("--objective", "cross-encoder", "--layers", "0"), "--layers must be at least 1, got 0"),
])
def test_cli_refuses_options_of_another_objective(tmp_path, args, message):
    result = invoke(tmp_path, "finetune", *args)
    assert result.exit_code == 1 and message in result.output


def test_the_cross_encoder_score_is_a_learning_to_rank_feature(trained, tmp_path, monkeypatch):
    from sentence_transformers import CrossEncoder

    from lab.ltr.features import load_feature_set
    from lab.ltr.values import feature_values, model_fingerprints

    lab, result, _ = trained
    monkeypatch.setenv("LAB_RERANK_PRECISION", "fp32")
    path = tmp_path / "ce.json"
    path.write_text(json.dumps({"features": [
        {"name": "title_words", "builtin": "field_length", "field": "product_title"},
        {"name": "title_ce", "builtin": "cross_encoder", "model": NAME, "field": "product_title"}]}), encoding="utf-8")
    products = lab.dataset.products
    ids = products["product_id"].astype(str).tolist()
    candidates, texts = [ids[:3], ids[3:5]], ["cordless drill", "wood glue"]
    values = feature_values(lab, load_feature_set(path), texts, candidates)
    titles = dict(zip(ids, products["product_title"]))
    expected = CrossEncoder(str(result.path), device="cpu", local_files_only=True).predict(
        [(q, titles[p]) for q, c in zip(texts, candidates) for p in c], convert_to_numpy=True)
    assert np.allclose(values[:, 1], expected, atol=1e-5)
    assert model_fingerprints(lab, load_feature_set(path)) == {"cross_encoder:" + NAME: result.card["fingerprint"]}
    path.write_text(json.dumps({"features": [{"name": "title_ce", "builtin": "cross_encoder", "model": "nope",
                                              "field": "product_title"}]}), encoding="utf-8")
    with pytest.raises(LabError, match=r"ce.json: feature 'title_ce': no cross-encoder 'nope'"):
        feature_values(lab, load_feature_set(path), texts, candidates)


def test_the_onnx_export_scores_as_the_cross_encoder_in_fp32(trained):
    """What ml-commons runs: ONNX Runtime over the zip's graph, each pair tokenized by the zip's tokenizer.json
    (truncated as the reranker truncates), one pair at a time as ml-commons sends them."""
    import zipfile

    import onnx
    import onnxruntime
    from tokenizers import Tokenizer

    from lab.reranker.onnx_export import export_reranker
    from lab.reranker.scorer import load_cross_encoder, predict
    from lab.reranker.store import load_reranker_card

    lab, result, _ = trained
    path, card = load_reranker_card(lab.workspace, NAME)
    export = export_reranker(lab.workspace, NAME, path, card["fingerprint"], card["config"]["max_seq_length"])
    assert export_reranker(lab.workspace, NAME, path, card["fingerprint"], 32) == export  # exported once, then read
    with zipfile.ZipFile(export.path) as archive:
        assert sorted(archive.namelist()) == ["model.onnx", "tokenizer.json"]
        graph, tokenizer = archive.read("model.onnx"), Tokenizer.from_str(archive.read("tokenizer.json").decode())
    model = onnx.load_from_string(graph)
    assert model.ir_version <= 9 and {o.domain: o.version for o in model.opset_import}[""] == 17
    session = onnxruntime.InferenceSession(graph)
    texts = lab.dataset.products["product_title"].astype(str).tolist()[:40]
    queries = ["deck screws " * 20] + lab.dataset.queries["query_text"].astype(str).tolist()[:39]  # one truncated
    ours = predict(load_cross_encoder(path), queries, texts, batch_size=16, bf16=False)
    theirs = []
    for query, text in zip(queries, texts):
        encoded = tokenizer.encode(query, text)
        feed = {"input_ids": [encoded.ids], "attention_mask": [encoded.attention_mask],
                "token_type_ids": [encoded.type_ids]}
        theirs.append(session.run(None, {k: np.asarray(v, dtype=np.int64) for k, v in feed.items()})[0][0][0])
    assert len(tokenizer.encode(queries[0], texts[0]).ids) == card["config"]["max_seq_length"] == 32
    np.testing.assert_allclose(theirs, ours, atol=1e-5)
    assert np.ptp(ours) > 1e-3  # the scores differ: the comparison can fail


def test_deploying_needs_an_opensearch_backend(trained):
    lab, _, _ = trained
    result = invoke(lab.workspace, "reranker", "deploy", NAME)
    assert result.exit_code == 1
    assert ("`lab reranker deploy` deploys into OpenSearch's ml-commons: add --backend opensearch (the embedded "
            "backend reranks with the lab's own model)") in result.output


def test_a_cluster_reranked_window_is_merged_over_the_first_stage_hits_below_it():
    from lab.backends.base import SearchResult
    from lab.reranker.server import _merge

    first = SearchResult.from_columns(["a", "b", "c", "d"], [4.0, 3.0, 2.0, 1.0], 9)
    server = SearchResult.from_columns(["c", "a", "b"], [0.9, 0.5, 0.5], 9)  # the cluster's order and CE scores
    merged = _merge(first, server, 3, 0, "s", 0.0)
    assert merged.doc_ids == ["c", "a", "b", "d"] and merged.total == 9  # a tie keeps the first-stage order
    assert merged.scores[:3] == pytest.approx([0.9, 0.5, 0.5]) and merged.scores[3] < 0.5
    with pytest.raises(QueryError, match="query 1: the reranked search returned other hits"):
        _merge(first, SearchResult.from_columns(["a", "b", "x"], [3.0, 2.0, 1.0], 9), 3, 0, "s", 0.0)
    # blended with half the first stage's: a (CE 0 scaled, first 1) 0.5, b (0, 0.5) 0.25, c (1, 0) 0.5
    blended = _merge(first, server, 3, 0, "s", 0.5)
    assert blended.doc_ids == ["a", "c", "b", "d"]  # a and c tie at 0.5: first-stage order
    assert blended.scores[:3] == pytest.approx([0.5, 0.5, 0.25])


def test_blending_scales_both_scores_over_the_window_by_hand():
    from lab.reranker.blend import blend_first_stage

    reranker, first = np.array([2.0, 0.0, 1.0]), np.array([10.0, 30.0, 20.0])
    # min-max: reranker [1, 0, 0.5], first stage [0, 1, 0.5]; 0.75 x the one + 0.25 x the other
    assert blend_first_stage(reranker, first, 0.25) == pytest.approx([0.75, 0.25, 0.5])
    assert blend_first_stage(reranker, first, 1.0) == pytest.approx([0.0, 1.0, 0.5])
    assert blend_first_stage(reranker, first, 0.0) is reranker  # weight 0: the reranker's own scores, unscaled
    assert blend_first_stage(reranker, np.full(3, 7.0), 0.5) == pytest.approx([0.5, 0.0, 0.25])  # a flat stage adds 0
    assert blend_first_stage(np.array([3.0]), np.array([1.0]), 0.5) == pytest.approx([0.0])


def test_a_blended_rerank_orders_the_window_by_the_hand_blend_of_both_runs_scores(trained, monkeypatch):
    lab, _, _ = trained
    monkeypatch.setenv("LAB_RERANK_PRECISION", "fp32")
    first = run_strategy(lab, lab.templates()["textsearch_boosted"], split="test").ranking()
    alone = run_strategy(lab, rerank_template(lab), split="test",
                         overrides={"reranker": NAME, "rerank_window": WINDOW, "first_stage_weight": 0}).ranking()
    run = run_strategy(lab, rerank_template(lab), split="test",
                       overrides={"reranker": NAME, "rerank_window": WINDOW, "first_stage_weight": 0.4})
    assert run.manifest["rerank_processor"]["first_stage_weight"] == 0.4
    blended = run.ranking()
    for qid, group in blended.groupby("query_id"):
        stage = first[first.query_id == qid].sort_values("rank").head(WINDOW)
        ce = alone[alone.query_id == qid].set_index("product_id")["score"]
        def scaled(values):
            values = np.asarray(values, dtype=float)
            return (values - values.min()) / (values.max() - values.min()) if values.max() > values.min() else 0 * values
        expected = dict(zip(stage.product_id, 0.6 * scaled(ce[stage.product_id]) + 0.4 * scaled(stage.score)))
        top = group.sort_values("rank").head(len(stage))
        assert sorted(top.product_id) == sorted(expected)
        assert top.score.to_numpy() == pytest.approx([expected[p] for p in top.product_id], abs=1e-6)
        assert (np.diff(top.score.to_numpy()) <= 1e-12).all()


@pytest.mark.parametrize("weight, message", [
    (-0.1, r"body.ext.rerank.first_stage_weight: must be a number from 0 to 1 .*got -0.1"),
    (1.5, r"body.ext.rerank.first_stage_weight: must be a number from 0 to 1 .*got 1.5"),
    ("half", r"params.first_stage_weight: expected a number like the default 0.2, got a string"),
])
def test_a_first_stage_weight_outside_0_to_1_is_refused(trained, weight, message):
    lab, _, _ = trained
    with pytest.raises(TemplateError, match=r"rerank_cross_encoder.json: " + message):
        run_strategy(lab, rerank_template(lab), split="val",
                     overrides={"reranker": NAME, "rerank_window": WINDOW, "first_stage_weight": weight})


def test_tuning_a_rerank_template_runs_each_trial_as_lab_run_does(trained):
    from lab.experiments.search_space import parse_dimension
    from lab.experiments.tuning import tune_strategy

    lab, _, _ = trained
    template = rerank_template(lab)
    result = tune_strategy(lab, template, [parse_dimension("first_stage_weight=0,0.5,1", template)],
                           fixed={"reranker": NAME, "rerank_window": WINDOW})
    for weight in (0, 0.5, 1):
        run = run_strategy(lab, template, split="tune",
                           overrides={"reranker": NAME, "rerank_window": WINDOW, "first_stage_weight": weight})
        trial = result.trials[result.trials["param.first_stage_weight"] == weight].iloc[0]
        assert trial["ndcg@10"] == pytest.approx(run.manifest["metrics"]["ndcg@10"], abs=1e-12)
    # weight 1: the window in the first stage's order, i.e. the first stage's own ranking
    first = run_strategy(lab, lab.templates()["textsearch_boosted"], split="tune")
    assert result.trials[result.trials["param.first_stage_weight"] == 1].iloc[0]["ndcg@10"] == pytest.approx(
        first.manifest["metrics"]["ndcg@10"], abs=1e-12)
    assert result.test_run.manifest["split"] == "test"
    assert result.test_run.manifest["rerank_processor"]["first_stage_weight"] == result.best_params[
        "first_stage_weight"]


def test_a_teacher_labels_each_querys_pairs_by_its_ltr_scores_scaled_within_the_query(trained, tmp_path):
    """The reference: xgboost's own predictions on the feature rows `lab ltr log` stored for the same pairs."""
    import xgboost as xgb

    from lab.finetune.examples import product_texts
    from lab.ltr.features import load_feature_set
    from lab.ltr.logging import log_features
    from lab.ltr.training import load_model, train_model, training_frame
    from lab.progress import silent

    lab, _, _ = trained
    path = tmp_path / "teach.json"
    path.write_text(json.dumps({"description": "a tiny teacher", "features": [
        {"name": "title_bm25", "query": {"match": {"product_title": {"query": "{{query_text}}"}}}},
        {"name": "title_coverage", "builtin": "coverage", "field": "product_title"}]}), encoding="utf-8")
    log = log_features(lab, load_feature_set(path), lab.templates()["textsearch"], "teach", depth=10)
    train_model(lab, log, "teach", rounds=20, early_stopping=20)
    texts = product_texts(lab.dataset.products, ("product_title",))
    pairs, summary = training_pairs(lab, tiny_config(teacher="teach"), texts, silent())
    assert summary["label"] == "LTR model 'teach' score, min-max within the query"
    assert summary["teacher"]["ltr_model"] == "teach" and summary["teacher"]["fingerprint"]
    logged = training_frame(log, "train", "zero")
    booster = load_model(lab, "teach").booster
    names = ["title_bm25", "title_coverage"]
    logged = logged.assign(expected=booster.predict(xgb.DMatrix(logged[names].to_numpy(np.float32),
                                                                feature_names=names)))
    joined = pairs.merge(logged[["query_id", "product_id", "expected"]], on=["query_id", "product_id"], how="left")
    checked = 0
    for _, group in joined.groupby("query_id"):
        assert group["label"].min() == 0 and group["label"].max() == 1 or group["label"].nunique() == 1
        seen = group.dropna(subset=["expected"])  # judged pairs outside the logged top 10 have no reference
        if seen["expected"].nunique() < 2:
            continue
        low, high = seen.loc[seen["expected"].idxmin()], seen.loc[seen["expected"].idxmax()]
        slope = (high["label"] - low["label"]) / (high["expected"] - low["expected"])
        assert slope > 0  # one increasing affine map of the teacher's scores within the query
        np.testing.assert_allclose(seen["label"], low["label"] + slope * (seen["expected"] - low["expected"]),
                                   atol=1e-6)
        np.testing.assert_allclose(seen["target"], seen["expected"], rtol=1e-6)  # listnet's: the raw scores
        checked += 1
    assert checked >= 10


def test_listnet_trains_on_one_row_per_query_holding_all_its_pairs_and_targets(trained):
    from lab.finetune.examples import product_texts
    from lab.progress import silent
    from lab.reranker.scorer import load_cross_encoder
    from lab.reranker.training import training_data

    lab, result, _ = trained
    config = tiny_config(rank_loss="listnet", name="tiny-listnet", batch_size=2)
    pairs, summary = training_pairs(lab, config, product_texts(lab.dataset.products, ("product_title",)), silent())
    assert summary["loss"] == ("ListNet: cross-entropy between the softmax of the model's scores and the softmax of "
                               "the grades (unjudged: 0) over each query's pairs")
    train, loss, _ = training_data(load_cross_encoder(result.path), pairs, config)
    assert type(loss).__name__ == "ListNetLoss" and len(train) == pairs["query_id"].nunique()
    judged = lab.dataset.qrels_dict("train")
    for row in train:
        qid = pairs.loc[pairs["query"] == row["query"], "query_id"].iat[0]
        own = pairs[pairs["query_id"] == qid]
        assert sorted(zip(row["docs"], row["labels"])) == sorted(zip(own["product"], own["target"]))
        by_product = dict(zip(own["product_id"], own["target"]))
        assert all(by_product.get(p, g) == g for p, g in judged[qid].items())  # the grades; mined ones at 0
        assert sum(t == 0 for t in row["labels"]) >= len(own) - len(judged[qid])
    registered = train_reranker(lab, config)
    assert registered.card["config"]["rank_loss"] == "listnet"
    assert registered.card["data"]["train"]["loss"].startswith("ListNet")
    assert registered.card["training"]["steps"] == 4


def test_layers_keeps_the_base_models_first_layers_and_more_than_it_has_is_refused(trained):
    from sentence_transformers import CrossEncoder

    lab, _, _ = trained
    with pytest.raises(LabError, match="--layers 7: the base model 'minilm' has 6 transformer layers"):
        train_reranker(lab, tiny_config(name="ce-deep", layers=7))
    assert not reranker_dir(lab.workspace, "ce-deep").exists()
    result = train_reranker(lab, tiny_config(name="ce-two", layers=2))
    model = CrossEncoder(str(result.path), device="cpu", local_files_only=True)
    assert len(model.model.base_model.encoder.layer) == 2 and model.model.config.num_hidden_layers == 2
    assert result.card["config"]["layers"] == 2
    pairs = [("deck paint", "Exterior deck paint, 1 gal."), ("drill", "Cordless drill 18 V")]
    assert np.isfinite(model.predict(pairs)).all()
