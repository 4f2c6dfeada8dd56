"""The shipped index body and the helpers that derive each model's vector fields from it."""

from __future__ import annotations

import copy
import json
from types import SimpleNamespace

import pytest

from lab.context import default_mapping_path
from lab.errors import LabError
from lab.indexer import mapping_for
from lab.mapping import check_mapping, load_mapping, text_fields, vector_fields, with_model_fields
from opensearch_spec import requires_spec, spec_errors

KINDS = ("title_vector", "text_vector", "description_vector", "attributes_vector")


@pytest.fixture(scope="module")
def body() -> dict:
    return load_mapping(default_mapping_path())


def test_settings_are_one_shard_knn_bm25(body):
    index = body["settings"]["index"]
    assert index["knn"] is True and index["number_of_shards"] == 1 and index["number_of_replicas"] == 0
    assert index["similarity"]["default"]["type"] == "BM25"


def test_text_fields_use_the_english_analyzer_and_ids_are_keywords(body):
    props = body["mappings"]["properties"]
    assert text_fields(body) == ["product_id", "product_title", "product_description", "attributes", "brand"]
    assert {props[f]["analyzer"] for f in ("product_title", "product_description", "attributes")} == {"english"}
    assert props["product_id"]["type"] == props["brand"]["type"] == "keyword"


@pytest.mark.parametrize("model", ["minilm", "finetuned"])
def test_each_model_has_four_lucene_hnsw_cosine_fields(body, model):
    fields = vector_fields(body, model)
    assert list(fields) == [f"{kind}_{model}" for kind in KINDS]
    assert fields[f"text_vector_{model}"] == ("text_vector", ["product_title", "product_description", "attributes"])
    assert fields[f"title_vector_{model}"] == ("title_vector", ["product_title"])
    for name in fields:
        field = body["mappings"]["properties"][name]
        assert field["type"] == "knn_vector" and field["dimension"] == 384
        assert field["method"] == {"name": "hnsw", "engine": "lucene", "space_type": "cosinesimil",
                                   "parameters": {"m": 16, "ef_construction": 100}}


@requires_spec
def test_mapping_is_a_valid_indices_create_body(body):
    assert spec_errors("indices", "indices.create", body) == []
    broken = copy.deepcopy(body)
    broken["mappings"]["properties"]["title_vector_minilm"]["dimension"] = "384"
    assert spec_errors("indices", "indices.create", broken)


def test_with_model_fields_copies_the_template_model(body):
    grown = with_model_fields(body, "ft-2024_07", 768)
    props = grown["mappings"]["properties"]
    for kind in KINDS:
        assert props[f"{kind}_ft-2024_07"] == {**props[f"{kind}_finetuned"], "dimension": 768}
    assert grown["mappings"]["_meta"]["relevance_lab"]["models"]["ft-2024_07"]["dimension"] == 768
    assert "title_vector_ft-2024_07" not in body["mappings"]["properties"]  # the input is not modified
    assert vector_fields(grown, "ft-2024_07")["attributes_vector_ft-2024_07"] == ("attributes_vector",
                                                                                  ["attributes"])
    check_mapping(grown)


def test_with_model_fields_keeps_existing_fields_and_checks_their_dimension(body):
    assert with_model_fields(body, "minilm", 384) == body
    with pytest.raises(LabError, match="field 'title_vector_minilm' has dimension 384 but model 'minilm' "
                                       "produces 768-dimensional vectors"):
        with_model_fields(body, "minilm", 768)


@pytest.mark.parametrize("models", [["ft-mpnet"], ["minilm", "ft-mpnet"], ["finetuned"]])
def test_the_index_body_holds_exactly_the_requested_models_fields(models):
    """A new fine-tuned model's fields are copied from the template model's even when the template model itself
    is not indexed (``lab index --model ft-mpnet`` once failed with KeyError 'title_vector_finetuned')."""
    dimensions = {"minilm": 384, "finetuned": 384, "ft-mpnet": 768}
    lab = SimpleNamespace(mapping_path=default_mapping_path(),
                          encoder=lambda key: SimpleNamespace(dimension=dimensions[key]))
    props = mapping_for(lab, models)["mappings"]["properties"]
    vectors = {name: field["dimension"] for name, field in props.items() if field["type"] == "knn_vector"}
    assert vectors == {f"{kind}_{model}": dimensions[model] for model in models for kind in KINDS}


@pytest.mark.parametrize("key", ["models/ft", "a.b", "", "-x"])
def test_model_keys_must_make_valid_field_names(body, key):
    with pytest.raises(LabError, match="cannot name index fields"):
        with_model_fields(body, key, 384)


def test_vector_fields_of_an_unknown_model_say_how_to_add_them(body):
    with pytest.raises(LabError, match="no field 'title_vector_other' for model 'other'.*with_model_fields"):
        vector_fields(body, "other")


def test_bad_json_names_file_line_and_column(tmp_path):
    path = tmp_path / "products.json"
    path.write_text('{\n  "mappings": {,}\n}\n')
    with pytest.raises(LabError, match=rf"^{path}:2:16: invalid JSON: Expecting property name"):
        load_mapping(path)
    with pytest.raises(LabError, match=rf"^{tmp_path / 'missing.json'}: cannot read the mapping file"):
        load_mapping(tmp_path / "missing.json")


@pytest.mark.parametrize("edit, message", [
    (lambda b: b["mappings"].pop("_meta"), "mappings._meta.relevance_lab: missing"),
    (lambda b: b["mappings"]["_meta"]["relevance_lab"]["vector_sources"].update(title_vector=["title"]),
     "vector_sources.title_vector: 'title' is not a text field"),
    (lambda b: b["mappings"]["properties"].pop("text_vector_finetuned"),
     "mappings.properties.text_vector_finetuned: model 'finetuned' needs a knn_vector field here"),
    (lambda b: b["mappings"]["_meta"]["relevance_lab"]["models"]["minilm"].update(dimension=768),
     "title_vector_minilm.dimension: 384 differs from"),
    (lambda b: b["mappings"]["_meta"]["relevance_lab"].update(model_template="mpnet"),
     "model_template: must name one of the models (minilm, finetuned)"),
    (lambda b: b.pop("mappings"), "the index body must have a mappings.properties object"),
])
def test_metadata_errors_name_the_file_and_key(tmp_path, body, edit, message):
    broken = copy.deepcopy(body)
    edit(broken)
    path = tmp_path / "products.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(LabError) as info:
        load_mapping(path)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)
