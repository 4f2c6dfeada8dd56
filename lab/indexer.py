"""Dataset → documents (text fields + vectors of each model) → backend index."""

from __future__ import annotations

from dataclasses import dataclass

from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from .adapters import parse_adapter_key
from .backends.base import Documents, IndexReport
from .context import Lab
from .embeddings.encode_timing import EncodeTally, TimedEncoder
from .errors import LabError
from .mapping import META_KEY, field_text, load_mapping, source_texts, text_fields, vector_fields, with_model_fields
from .progress import ProgressFactory, silent
from .workspace import read_json, workspace_path, write_json

BASE_MODEL = "minilm"


def encode_field(lab: Lab, model: str, texts: list[str | None], progress: ProgressFactory,
                 label: str, tally: EncodeTally | None = None) -> np.ndarray:
    """Vectors for ``texts`` (cached); rows for missing texts are NaN (no value in the index).
    ``tally`` counts the distinct texts, those encoded (not cached) and the encoding seconds."""
    from .embeddings import encode_cached

    encoder = lab.encoder(model)
    present = [i for i, t in enumerate(texts) if t is not None]
    matrix = np.full((len(texts), encoder.dimension), np.nan, dtype=np.float32)
    if present:
        unique = list(dict.fromkeys(texts[i] for i in present))
        if tally is not None:
            tally.texts.extend(unique)
            encoder = TimedEncoder(encoder, tally)
        with progress(f"Encoding {label} ({model})", len(unique)) as advance:
            vectors = encode_cached(encoder, unique, lab.embedding_cache, progress=advance)
        row = {t: k for k, t in enumerate(unique)}
        matrix[present] = vectors[[row[texts[i]] for i in present]]
    return matrix


def model_vectors(lab: Lab, body: dict[str, Any], model: str, products: pd.DataFrame,
                  progress: ProgressFactory, tally: EncodeTally | None = None) -> dict[str, np.ndarray]:
    """Every vector field of ``model`` for ``products``."""
    return {field: encode_field(lab, model, source_texts(products, sources), progress, field, tally)
            for field, (_kind, sources) in vector_fields(body, model).items()}


def refuse_adapters(models: Iterable[str]) -> None:
    """A query-side adapter has no document vectors: indexing it is refused with what to do instead."""
    for model in models:
        parsed = parse_adapter_key(model)
        if parsed:
            raise LabError(f"'{model}' is a query-side adapter: adapters need no re-indexing, the index keeps "
                           f"the '{parsed[0]}' vectors (`lab index --model {parsed[0]}`); run it with "
                           f"`lab run --strategy vectorsearch_adapter --param adapter={parsed[1]}`")


def mapping_for(lab: Lab, models: Iterable[str]) -> dict[str, Any]:
    """The mapping file's body with vector fields for exactly the requested models."""
    models = list(models)
    body = load_mapping(lab.mapping_path)
    declared = list(body["mappings"]["_meta"][META_KEY]["models"])
    for model in models:  # before any declared model's fields go: a new model's are copied from the template's
        body = with_model_fields(body, model, lab.encoder(model).dimension)
    for other in declared:
        if other not in models:
            for field in vector_fields(body, other):
                del body["mappings"]["properties"][field]
    return body


def _state_path(lab: Lab) -> Path:
    path = workspace_path(lab.workspace, "index-state", lab.backend.name, lab.index_name, option="index name")
    return path.with_name(f"{path.name}.json")


def indexed_models(lab: Lab) -> dict[str, str]:
    """Model key → fingerprint of the model whose vectors the current index holds."""
    path = _state_path(lab)
    if not path.exists():
        return {}
    try:
        props = lab.backend.index_fields(lab.index_name)
    except LabError:
        return {}
    state = read_json(path)
    return {m: fp for m, fp in state["models"].items() if any(f.endswith(f"_{m}") for f in props)}


def encode_records(lab: Lab) -> dict[str, dict[str, Any]]:
    """Model key → how encoding its catalogue went when it was last indexed (see EncodeTally.record)."""
    path = _state_path(lab)
    return read_json(path).get("encode", {}) if path.exists() else {}


def _record_models(lab: Lab, models: dict[str, str], replace: bool, encodes: dict[str, dict[str, Any]]) -> None:
    current = {} if replace else indexed_models(lab)
    kept = {m: r for m, r in encode_records(lab).items() if m in current}
    write_json(_state_path(lab), {"index": lab.index_name, "models": {**current, **models},
                                  "encode": {**kept, **encodes}})


def _encode_model(lab: Lab, body: dict[str, Any], model: str, products: pd.DataFrame, progress: ProgressFactory,
                  previous: dict[str, dict[str, Any]]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The model's vector fields and the record of how long encoding them took."""
    tally = EncodeTally()
    vectors = model_vectors(lab, body, model, products, progress, tally)
    return vectors, tally.record(lab.encoder(model), previous.get(model))


def build_index(lab: Lab, models: Iterable[str] = (BASE_MODEL,),
                progress: ProgressFactory | None = None) -> IndexReport:
    """(Re)build the dataset's index with its text fields and the vectors of ``models``."""
    progress = progress or silent()
    models = list(dict.fromkeys(models))
    refuse_adapters(models)
    products = lab.dataset.products
    body = mapping_for(lab, models)
    fields = {f: field_text(products, f) for f in text_fields(body) if f in products.columns}
    vectors: dict[str, np.ndarray] = {}
    previous, encodes = encode_records(lab), {}
    for model in models:
        model_fields, encodes[model] = _encode_model(lab, body, model, products, progress, previous)
        vectors.update(model_fields)
    docs = Documents([str(i) for i in products["product_id"]], fields, vectors)
    with progress(f"Indexing into {lab.backend.name}", len(docs)) as advance:
        report = lab.backend.build_index(lab.index_name, body, docs, progress=advance)
    _check_count(report, len(docs))
    _record_models(lab, {m: lab.encoder(m).fingerprint for m in models}, replace=True, encodes=encodes)
    return report


def add_model(lab: Lab, model: str, progress: ProgressFactory | None = None) -> IndexReport:
    """Add (or refresh) one model's vector fields on the existing index; nothing else is re-encoded."""
    progress = progress or silent()
    refuse_adapters([model])
    products = lab.dataset.products
    body = mapping_for(lab, [model])
    vectors, record = _encode_model(lab, body, model, products, progress, encode_records(lab))
    field_bodies = {f: body["mappings"]["properties"][f] for f in vectors}
    ids = [str(i) for i in products["product_id"]]
    with progress(f"Adding {model} vectors", len(ids)) as advance:
        report = lab.backend.put_vectors(lab.index_name, field_bodies, ids, vectors, progress=advance)
    _check_count(report, len(ids))
    _record_models(lab, {model: lab.encoder(model).fingerprint}, replace=False, encodes={model: record})
    return report


@dataclass(frozen=True)
class IndexUpdate:
    """What :func:`update_index` did: the models it encoded, one report per call, and whether it added them to
    the existing index (True) or rebuilt the index (False)."""

    models: list[str]
    reports: list[IndexReport]
    added: bool


def update_index(lab: Lab, models: Iterable[str] = (), rebuild: bool = False,
                 progress: ProgressFactory | None = None) -> IndexUpdate:
    """`lab index`: add ``models`` to an existing index in place; else (no index yet, no models named, or
    ``rebuild``) build it whole with the base model, every model it held, and ``models``."""
    models = list(models)
    present = indexed_models(lab)
    if present and models and not rebuild:
        return IndexUpdate(models, [add_model(lab, m, progress) for m in models], added=True)
    wanted = list(dict.fromkeys([BASE_MODEL, *present, *models]))
    return IndexUpdate(wanted, [build_index(lab, wanted, progress)], added=False)


def _check_count(report: IndexReport, expected: int) -> None:
    if report.failed or report.indexed != expected:
        shown = "; ".join(f"{doc}: {why}" for doc, why in report.failed[:5])
        raise LabError(f"indexed {report.indexed} of {expected} documents, {len(report.failed)} failed"
                       + (f" ({shown}{' ...' if len(report.failed) > 5 else ''})" if shown else ""))
