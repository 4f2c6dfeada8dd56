"""OpenSearch index bodies and query DSL as Elasticsearch reads them: written once, tested on its own.

Text fields, analyzers and the lexical queries are the same in both; ``knn_vector`` fields become
``dense_vector`` (HNSW, same m / ef_construction and similarity) and the OpenSearch ``knn`` clause becomes
Elasticsearch's ``knn`` query. Anything else is refused with one line naming the clause.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from ..errors import QueryError
from .opensearch_client import Version
from .opensearch_documents import POSITION_FIELD, embedded_index_body, get_setting

SIMILARITIES = {"cosinesimil": "cosine", "l2": "l2_norm", "innerproduct": "dot_product"}
"""OpenSearch ``space_type`` → Elasticsearch ``similarity``; ES's scores are the same transforms of the
distance: (1 + cos) / 2, 1 / (1 + l2²), and (1 + dot) / 2 (dot_product needs unit vectors there)."""
PASS_THROUGH = frozenset({"match", "multi_match", "term", "terms", "range", "exists", "ids", "match_all",
                          "match_none"})
KNN_OPTIONS = ("vector", "k", "boost", "filter", "_name")
OPENSEARCH_ONLY_SETTINGS = ("knn", "knn.algo_param.ef_search")
LEGACY_BM25_OPENSEARCH = Version(2, 19)
"""An OpenSearch that scores BM25 as Elasticsearch does: Elasticsearch's ``BM25`` is Lucene's
LegacyBM25Similarity (scores × (1 + k1)), which OpenSearch dropped in 3.0."""


def _refuse(path: str, reason: str) -> QueryError:
    return QueryError(f"{path}: {reason}")


# --- the index body ------------------------------------------------------------------------------

def dense_vector(name: str, field: dict[str, Any]) -> dict[str, Any]:
    """An OpenSearch ``knn_vector`` mapping as Elasticsearch's ``dense_vector`` (indexed with plain HNSW)."""
    path = f"mappings.properties.{name}"
    method = field.get("method") or {}
    if method.get("name", "hnsw") != "hnsw":
        raise _refuse(f"{path}.method.name", f"'{method.get('name')}' has no Elasticsearch counterpart (hnsw only)")
    space = method.get("space_type", field.get("space_type", "l2"))
    if space not in SIMILARITIES:
        raise _refuse(f"{path}.method.space_type", f"'{space}' has no Elasticsearch similarity "
                      f"(supported: {', '.join(SIMILARITIES)})")
    params = method.get("parameters") or {}
    options = {"type": "hnsw", **{k: params[k] for k in ("m", "ef_construction") if k in params}}
    return {"type": "dense_vector", "dims": field["dimension"], "element_type": "float", "index": True,
            "similarity": SIMILARITIES[space], "index_options": options}


def _mapping(properties: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, field in properties.items():
        if field.get("type") == "knn_vector":
            out[name] = dense_vector(name, field)
        elif "properties" in field:
            out[name] = {**field, "properties": _mapping(field["properties"])}
        else:
            out[name] = field
    return out


def index_body(body: dict[str, Any], shards: int) -> dict[str, Any]:
    """The lab's OpenSearch index body for Elasticsearch: vector fields as ``dense_vector``, OpenSearch-only
    settings dropped, ``shards`` primaries, no replicas, refresh off while loading, and the index sorted on
    :data:`POSITION_FIELD` so equal scores come in the catalogue's order (as in the embedded engine)."""
    out = copy.deepcopy(body)
    settings = out.setdefault("settings", {})
    nested = settings.setdefault("index", {})
    for key in OPENSEARCH_ONLY_SETTINGS:
        nested.pop(key, None)
        settings.pop(key, None)
        settings.pop(f"index.{key}", None)
    for name, similarity in (nested.get("similarity") or {}).items():
        if similarity.get("type") == "LegacyBM25":  # Elasticsearch's BM25 is the legacy form
            similarity["type"] = "BM25"
    mappings = out.setdefault("mappings", {})
    properties = _mapping(mappings.get("properties") or {})
    if get_setting(body, "sort.field") is None and POSITION_FIELD not in properties:
        properties[POSITION_FIELD] = {"type": "integer"}
        nested.update({"sort.field": POSITION_FIELD, "sort.order": "asc"})
    mappings["properties"] = properties
    nested["number_of_shards"] = shards
    if get_setting(body, "number_of_replicas") is None:
        nested["number_of_replicas"] = 0
    nested["refresh_interval"] = "-1"
    return out


def embedded_body(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` for the embedded engine to score as Elasticsearch does (legacy BM25 everywhere)."""
    return embedded_index_body(body, LEGACY_BM25_OPENSEARCH)


def vector_mapping(fields: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Vector field bodies (as ``put_vectors`` receives them) for Elasticsearch."""
    return _mapping(fields)


# --- queries -------------------------------------------------------------------------------------

def knn_query(params: Any, path: str) -> dict[str, Any]:
    """OpenSearch ``{"knn": {field: {vector, k, filter, boost}}}`` as Elasticsearch's ``knn`` query.

    ``num_candidates`` is ``k``: the HNSW search then explores as many candidates as OpenSearch's lucene
    engine does for the same ``k`` (its ef_search is k), and on a small index both are exact.
    """
    if not isinstance(params, dict) or len(params) != 1:
        raise _refuse(path, "must name exactly one vector field")
    field, options = next(iter(params.items()))
    where = f"{path}.{field}"
    if not isinstance(options, dict):
        raise _refuse(where, "must be an object with vector and k")
    for key in options:
        if key not in KNN_OPTIONS:
            raise _refuse(f"{where}.{key}", f"Elasticsearch's knn query has no counterpart for '{key}' "
                          f"(translated: {', '.join(KNN_OPTIONS)})")
    if "k" not in options or "vector" not in options:
        raise _refuse(where, "needs vector and k (radial search is not translated)")
    out: dict[str, Any] = {"field": field, "query_vector": options["vector"], "k": options["k"],
                           "num_candidates": options["k"]}
    if options.get("filter") is not None:
        out["filter"] = query(options["filter"], f"{where}.filter")
    for key in ("boost", "_name"):
        if key in options:
            out[key] = options[key]
    return {"knn": out}


def _clauses(value: Any, path: str) -> Any:
    if isinstance(value, list):
        return [query(item, f"{path}[{i}]") for i, item in enumerate(value)]
    return query(value, path)


def query(clause: Any, path: str = "query") -> dict[str, Any]:
    """One OpenSearch query clause as Elasticsearch runs it; QueryError naming the first clause it cannot."""
    if not isinstance(clause, dict) or len(clause) != 1:
        raise _refuse(path, "a query clause holds exactly one query type")
    kind, params = next(iter(clause.items()))
    where = f"{path}.{kind}"
    if kind in PASS_THROUGH:
        return {kind: params}
    if kind == "knn":
        return knn_query(params, where)
    if kind == "bool":
        return {"bool": {key: _clauses(value, f"{where}.{key}")
                         if key in ("must", "should", "filter", "must_not") else value
                         for key, value in params.items()}}
    if kind == "dis_max":
        return {"dis_max": {key: _clauses(value, f"{where}.{key}") if key == "queries" else value
                            for key, value in params.items()}}
    if kind == "constant_score":
        return {"constant_score": {key: query(value, f"{where}.{key}") if key == "filter" else value
                                   for key, value in params.items()}}
    if kind == "hybrid":
        raise _refuse(where, "a hybrid query must be the top-level query of the search")
    raise _refuse(where, "Elasticsearch cannot run this clause as the lab does (translated: "
                  f"{', '.join(sorted(PASS_THROUGH | {'bool', 'dis_max', 'constant_score', 'knn', 'hybrid'}))})")


def search_body(body: dict[str, Any]) -> dict[str, Any]:
    """A non-hybrid OpenSearch search body for Elasticsearch: its query translated, the rest as it is."""
    out = {key: value for key, value in body.items() if key != "query"}
    if "query" in body:
        out["query"] = query(body["query"])
    return out


# --- hybrid queries ------------------------------------------------------------------------------

@dataclass(frozen=True)
class HybridPlan:
    """A hybrid search as separate Elasticsearch searches: each sub-query's top ``depth`` hits (fused by the
    lab), and one ``size: 0`` search of all sub-queries that counts the documents any of them matches."""

    subs: list[dict[str, Any]]
    count: dict[str, Any]
    size: int
    start: int


def hybrid_plan(body: dict[str, Any]) -> HybridPlan:
    """Split a search body whose query is ``hybrid`` (sub-queries, optional filter and pagination_depth)."""
    path = "query.hybrid"
    params = body["query"]["hybrid"]
    for key in params:
        if key not in ("queries", "pagination_depth", "filter", "_name"):
            raise _refuse(f"{path}.{key}", "not translated for Elasticsearch")
    size, start = int(body.get("size", 10)), int(body.get("from", 0))
    depth = int(params.get("pagination_depth", size))
    queries = [query(q, f"{path}.queries[{i}]") for i, q in enumerate(params.get("queries") or [])]
    if params.get("filter") is not None:
        hybrid_filter = query(params["filter"], f"{path}.filter")
        queries = [{"bool": {"must": [q], "filter": [hybrid_filter]}} for q in queries]
    extra = {key: value for key, value in body.items() if key not in ("query", "size", "from", "track_total_hits")}
    subs = [{**extra, "size": depth, "query": q, "track_total_hits": False} for q in queries]
    count = {"size": 0, "track_total_hits": True, "query": {"bool": {"should": queries}}}
    return HybridPlan(subs, count, size, start)
