"""The index body (``mappings/products.json``): loading it, deriving each model's vector fields, and the
product text each vector field reads (the one definition the indexer, fine-tuning and the map share).

``mappings._meta.relevance_lab`` says which text fields feed which vector kind (``vector_sources``), which
models the file declares (``models``) and which model's field definitions a new model key copies
(``model_template``). A model's fields are ``<kind>_<model key>``, e.g. ``title_vector_minilm``.
"""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import LabError

DEFAULT_MAPPING_PATH = Path(__file__).resolve().parent.parent / "mappings" / "products.json"
META_KEY = "relevance_lab"
TEXT_VECTOR_KIND = "text_vector"
"""The vector kind the model strategies search (all of a product's texts), which fine-tuning trains for."""
VECTOR_TYPE = "knn_vector"
MODEL_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def load_mapping(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check an index body; LabError naming the file (and line/column for bad JSON)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LabError(f"{path}: cannot read the mapping file ({exc.strerror or exc})") from None
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LabError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    try:
        check_mapping(body)
    except LabError as exc:
        raise LabError(f"{path}: {exc}") from None
    return body


def check_mapping(body: Any) -> None:
    """LabError naming the key path of the first problem in an index body and its relevance_lab metadata."""
    props = _properties(body)
    for name, field in props.items():
        if not isinstance(field, dict) or not isinstance(field.get("type"), str):
            raise LabError(f"mappings.properties.{name}: must be an object with a \"type\"")
    meta = _meta(body)
    where = f"mappings._meta.{META_KEY}"
    sources = meta.get("vector_sources")
    if not isinstance(sources, dict) or not sources:
        raise LabError(f"{where}.vector_sources: must map each vector kind to its source text fields")
    for kind, fields in sources.items():
        if not isinstance(fields, list) or not fields or not all(isinstance(f, str) for f in fields):
            raise LabError(f"{where}.vector_sources.{kind}: must be a non-empty array of field names")
        for field in fields:
            if field not in props or props[field]["type"] == VECTOR_TYPE:
                raise LabError(f"{where}.vector_sources.{kind}: '{field}' is not a text field of "
                               "mappings.properties")
    models = meta.get("models")
    if not isinstance(models, dict) or not models:
        raise LabError(f"{where}.models: must declare at least one model")
    for model, spec in models.items():
        _check_model_key(model)
        dimension = spec.get("dimension") if isinstance(spec, dict) else None
        if not isinstance(dimension, int) or isinstance(dimension, bool) or dimension <= 0:
            raise LabError(f"{where}.models.{model}.dimension: must be a positive integer")
        for kind in sources:
            name = f"{kind}_{model}"
            field = props.get(name)
            if field is None or field["type"] != VECTOR_TYPE:
                raise LabError(f"mappings.properties.{name}: model '{model}' needs a {VECTOR_TYPE} field here")
            if field.get("dimension") != dimension:
                raise LabError(f"mappings.properties.{name}.dimension: {field.get('dimension')} differs from "
                               f"{where}.models.{model}.dimension ({dimension})")
    template = meta.get("model_template")
    if template not in models:
        raise LabError(f"{where}.model_template: must name one of the models ({', '.join(models)})")


def vector_fields(body: dict[str, Any], model_key: str) -> dict[str, tuple[str, list[str]]]:
    """``{field: (vector kind, source text fields)}`` for one model's vector fields."""
    _check_model_key(model_key)
    props = _properties(body)
    fields = {}
    for kind, sources in _meta(body)["vector_sources"].items():
        name = f"{kind}_{model_key}"
        if name not in props:
            raise LabError(f"the mapping has no field '{name}' for model '{model_key}' "
                           "(add the model's fields with with_model_fields)")
        fields[name] = (kind, list(sources))
    return fields


def with_model_fields(body: dict[str, Any], model_key: str, dimension: int) -> dict[str, Any]:
    """A copy of ``body`` with the vector fields of ``model_key`` (copied from the template model's with
    ``dimension``); fields already there are kept, and must have that dimension."""
    _check_model_key(model_key)
    if not isinstance(dimension, int) or isinstance(dimension, bool) or dimension <= 0:
        raise LabError(f"model '{model_key}': vector dimension must be a positive integer, got {dimension!r}")
    body = copy.deepcopy(body)
    props = _properties(body)
    meta = _meta(body)
    template = meta["model_template"]
    for kind in meta["vector_sources"]:
        name = f"{kind}_{model_key}"
        if name in props:
            if props[name].get("dimension") != dimension:
                raise LabError(f"mapping field '{name}' has dimension {props[name].get('dimension')} but model "
                               f"'{model_key}' produces {dimension}-dimensional vectors")
            continue
        field = copy.deepcopy(props[f"{kind}_{template}"])
        field["dimension"] = dimension
        props[name] = field
    meta["models"].setdefault(model_key, {"description": f"fields copied from '{template}'",
                                          "dimension": dimension})
    return body


def vector_sources(body: dict[str, Any]) -> dict[str, list[str]]:
    """Each vector kind (``text_vector``, ``title_vector``...) and the product fields its text joins."""
    return {kind: list(fields) for kind, fields in _meta(body)["vector_sources"].items()}


def model_text_fields(path: str | os.PathLike[str] = DEFAULT_MAPPING_PATH) -> tuple[str, ...]:
    """The product fields whose joined text a model reads for ``text_vector`` in the mapping at ``path``."""
    return tuple(vector_sources(load_mapping(path))[TEXT_VECTOR_KIND])


def field_text(products: pd.DataFrame, name: str) -> list[str | None]:
    """A product column as index text: None where the product has no (non-blank) value or no such column."""
    if name not in products.columns:
        return [None] * len(products)
    return [None if (v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) or str(v).strip() == "")
            else str(v) for v in products[name].tolist()]


def source_texts(products: pd.DataFrame, sources: list[str]) -> list[str | None]:
    """The text a vector field encodes: its source fields joined with spaces, None when all are empty."""
    columns = [field_text(products, s) for s in sources]
    return [" ".join(v for v in values if v) or None for values in zip(*columns)]


def text_fields(body: dict[str, Any]) -> list[str]:
    """The fields filled from product columns (text and keyword), in mapping order."""
    return [name for name, field in _properties(body).items() if field.get("type") != VECTOR_TYPE]


def _properties(body: Any) -> dict[str, Any]:
    mappings = body.get("mappings") if isinstance(body, dict) else None
    props = mappings.get("properties") if isinstance(mappings, dict) else None
    if not isinstance(props, dict):
        raise LabError("mappings.properties: the index body must have a mappings.properties object")
    return props


def _meta(body: dict[str, Any]) -> dict[str, Any]:
    meta = body["mappings"].get("_meta", {})
    lab_meta = meta.get(META_KEY) if isinstance(meta, dict) else None
    if not isinstance(lab_meta, dict):
        raise LabError(f"mappings._meta.{META_KEY}: missing; it says which text fields feed which vector field")
    return lab_meta


def _check_model_key(model_key: str) -> None:
    if not isinstance(model_key, str) or not MODEL_KEY.fullmatch(model_key):
        raise LabError(f"model key {model_key!r} cannot name index fields: use letters, digits, '_' or '-'")
