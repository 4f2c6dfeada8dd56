"""Dataset → documents (text fields + vectors of each model) → backend index."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import pandas as pd

from .backends.base import Documents, IndexReport
from .context import Lab
from .errors import LabError
from .mapping import load_mapping, text_fields, vector_fields, with_model_fields
from .progress import ProgressFactory, silent

BASE_MODEL = "minilm"


def _column(products: pd.DataFrame, name: str) -> list[str | None]:
    if name not in products.columns:
        return [None] * len(products)
    return [None if (v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) or str(v).strip() == "")
            else str(v) for v in products[name].tolist()]


def vector_source_texts(products: pd.DataFrame, sources: list[str]) -> list[str | None]:
    """The text a vector field encodes: its source fields joined, None when all are empty."""
    columns = [_column(products, s) for s in sources]
    return [" ".join(v for v in values if v) or None for values in zip(*columns)]


def encode_field(lab: Lab, model: str, texts: list[str | None], progress: ProgressFactory,
                 label: str) -> np.ndarray:
    """Vectors for ``texts`` (cached); rows for missing texts are NaN (no value in the index)."""
    from .embeddings import encode_cached

    encoder = lab.encoder(model)
    present = [i for i, t in enumerate(texts) if t is not None]
    matrix = np.full((len(texts), encoder.dimension), np.nan, dtype=np.float32)
    if present:
        unique = list(dict.fromkeys(texts[i] for i in present))
        with progress(f"Encoding {label} ({model})", len(unique)) as advance:
            vectors = encode_cached(encoder, unique, lab.embedding_cache, progress=advance)
        row = {t: k for k, t in enumerate(unique)}
        matrix[present] = vectors[[row[texts[i]] for i in present]]
    return matrix


def model_vectors(lab: Lab, body: dict[str, Any], model: str, products: pd.DataFrame,
                  progress: ProgressFactory) -> dict[str, np.ndarray]:
    """Every vector field of ``model`` for ``products``."""
    return {field: encode_field(lab, model, vector_source_texts(products, sources), progress, field)
            for field, (_kind, sources) in vector_fields(body, model).items()}


def mapping_for(lab: Lab, models: Iterable[str]) -> dict[str, Any]:
    """The mapping file's body with vector fields for every requested model."""
    body = load_mapping(lab.mapping_path)
    for model in models:
        body = with_model_fields(body, model, lab.encoder(model).dimension)
    return body


def indexed_models(lab: Lab) -> list[str]:
    """Model keys whose vector fields the current index holds."""
    try:
        props = lab.backend.index_fields(lab.index_name)
    except LabError:
        return []
    meta = load_mapping(lab.mapping_path)
    kinds = vector_fields(meta, BASE_MODEL)
    models = []
    for field in props:
        for base_field in kinds:
            prefix = base_field[: -len(BASE_MODEL)]
            if field.startswith(prefix) and props[field].get("type") == "knn_vector":
                models.append(field[len(prefix):])
    return sorted(set(models), key=lambda m: (m != BASE_MODEL, m))


def build_index(lab: Lab, models: Iterable[str] = (BASE_MODEL,),
                progress: ProgressFactory | None = None) -> IndexReport:
    """(Re)build the dataset's index with its text fields and the vectors of ``models``."""
    progress = progress or silent()
    models = list(dict.fromkeys(models))
    products = lab.dataset.products
    body = mapping_for(lab, models)
    fields = {f: _column(products, f) for f in text_fields(body) if f in products.columns}
    vectors: dict[str, np.ndarray] = {}
    for model in models:
        vectors.update(model_vectors(lab, body, model, products, progress))
    docs = Documents([str(i) for i in products["product_id"]], fields, vectors)
    with progress(f"Indexing into {lab.backend.name}", len(docs)) as advance:
        report = lab.backend.build_index(lab.index_name, body, docs, progress=advance)
    _check_count(report, len(docs))
    return report


def add_model(lab: Lab, model: str, progress: ProgressFactory | None = None) -> IndexReport:
    """Add (or refresh) one model's vector fields on the existing index; nothing else is re-encoded."""
    progress = progress or silent()
    products = lab.dataset.products
    body = mapping_for(lab, [model])
    vectors = model_vectors(lab, body, model, products, progress)
    field_bodies = {f: body["mappings"]["properties"][f] for f in vectors}
    ids = [str(i) for i in products["product_id"]]
    with progress(f"Adding {model} vectors", len(ids)) as advance:
        report = lab.backend.put_vectors(lab.index_name, field_bodies, ids, vectors, progress=advance)
    _check_count(report, len(ids))
    return report


def _check_count(report: IndexReport, expected: int) -> None:
    if report.failed or report.indexed != expected:
        shown = "; ".join(f"{doc}: {why}" for doc, why in report.failed[:5])
        raise LabError(f"indexed {report.indexed} of {expected} documents, {len(report.failed)} failed"
                       + (f" ({shown}{' ...' if len(report.failed) > 5 else ''})" if shown else ""))
