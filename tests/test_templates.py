"""Strategy templates: the shipped strategies, rendering by walking JSON, overrides and every error case."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from lab.context import default_mapping_path, default_queries_dir
from lab.engine.pipelines import parse_pipeline, split_response_processors
from lab.errors import TemplateError
from lab.mapping import load_mapping
from lab.templates import Template, load_template, load_templates, parse_param_overrides
from opensearch_spec import requires_spec, spec_errors

TRICKY_QUERY = 'drill "18v" \\ bit {{size}} }} {"a": 1}'
VECTOR = [0.25, -0.5, 1.0]
STRATEGIES = {"textsearch", "textsearch_boosted", "vectorsearch", "vectorsearch_multifield",
              "vectorsearch_multifield_boosted", "hybrid", "hybrid_boosted", "rrf", "rrf_multi",
              "vectorsearch_finetune", "rrf_finetune", "hybrid_minmax", "vectorsearch_adapter", "rrf_adapter",
              "ltr_textsearch_boosted", "ltr_finetune", "rerank_cross_encoder", "rrf_finetune_rerank"}


@pytest.fixture(scope="module")
def templates() -> dict[str, Template]:
    return load_templates(default_queries_dir())


def render(template: Template, **overrides):
    values = {**template.resolve_params(overrides), "query_text": TRICKY_QUERY, "size": 100}
    if "query_vector" in template.placeholders:
        values["query_vector"] = VECTOR
    return template.render(values)


def walk(node, path=""):
    """(path, key, value) of every object member."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, key, value
            yield from walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from walk(item, f"{path}[{i}]")


def write(tmp_path: Path, data, name: str = "strategy") -> Path:
    path = tmp_path / f"{name}.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data, indent=2))
    return path


MINIMAL = {"description": "d", "params": {"boost": 2}, "body": {
    "size": "{{size}}", "query": {"match": {"product_title": {"query": "{{query_text}}", "boost": "{{boost}}"}}}}}


# --- the shipped strategies ----------------------------------------------------------------------

def test_every_strategy_of_the_study_is_shipped(templates):
    assert set(templates) == STRATEGIES
    for name, template in templates.items():
        assert template.name == name and template.description
        assert template.sha256 == hashlib.sha256(template.path.read_bytes()).hexdigest()


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_strategy_renders_a_tricky_query_verbatim_with_typed_values(templates, name):
    template = templates[name]
    body, pipeline = render(template)
    assert body["size"] == 100
    texts = [value["query"] for _, key, value in walk(body) if key == "match"
             for value in value.values()]
    if name.startswith(("text", "hybrid", "rrf", "ltr", "rerank")):
        assert texts and set(texts) == {TRICKY_QUERY}
    else:
        assert texts == []
    vectors = [spec for _, key, knn in walk(body) if key == "knn" for spec in knn.values()]
    for spec in vectors:
        assert spec["vector"] == VECTOR and isinstance(spec["k"], int)
    for _, key, value in walk(body):
        if key == "boost":
            assert isinstance(value, (int, float)) and not isinstance(value, bool)
    assert json.loads(json.dumps(body)) == body
    assert (pipeline is not None) == (name in {"rrf", "rrf_multi", "rrf_finetune", "rrf_adapter", "hybrid_minmax",
                                               "rerank_cross_encoder", "rrf_finetune_rerank"})
    fusion, rerank = split_response_processors(pipeline)
    assert (rerank is not None) == ("rerank" in name)
    if rerank is not None:  # OpenSearch's rerank processor reads the query text from the body's ext
        assert body["ext"]["rerank"] == {"query_context": {"query_text": TRICKY_QUERY}, "window": 50,
                                         "first_stage_weight": 0.2}
        assert (rerank.model_id, rerank.document_fields) == ("cross-encoder", ("product_title",))
    if fusion is not None:
        parse_pipeline(fusion)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_strategy_fields_exist_in_the_mapping(templates, name):
    props = load_mapping(default_mapping_path())["mappings"]["properties"]
    body, _ = render(templates[name])
    fields = [field for _, key, value in walk(body) if key in ("knn", "match") for field in value]
    assert fields and all(field in props for field in fields), fields


@requires_spec
@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_strategy_is_valid_opensearch_dsl(templates, name):
    body, pipeline = render(templates[name])
    assert spec_errors("_core", "search", body) == []
    if pipeline is not None:
        assert spec_errors("search_pipeline", "search_pipeline.put", pipeline) == []


def boosts(body) -> dict[str, float]:
    return {field: spec["boost"] for _, key, value in walk(body) if key in ("match", "knn")
            for field, spec in value.items() if "boost" in spec}


def test_tuned_values_of_the_study(templates):
    assert boosts(render(templates["textsearch"])[0]) == {
        "product_title": 1, "product_description": 1, "attributes": 1}
    assert boosts(render(templates["textsearch_boosted"])[0]) == {
        "product_title": 8, "product_description": 2, "attributes": 1}
    assert boosts(render(templates["vectorsearch_multifield_boosted"])[0]) == {
        "title_vector_minilm": 8, "description_vector_minilm": 4, "attributes_vector_minilm": 1}
    assert boosts(render(templates["hybrid"])[0])["text_vector_minilm"] == 1
    assert boosts(render(templates["hybrid_boosted"])[0]) == {
        "product_title": 8, "product_description": 2, "attributes": 1, "text_vector_minilm": 50}
    body, pipeline = render(templates["rrf"])
    hybrid = body["query"]["hybrid"]
    assert hybrid["pagination_depth"] == 50 and hybrid["queries"][1]["knn"]["text_vector_minilm"]["k"] == 50
    assert pipeline["phase_results_processors"][0]["score-ranker-processor"]["combination"] == {
        "technique": "rrf", "rank_constant": 60}
    multi = render(templates["rrf_multi"])[0]["query"]["hybrid"]["queries"]
    assert [next(iter(q["knn"])) for q in multi[1:]] == [
        "title_vector_minilm", "description_vector_minilm", "attributes_vector_minilm"]
    _, minmax = render(templates["hybrid_minmax"])
    processor = minmax["phase_results_processors"][0]["normalization-processor"]
    assert processor["normalization"] == {"technique": "min_max"}
    assert processor["combination"]["parameters"]["weights"] == [0.3, 0.7]


def test_finetune_strategies_use_the_finetuned_model(templates):
    for name in ("vectorsearch_finetune", "rrf_finetune"):
        assert templates[name].models() == ["finetuned"]
        assert "text_vector_finetuned" in json.dumps(render(templates[name])[0])
    assert templates["textsearch"].models() == []


def test_adapter_strategies_search_the_base_vectors_with_adapted_queries(templates):
    for name, like in (("vectorsearch_adapter", "vectorsearch"), ("rrf_adapter", "rrf")):
        assert templates[name].models() == ["minilm+adapter:adapter"]
        assert templates[name].models({"base": "minilm", "adapter": "x"}) == ["minilm+adapter:x"]
        assert render(templates[name])[0] == render(templates[like])[0]  # the same query on the same field
    assert templates["rrf_multi"].models() == ["minilm"]


def test_overrides_change_models_fields_and_typed_values(templates):
    template = templates["vectorsearch_multifield_boosted"]
    overrides = parse_param_overrides(["model=ft-home", "title_boost=2.5", "k=20"])
    assert overrides == {"model": "ft-home", "title_boost": 2.5, "k": 20}
    assert template.models(overrides) == ["ft-home"]
    body, _ = render(template, **overrides)
    assert boosts(body)["title_vector_ft-home"] == 2.5
    assert body["query"]["bool"]["should"][0]["knn"]["title_vector_ft-home"]["k"] == 20
    _, pipeline = render(templates["hybrid_minmax"], **parse_param_overrides(["weights=[0.4, 0.6]"]))
    assert pipeline["phase_results_processors"][0]["normalization-processor"]["combination"]["parameters"] == {
        "weights": [0.4, 0.6]}


def test_rendering_copies_values_and_leaves_the_template_unchanged(templates):
    template = templates["rrf_multi"]
    before = json.dumps(template.body)
    body, _ = render(template)
    first = body["query"]["hybrid"]["queries"][1]["knn"]["title_vector_minilm"]["vector"]
    first.append(9.0)
    assert VECTOR == [0.25, -0.5, 1.0] and json.dumps(template.body) == before


# --- overrides -----------------------------------------------------------------------------------

def test_parse_param_overrides_reads_json_else_strings():
    assert parse_param_overrides(["a=1", "b=true", "c=[1, 2]", "d=minilm", "e=x=y", "f=", 'g="7"']) == {
        "a": 1, "b": True, "c": [1, 2], "d": "minilm", "e": "x=y", "f": "", "g": "7"}


@pytest.mark.parametrize("item", ["title_boost", "=3", "2x=1", "a b=1"])
def test_parse_param_overrides_rejects_malformed_items(item):
    with pytest.raises(TemplateError, match="expected name=value"):
        parse_param_overrides([item])


def test_unknown_and_mistyped_params_are_errors(tmp_path):
    template = load_template(write(tmp_path, MINIMAL))
    with pytest.raises(TemplateError, match=r"strategy\.json: unknown param 'bost' \(did you mean 'boost'\?\) \(params: boost\)"):
        template.resolve_params({"bost": 3})
    with pytest.raises(TemplateError, match="unknown param 'bost'"):
        template.render({"boost": 2, "bost": 3, "query_text": "q", "size": 10})
    with pytest.raises(TemplateError, match=r'params\.boost: expected a number like the default 2, got a string "x"'):
        template.render({"boost": "x", "query_text": "q", "size": 10})


# --- errors --------------------------------------------------------------------------------------

def test_invalid_json_names_line_and_column(tmp_path):
    path = write(tmp_path, '{\n  "body": {"size": 10,}\n}\n')
    with pytest.raises(TemplateError, match=rf"^{path}:2:23: invalid JSON: Expecting property name"):
        load_template(path)


def with_(**changes):
    return {**MINIMAL, **changes}


@pytest.mark.parametrize("data, message", [
    ([], "must be a JSON object with description, params, requires, body, pipeline"),
    ({k: v for k, v in MINIMAL.items() if k != "body"}, "body: missing"),
    (with_(body=[1]), "body: must be a JSON object (an OpenSearch search request body)"),
    (with_(pipeline="rrf"), "pipeline: must be a JSON object"),
    (with_(extra=1), "extra: unknown key"),
    (with_(params=[1]), "params: must be an object"),
    (with_(params={"boost": 2, "size": 5}), "params.size: 'size' is a built-in placeholder"),
    (with_(params={"boost": 2, "unused": 1}), "params.unused: declared but never used as {{unused}}"),
    (with_(requires={"model": "minilm"}), "requires.model: unknown key (expected models)"),
    (with_(body={"query": {"bool": {"should": [{"match": {"f": {"query": "{{query_text}}",
                                                              "boost": "{{titel_boost}}"}}}]}}}),
     "body.query.bool.should[0].match.f.boost: unknown placeholder {{titel_boost}} (known: boost, query_text, "
     "query_vector, size)"),
    (with_(body={"query": {"knn": {"v": {"vector": "{{query_vector}}", "k": "{{boost}}"}}}}),
     "requires.models: the body uses {{query_vector}} but names no model"),
    (with_(requires={"models": ["{{query_text}}"]}), "requires.models[0]: unknown placeholder {{query_text}}"),
])
def test_load_errors_name_the_file_and_key_path(tmp_path, data, message):
    path = write(tmp_path, data)
    with pytest.raises(TemplateError) as info:
        load_template(path)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)


def test_render_errors_name_the_key_path(tmp_path):
    knn = {"vector": "{{query_vector}}", "k": 5}
    template = load_template(write(tmp_path, with_(
        params={"model": "minilm", "boost": 2}, requires={"models": ["{{model}}"]},
        body={"query": {"bool": {"should": [{"knn": {"v_{{model}}": knn}},
                                            {"match": {"f": {"query": "{{query_text}} {{query_vector}}",
                                                             "boost": "{{boost}}"}}}]}}})))
    with pytest.raises(TemplateError, match=r"body\.query\.bool\.should\[0\]\.knn\.v_\{\{model\}\}\.vector: "
                                            r"no value for \{\{query_vector\}\}"):
        template.render({"model": "minilm", "boost": 2, "query_text": "q"})
    with pytest.raises(TemplateError, match=r"should\[1\]\.match\.f\.query: \{\{query_vector\}\} is an array and "
                                            "cannot be part of a longer string"):
        template.render({"model": "minilm", "boost": 2, "query_text": "q", "query_vector": [1.0]})


def test_keys_that_render_alike_are_an_error(tmp_path):
    template = load_template(write(tmp_path, with_(
        params={"a": "x", "boost": 1},
        body={"query": {"match": {"{{a}}": {"query": "{{query_text}}", "boost": "{{boost}}"}, "x": {}}}})))
    with pytest.raises(TemplateError, match=r"body\.query\.match\.x: renders to the key 'x'"):
        template.render({"a": "x", "boost": 1, "query_text": "q"})


def test_text_substitution_of_numbers_and_booleans(tmp_path):
    template = load_template(write(tmp_path, with_(
        params={"boost": 2, "flag": True, "weight": 0.5},
        body={"query": {"match": {"f": {"query": "{{query_text}}", "boost": "{{boost}}",
                                        "_name": "b{{boost}}-{{flag}}-{{weight}}"}}}})))
    body, pipeline = template.render({**template.params, "query_text": "q"})
    assert body["query"]["match"]["f"]["_name"] == "b2-true-0.5" and pipeline is None


def test_directory_and_name_errors(tmp_path):
    with pytest.raises(TemplateError, match="no such strategy directory"):
        load_templates(tmp_path / "missing")
    with pytest.raises(TemplateError, match="a strategy name uses letters, digits"):
        load_template(write(tmp_path, MINIMAL, name="my strategy"))
    strategies = tmp_path / "strategies"
    strategies.mkdir()
    write(strategies, MINIMAL, name="two")
    write(strategies, MINIMAL, name="one")
    (strategies / "notes.txt").write_text("not a template")
    assert list(load_templates(strategies)) == ["one", "two"]


def nested(depth: int) -> str:
    return '{"body": {"query": ' + '{"bool": ' * depth + "{}" + "}" * depth + "}}"


@pytest.mark.parametrize("depth", [10_000, 63])
def test_deeply_nested_template_is_one_error_naming_the_file(tmp_path, depth):
    path = write(tmp_path, nested(depth))
    with pytest.raises(TemplateError, match=rf"{path}: nested more than 64 levels deep"):
        load_template(path)
    assert load_template(write(tmp_path, nested(61))).body


def test_oversized_template_is_refused_before_parsing(tmp_path):
    path = write(tmp_path, with_(description="x" * (1 << 20)))
    with pytest.raises(TemplateError, match=rf"{path}: larger than 1024 KiB"):
        load_template(path)


def test_manifest_entry_names_the_template_without_copying_it(tmp_path):
    template = load_template(write(tmp_path, with_(description="long " * 100_000)))
    entry = template.manifest_entry({"boost": 3})
    assert entry["sha256"] == template.sha256 and entry["path"] == str(template.path)
    assert entry["params"] == {"boost": 3} and "body" not in entry
    assert len(json.dumps(entry)) < 1_000 and entry["description"].endswith("…")
