"""What the OpenSearch backend writes: the index body, bulk actions and versioned index names."""

from __future__ import annotations

import copy
import json
import re
from typing import Any, Iterator

import numpy as np

from ..errors import DataError, LabError
from .base import Documents
from .opensearch_client import Version

INVALID_INDEX_CHARS = set('\\/*?"<>| ,#:')
DEFAULT_REFRESH_INTERVAL = "1s"
MODERN_BM25 = Version(3, 0)
"""OpenSearch 3.0 made ``BM25`` Lucene's BM25 and added ``LegacyBM25``; before, ``BM25`` is the legacy form."""
LEGACY_BUILTIN = "BM25_legacy"
"""The similarity the embedded engine declares for fields that name the built-in ``BM25`` of a 2.x cluster."""


def check_index_name(name: str, product: str) -> None:
    """Refuse names that ``product`` (OpenSearch, Elasticsearch: the same rules) would reject, before any request
    is sent."""
    if (not name or name != name.lower() or name[0] in "-_+" or name in (".", "..")
            or INVALID_INDEX_CHARS & set(name) or len(name.encode("utf-8")) > 200):
        raise LabError(f"'{name}' cannot be an {product} index name (lowercase letters, digits, '-', '_', '.'; "
                       "not starting with '-', '_' or '+'): import the dataset under another --name")


def versioned_name(alias: str, version: int) -> str:
    """The concrete index behind ``alias``: ``products-v3``."""
    return f"{alias}-v{version}"


def version_of(alias: str, index: str) -> int | None:
    """The version number of a concrete index named by :func:`versioned_name`, else None."""
    match = re.fullmatch(re.escape(alias) + r"-v(\d+)", index)
    return int(match[1]) if match else None


def _find_setting(settings: dict[str, Any], name: str) -> tuple[dict[str, Any], str] | None:
    """Where ``index.<name>`` is written in ``settings``: nested, short or flat form."""
    nested = settings.get("index")
    if isinstance(nested, dict) and name in nested:
        return nested, name
    for key in (name, f"index.{name}"):
        if key in settings:
            return settings, key
    return None


def _set_setting(settings: dict[str, Any], name: str, value: Any, *, overwrite: bool = True) -> None:
    found = _find_setting(settings, name)
    if found is None:
        settings.setdefault("index", {})[name] = value
    elif overwrite:
        found[0][found[1]] = value


def get_setting(body: dict[str, Any], name: str) -> Any:
    """The value of ``index.<name>`` in an index body, or None."""
    found = _find_setting(body.get("settings") or {}, name)
    return found[0][found[1]] if found else None


def _similarity_types(settings: dict[str, Any], prefix: str = "") -> Iterator[tuple[dict[str, Any], str, str]]:
    """(object, key, similarity name) of every ``similarity.<name>.type`` setting, nested, short or flat."""
    for key, value in settings.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _similarity_types(value, f"{path}.")
        elif match := re.fullmatch(r"(?:index\.)?similarity\.([^.]+)\.type", path):
            yield settings, key, match[1]


def _field_bodies(properties: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every field body under ``properties``, objects' and multi-fields' included."""
    for field in properties.values():
        if isinstance(field, dict):
            yield field
            yield from _field_bodies(field.get("properties") or {})
            yield from _field_bodies(field.get("fields") or {})


POSITION_FIELD = "lab_position"
"""Each product's position in the catalogue. The cluster's index is sorted on it, so Lucene's document ids,
and with them the order of equal scores, follow the catalogue as in the embedded engine, whatever order
the bulk write threads and the force-merge (which merges segments largest first) would leave."""


def _sortable(body: dict[str, Any]) -> bool:
    """Whether the lab may sort the index on :data:`POSITION_FIELD`: the body sorts on nothing itself and
    every vector field uses the lucene engine (k-NN's native engines do not support index sorting)."""
    properties = (body.get("mappings") or {}).get("properties") or {}
    vectors = [p for p in properties.values() if isinstance(p, dict) and p.get("type") == "knn_vector"]
    return (get_setting(body, "sort.field") is None and POSITION_FIELD not in properties
            and all((v.get("method") or {}).get("engine") == "lucene" for v in vectors))


def is_position_sorted(body: dict[str, Any]) -> bool:
    """Whether ``body`` (as sent by :func:`cluster_index_body`) sorts the index on :data:`POSITION_FIELD`."""
    return get_setting(body, "sort.field") == POSITION_FIELD


def cluster_index_body(body: dict[str, Any], shards: int, version: Version) -> dict[str, Any]:
    """The lab's index body as sent to OpenSearch ``version``.

    ``shards`` primary shards (BM25 statistics are per shard, so one shard matches the embedded
    engine); no replicas unless the body asks for them; ``index.knn`` on when there are vector fields
    (approximate k-NN needs it); refresh off while loading (:func:`loaded_settings` restores it);
    sorted on :data:`POSITION_FIELD` where it can be, so equal scores come in the catalogue's order.
    Before 3.0 a ``LegacyBM25`` similarity is sent as ``BM25``, which is the legacy form there.
    """
    out = copy.deepcopy(body)
    settings = out.setdefault("settings", {})
    if _sortable(body):
        out.setdefault("mappings", {}).setdefault("properties", {})[POSITION_FIELD] = {"type": "integer"}
        _set_setting(settings, "sort.field", POSITION_FIELD)
        _set_setting(settings, "sort.order", "asc")
    if version < MODERN_BM25:
        for node, key, _name in _similarity_types(settings):
            if node[key] == "LegacyBM25":
                node[key] = "BM25"
    _set_setting(settings, "number_of_shards", shards)
    _set_setting(settings, "number_of_replicas", 0, overwrite=False)
    properties = (out.get("mappings") or {}).get("properties") or {}
    if any(p.get("type") == "knn_vector" for p in properties.values()):
        _set_setting(settings, "knn", True, overwrite=False)
    _set_setting(settings, "refresh_interval", "-1")
    return out


def embedded_index_body(body: dict[str, Any], version: Version) -> dict[str, Any]:
    """``body`` for the embedded engine to score as OpenSearch ``version`` does (a copy).

    Before 3.0 every ``BM25`` there is Lucene's legacy form (scores × (1 + k1)), the engine's
    ``LegacyBM25``: similarities of type ``BM25``, the default similarity and the built-in ``BM25``.
    """
    out = copy.deepcopy(body)
    if version >= MODERN_BM25:
        return out
    settings = out.setdefault("settings", {})
    declared = set()
    for node, key, name in _similarity_types(settings):
        declared.add(name)
        if node[key] == "BM25":
            node[key] = "LegacyBM25"
    legacy = {"default"} - declared
    for field in _field_bodies((out.get("mappings") or {}).get("properties") or {}):
        if field.get("similarity") == "BM25":
            field["similarity"] = LEGACY_BUILTIN
            legacy.add(LEGACY_BUILTIN)
    for name in sorted(legacy):
        _set_setting(settings, f"similarity.{name}.type", "LegacyBM25")
    return out


def loaded_settings(body: dict[str, Any]) -> dict[str, Any]:
    """Settings to apply once loading is done: the body's own refresh interval, or OpenSearch's default."""
    return {"index": {"refresh_interval": get_setting(body, "refresh_interval") or DEFAULT_REFRESH_INTERVAL}}


def _vector_text(row: np.ndarray) -> str:
    """A float32 vector as a JSON array of shortest round-trip decimals (half the bytes of float64 text)."""
    return "[" + ",".join(row.astype(str)) + "]"


def _vector_presence(docs: Documents) -> dict[str, np.ndarray]:
    """Per vector field, which rows hold a value; a row that is only partly NaN, or infinite, is an error."""
    ids = docs.ids
    present = {}
    for name, matrix in docs.vectors.items():
        if matrix.shape[0] != len(ids):
            raise DataError(f"vector field '{name}' has {matrix.shape[0]} rows for {len(ids)} documents")
        nan = np.isnan(matrix)
        empty = nan.all(axis=1)
        bad = np.flatnonzero((nan.any(axis=1) & ~empty) | np.isinf(matrix).any(axis=1))
        if bad.size:
            raise DataError(f"vector field '{name}' of document '{ids[bad[0]]}' has NaN or infinite components "
                            "(a row of NaN means no value; a partly NaN row is invalid)")
        present[name] = ~empty
    return present


def check_unique_ids(ids: list[str]) -> None:
    """Refuse duplicate ids: the second would silently overwrite the first and the count would differ."""
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        duplicate = next(i for i in ids if i in seen or seen.add(i))  # type: ignore[func-returns-value]
        raise DataError(f"document id '{duplicate}' appears more than once")


def index_actions(docs: Documents, positions: bool = False) -> Iterator[tuple[dict[str, Any], str]]:
    """Bulk ``index`` actions: ``({"index": {"_id": id}}, source JSON)``; absent fields are left out;
    ``positions`` adds each document's :data:`POSITION_FIELD`.

    The vectors are checked now, before anything is sent; the actions are produced lazily.
    """
    present = _vector_presence(docs)

    def actions() -> Iterator[tuple[dict[str, Any], str]]:
        for i, doc_id in enumerate(docs.ids):
            parts = [f"{json.dumps(name)}:{json.dumps(values[i], ensure_ascii=False)}"
                     for name, values in docs.fields.items() if values[i] is not None]
            parts += [f"{json.dumps(name)}:{_vector_text(matrix[i])}"
                      for name, matrix in docs.vectors.items() if present[name][i]]
            if positions:
                parts.append(f'"{POSITION_FIELD}":{i}')
            yield {"index": {"_id": doc_id}}, "{" + ",".join(parts) + "}"

    return actions()


def update_actions(ids: list[str], vectors: dict[str, np.ndarray]) -> Iterator[tuple[dict[str, Any], str]]:
    """Bulk ``update`` actions setting the vector fields of existing documents (null = no value).

    The vectors are checked now, before anything is sent; the actions are produced lazily.
    """
    present = _vector_presence(Documents(ids, {}, vectors))

    def actions() -> Iterator[tuple[dict[str, Any], str]]:
        for i, doc_id in enumerate(ids):
            parts = [f"{json.dumps(name)}:{_vector_text(matrix[i]) if present[name][i] else 'null'}"
                     for name, matrix in vectors.items()]
            yield {"update": {"_id": doc_id}}, '{"doc":{' + ",".join(parts) + "}}"

    return actions()
