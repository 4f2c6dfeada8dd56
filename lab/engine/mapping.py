"""An OpenSearch index body (settings + mappings) parsed into the fields the engine indexes.

Everything that changes scores is honoured (analyzers, similarity k1/b, norms, index_options,
multi-fields, number_of_shards); settings that only tune a cluster are accepted and ignored;
anything else is a LabError naming its key path.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from ..errors import LabError
from .analysis import get_analyzer
from .similarity import BM25, F32

TEXT = "text"
KEYWORD = "keyword"
BOOLEAN = "boolean"
VECTOR = "knn_vector"
INTEGER_TYPES = {"long": (-(2 ** 63), 2 ** 63 - 1), "integer": (-(2 ** 31), 2 ** 31 - 1),
                 "short": (-(2 ** 15), 2 ** 15 - 1), "byte": (-128, 127)}
FLOAT_TYPES = ("double", "float")
NUMERIC_TYPES = (*INTEGER_TYPES, *FLOAT_TYPES)
SPACE_TYPES = ("cosinesimil", "l2", "innerproduct")
DEFAULT_MAX_RESULT_WINDOW = 10_000

_IGNORED_SETTINGS = ("number_of_replicas", "refresh_interval", "knn", "knn.algo_param.ef_search", "codec",
                     "auto_expand_replicas", "hidden", "mapping.total_fields.limit", "max_inner_result_window",
                     "translog.durability", "translog.sync_interval", "provided_name", "uuid", "creation_date",
                     "version.created")
_COMMON_KEYS = ("type", "index", "store", "doc_values", "meta", "fields")
_FIELD_KEYS = {
    TEXT: (*_COMMON_KEYS, "analyzer", "search_analyzer", "search_quote_analyzer", "similarity", "norms",
           "index_options", "term_vector", "position_increment_gap", "fielddata", "eager_global_ordinals",
           "index_phrases", "index_prefixes"),
    KEYWORD: (*_COMMON_KEYS, "ignore_above", "similarity", "norms", "index_options", "eager_global_ordinals",
              "split_queries_on_whitespace"),
    BOOLEAN: _COMMON_KEYS,
    VECTOR: ("type", "dimension", "method", "space_type", "data_type", "mode", "compression_level", "doc_values",
             "store"),
}
_NUMERIC_KEYS = (*_COMMON_KEYS, "coerce", "ignore_malformed")


@dataclass(frozen=True)
class FieldSpec:
    """One indexed field: its type and everything that shapes its postings and scores."""

    name: str
    type: str
    source: str
    """The document column it is indexed from (a multi-field's parent)."""
    searchable: bool = True
    analyzer: str = "standard"
    search_analyzer: str = "standard"
    similarity: BM25 = field(default_factory=BM25)
    norms: bool = True
    freqs: bool = True
    ignore_above: int | None = None
    dimension: int = 0
    space_type: str = "l2"

    @property
    def inverted(self) -> bool:
        """Text and keyword fields: terms with postings."""
        return self.type in (TEXT, KEYWORD)

    @property
    def numeric(self) -> bool:
        return self.type in NUMERIC_TYPES or self.type == BOOLEAN


@dataclass
class Schema:
    """The parsed index body."""

    body: dict[str, Any]
    fields: dict[str, FieldSpec]
    max_result_window: int = DEFAULT_MAX_RESULT_WINDOW

    @property
    def properties(self) -> dict[str, Any]:
        return self.body["mappings"]["properties"]

    def vector_specs(self, field_bodies: dict[str, dict[str, Any]]) -> list[FieldSpec]:
        """The specs of knn_vector field bodies; LabError if one is not a knn_vector or clashes."""
        specs = []
        for name, body in field_bodies.items():
            where = f"mappings.properties.{name}"
            if not isinstance(body, dict) or body.get("type") != VECTOR:
                raise LabError(f"{where}: put_vectors adds only {VECTOR} fields")
            existing = self.fields.get(name)
            if existing is not None and existing.type != VECTOR:
                raise LabError(f"{where}: already a {existing.type} field")
            specs.append(_vector_spec(name, body, where))
        return specs

    def add_vector_fields(self, field_bodies: dict[str, dict[str, Any]]) -> None:
        """Add (or redefine) knn_vector fields."""
        for spec in self.vector_specs(field_bodies):
            self.fields[spec.name] = spec
            self.properties[spec.name] = copy.deepcopy(field_bodies[spec.name])


def parse_index_body(body: Any) -> Schema:
    """Validate an OpenSearch create-index body and describe its fields."""
    if not isinstance(body, dict):
        raise LabError("index body: must be a JSON object with \"settings\" and \"mappings\"")
    for key in body:
        if key not in ("settings", "mappings", "aliases"):
            raise LabError(f"index body.{key}: not supported by the embedded engine")
    body = copy.deepcopy(body)
    settings = _flatten_settings(body.get("settings") or {})
    similarities = _similarities(settings)
    default_analyzer = _default_analyzer(settings)
    max_window = _settings_int(settings, "max_result_window", DEFAULT_MAX_RESULT_WINDOW)
    shards = _settings_int(settings, "number_of_shards", 1)
    if shards != 1:
        raise LabError("settings.index.number_of_shards: the embedded engine is one shard; scores match "
                       "OpenSearch only for a 1-shard index (term statistics are per shard)")
    for key in settings:
        if not key.startswith(("similarity.", "analysis.")) and key not in (
                *_IGNORED_SETTINGS, "max_result_window", "number_of_shards"):
            raise LabError(f"settings.index.{key}: not supported by the embedded engine")

    mappings = body.setdefault("mappings", {})
    if not isinstance(mappings, dict):
        raise LabError("mappings: must be an object")
    for key in mappings:
        if key not in ("properties", "_meta", "dynamic", "_source", "date_detection", "numeric_detection"):
            raise LabError(f"mappings.{key}: not supported by the embedded engine")
    properties = mappings.setdefault("properties", {})
    if not isinstance(properties, dict):
        raise LabError("mappings.properties: must be an object")
    fields: dict[str, FieldSpec] = {}
    _parse_properties(properties, "", fields, similarities, default_analyzer)
    return Schema(body, fields, max_window)


def _flatten_settings(settings: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(settings, dict):
        raise LabError(f"settings{'.' + prefix.rstrip('.') if prefix else ''}: must be an object")
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten_settings(value, f"{name}."))
        else:
            flat[name[len("index."):] if name.startswith("index.") else name] = value
    return flat


def _settings_int(settings: dict[str, Any], key: str, default: int) -> int:
    value = settings.get(key, default)
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    if isinstance(value, bool) or number < 0 or str(number) != str(value).strip():
        raise LabError(f"settings.index.{key}: must be a non-negative integer, got {value!r}")
    return number


def _similarities(settings: dict[str, Any]) -> dict[str, BM25]:
    """Named similarities: the built-in "BM25" plus those under settings.index.similarity."""
    groups: dict[str, dict[str, Any]] = {}
    for key, value in settings.items():
        if key.startswith("similarity."):
            name, _, param = key[len("similarity."):].partition(".")
            groups.setdefault(name, {})[param] = value
    sims = {"BM25": BM25()}
    for name, params in groups.items():
        where = f"settings.index.similarity.{name}"
        if name in ("BM25", "boolean"):
            raise LabError(f"{where}: cannot redefine the built-in similarity [{name}]")
        kind = params.get("type")
        if kind not in ("BM25", "LegacyBM25"):
            raise LabError(f"{where}.type: {kind!r} is not supported (the engine implements BM25 and LegacyBM25)")
        for param in params:
            if param not in ("type", "k1", "b", "discount_overlaps"):
                raise LabError(f"{where}.{param}: unknown setting for a {kind} similarity")
        k1 = _float_setting(params.get("k1", 1.2), f"{where}.k1")
        b = _float_setting(params.get("b", 0.75), f"{where}.b")
        if not (k1 >= 0 and k1 != float("inf")):
            raise LabError(f"{where}.k1: must be a non-negative finite number")
        if not 0 <= b <= 1:
            raise LabError(f"{where}.b: must be between 0 and 1")
        if str(params.get("discount_overlaps", True)).lower() not in ("true", "false"):
            raise LabError(f"{where}.discount_overlaps: must be true or false")
        sims[name] = BM25(F32(k1), F32(b), legacy=kind == "LegacyBM25")
    sims.setdefault("default", sims["BM25"])
    return sims


def _float_setting(value: Any, where: str) -> float:
    try:
        if isinstance(value, bool):
            raise ValueError
        return float(value)
    except (TypeError, ValueError):
        raise LabError(f"{where}: must be a number, got {value!r}") from None


def _default_analyzer(settings: dict[str, Any]) -> str:
    """The index's default analyzer; settings.analysis may only alias built-in analyzers."""
    default = "standard"
    for key, value in settings.items():
        if not key.startswith("analysis."):
            continue
        parts = key.split(".")
        if len(parts) == 4 and parts[1] == "analyzer" and parts[3] == "type":
            name = parts[2]
            _check_analyzer(value, f"settings.index.{key}")
            if name == "default":
                default = value
                continue
            if name != value:
                raise LabError(f"settings.index.analysis.analyzer.{name}: custom analyzers are not supported "
                               f"(only \"default\" set to a built-in analyzer, or a built-in name)")
            continue
        raise LabError(f"settings.index.{key}: custom analysis is not supported by the embedded engine "
                       "(use the built-in analyzers: standard, english, simple, stop, whitespace, keyword)")
    return default


def _check_analyzer(name: Any, where: str) -> str:
    if not isinstance(name, str):
        raise LabError(f"{where}: must be an analyzer name")
    try:
        get_analyzer(name)
    except LabError as exc:
        raise LabError(f"{where}: {exc}") from None
    return name


def _parse_properties(properties: dict[str, Any], prefix: str, fields: dict[str, FieldSpec],
                      similarities: dict[str, BM25], default_analyzer: str) -> None:
    for key, body in properties.items():
        name = f"{prefix}{key}"
        where = f"mappings.properties.{name}"
        if not isinstance(body, dict):
            raise LabError(f"{where}: must be an object")
        kind = body.get("type", "object" if "properties" in body else None)
        if kind == "object":
            for param in body:
                if param not in ("type", "properties", "dynamic", "enabled"):
                    raise LabError(f"{where}.{param}: not supported on an object field")
            _parse_properties(body.get("properties", {}), f"{name}.", fields, similarities, default_analyzer)
            continue
        spec = _field_spec(name, name, body, where, similarities, default_analyzer)
        fields[name] = spec
        for sub, sub_body in (body.get("fields") or {}).items():
            sub_where = f"{where}.fields.{sub}"
            if not isinstance(sub_body, dict):
                raise LabError(f"{sub_where}: must be an object")
            if "fields" in sub_body:
                raise LabError(f"{sub_where}.fields: multi-fields cannot have multi-fields")
            fields[f"{name}.{sub}"] = _field_spec(f"{name}.{sub}", name, sub_body, sub_where, similarities,
                                                  default_analyzer)


def _field_spec(name: str, source: str, body: dict[str, Any], where: str, similarities: dict[str, BM25],
                default_analyzer: str) -> FieldSpec:
    kind = body.get("type")
    if kind == VECTOR:
        if source != name:
            raise LabError(f"{where}: a {VECTOR} cannot be a multi-field")
        return _vector_spec(name, body, where)
    allowed = _FIELD_KEYS.get(kind) or (_NUMERIC_KEYS if kind in NUMERIC_TYPES else None)
    if allowed is None:
        supported = ", ".join((TEXT, KEYWORD, BOOLEAN, *NUMERIC_TYPES, VECTOR))
        raise LabError(f"{where}.type: {kind!r} is not supported by the embedded engine ({supported})")
    for param in body:
        if param not in allowed:
            raise LabError(f"{where}.{param}: not supported on a {kind} field by the embedded engine")
    searchable = _bool_param(body, "index", True, where)
    if kind not in (TEXT, KEYWORD):
        return FieldSpec(name, kind, source, searchable=searchable)
    sim_name = body.get("similarity", "default")
    if sim_name not in similarities:
        raise LabError(f"{where}.similarity: unknown similarity {sim_name!r}")
    options = body.get("index_options", "positions" if kind == TEXT else "docs")
    if options not in ("docs", "freqs", "positions", "offsets"):
        raise LabError(f"{where}.index_options: must be docs, freqs, positions or offsets")
    if kind == KEYWORD:
        if _bool_param(body, "split_queries_on_whitespace", False, where):
            raise LabError(f"{where}.split_queries_on_whitespace: not supported by the embedded engine")
        ignore_above = body.get("ignore_above")
        if ignore_above is not None and (not isinstance(ignore_above, int) or isinstance(ignore_above, bool)
                                         or ignore_above < 0):
            raise LabError(f"{where}.ignore_above: must be a non-negative integer")
        return FieldSpec(name, kind, source, searchable=searchable, analyzer="keyword", search_analyzer="keyword",
                         similarity=similarities[sim_name], norms=_bool_param(body, "norms", False, where),
                         freqs=options != "docs", ignore_above=ignore_above)
    analyzer = _check_analyzer(body.get("analyzer", default_analyzer), f"{where}.analyzer")
    search_analyzer = _check_analyzer(body.get("search_analyzer", analyzer), f"{where}.search_analyzer")
    return FieldSpec(name, kind, source, searchable=searchable, analyzer=analyzer, search_analyzer=search_analyzer,
                     similarity=similarities[sim_name], norms=_bool_param(body, "norms", True, where),
                     freqs=options != "docs")


def _bool_param(body: dict[str, Any], key: str, default: bool, where: str) -> bool:
    value = body.get(key, default)
    if isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    if not isinstance(value, bool):
        raise LabError(f"{where}.{key}: must be true or false")
    return value


def _vector_spec(name: str, body: dict[str, Any], where: str) -> FieldSpec:
    for param in body:
        if param not in _FIELD_KEYS[VECTOR]:
            raise LabError(f"{where}.{param}: not supported on a {VECTOR} field by the embedded engine")
    dimension = body.get("dimension")
    if not isinstance(dimension, int) or isinstance(dimension, bool) or dimension <= 0:
        raise LabError(f"{where}.dimension: must be a positive integer")
    if body.get("data_type", "float") != "float":
        raise LabError(f"{where}.data_type: only float vectors are supported")
    method = body.get("method") or {}
    if not isinstance(method, dict):
        raise LabError(f"{where}.method: must be an object")
    space = method.get("space_type") or body.get("space_type") or "l2"
    if space not in SPACE_TYPES:
        raise LabError(f"{where}.method.space_type: {space!r} is not supported ({', '.join(SPACE_TYPES)})")
    if method.get("engine", "lucene") not in ("lucene", "faiss", "nmslib"):
        raise LabError(f"{where}.method.engine: unknown engine {method.get('engine')!r}")
    return FieldSpec(name, VECTOR, name, dimension=dimension, space_type=space)
