"""Which OpenSearch version and plugin a query, pipeline or mapping needs, and the refusals that follow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from ..errors import QueryError
from .opensearch_client import ClusterInfo, Version

KNN_PLUGIN = "opensearch-knn"
NEURAL_PLUGIN = "opensearch-neural-search"
FUSION_PROCESSORS = ("normalization-processor", "score-ranker-processor")


@dataclass(frozen=True)
class Feature:
    """Something the lab may send that only some clusters understand."""

    name: str
    since: Version
    plugin: str | None = None


KNN_QUERY = Feature("the knn query", Version(1, 0), KNN_PLUGIN)
KNN_VECTOR = Feature("knn_vector fields", Version(1, 0), KNN_PLUGIN)
SEARCH_PIPELINES = Feature("search pipelines", Version(2, 9))
HYBRID = Feature("the hybrid query", Version(2, 10), NEURAL_PLUGIN)
NORMALIZATION = Feature("the normalization-processor", Version(2, 10), NEURAL_PLUGIN)
MSEARCH_PIPELINE = Feature("search_pipeline in _msearch bodies", Version(2, 18))
SCORE_RANKER = Feature("the score-ranker-processor (RRF)", Version(2, 19), NEURAL_PLUGIN)
HYBRID_PAGINATION = Feature("pagination_depth on the hybrid query", Version(2, 19), NEURAL_PLUGIN)
RERANK_PROCESSOR = Feature("the rerank response processor", Version(2, 12), NEURAL_PLUGIN)
HYBRID_EXPLANATION = Feature("the hybrid_score_explanation processor", Version(2, 19), NEURAL_PLUGIN)
Z_SCORE = Feature("z_score normalization", Version(3, 0), NEURAL_PLUGIN)
MIN_MAX_LOWER_BOUNDS = Feature("lower_bounds in min_max normalization", Version(3, 0), NEURAL_PLUGIN)
MIN_MAX_UPPER_BOUNDS = Feature("upper_bounds in min_max normalization", Version(3, 2), NEURAL_PLUGIN)
HYBRID_FILTER = Feature("a filter on the hybrid query", Version(3, 0), NEURAL_PLUGIN)
RRF_WEIGHTS = Feature("weights in the score-ranker-processor", Version(3, 1), NEURAL_PLUGIN)


def _keys(node: Any, found: set[str]) -> set[str]:
    """Every object key under ``node`` (vectors, lists of numbers, are skipped quickly)."""
    if isinstance(node, dict):
        for key, value in node.items():
            found.add(key)
            _keys(value, found)
    elif isinstance(node, list) and node and not isinstance(node[0], (int, float)):
        for value in node:
            _keys(value, found)
    return found


def is_hybrid(body: dict[str, Any]) -> bool:
    """Whether the body's top-level query is a hybrid query (the only place OpenSearch accepts one)."""
    query = body.get("query")
    return isinstance(query, dict) and "hybrid" in query


def fuses_scores(pipeline: dict[str, Any] | None) -> bool:
    """Whether ``pipeline`` has a phase-results processor that fuses hybrid sub-query scores."""
    return any(name in processor for processor in (pipeline or {}).get("phase_results_processors", [])
               for name in FUSION_PROCESSORS)


def body_features(body: dict[str, Any]) -> set[Feature]:
    """Features a search body relies on."""
    keys = _keys(body.get("query"), set())
    features = set()
    if "knn" in keys:
        features.add(KNN_QUERY)
    if "hybrid" in keys:
        features.add(HYBRID)
        hybrid = body["query"]["hybrid"] if is_hybrid(body) else {}
        if "pagination_depth" in hybrid:
            features.add(HYBRID_PAGINATION)
        if "filter" in hybrid:
            features.add(HYBRID_FILTER)
    return features


def pipeline_features(pipeline: dict[str, Any]) -> set[Feature]:
    """Features a search-pipeline body relies on."""
    features = {SEARCH_PIPELINES}
    for processor in pipeline.get("phase_results_processors", []):
        if "normalization-processor" in processor:
            config = processor["normalization-processor"] or {}
            features.add(NORMALIZATION)
            normalization = config.get("normalization") or {}
            if normalization.get("technique") == "z_score":
                features.add(Z_SCORE)
            parameters = normalization.get("parameters") or {}
            if "lower_bounds" in parameters:
                features.add(MIN_MAX_LOWER_BOUNDS)
            if "upper_bounds" in parameters:
                features.add(MIN_MAX_UPPER_BOUNDS)
        if "score-ranker-processor" in processor:
            features.add(SCORE_RANKER)
            combination = (processor["score-ranker-processor"] or {}).get("combination") or {}
            if (combination.get("parameters") or {}).get("weights") is not None:
                features.add(RRF_WEIGHTS)
    if any("hybrid_score_explanation" in p for p in pipeline.get("response_processors", [])):
        features.add(HYBRID_EXPLANATION)
    if any("rerank" in p for p in pipeline.get("response_processors", [])):
        features.add(RERANK_PROCESSOR)
    return features


def mapping_features(index_body: dict[str, Any]) -> set[Feature]:
    """Features an index body relies on."""
    properties = (index_body.get("mappings") or {}).get("properties") or {}
    return {KNN_VECTOR} if any(p.get("type") == "knn_vector" for p in properties.values()) else set()


def require(cluster: ClusterInfo, features: Iterable[Feature], what: str, url: str) -> None:
    """Refuse, in one line, the first feature the cluster's version or plugins lack."""
    for feature in sorted(features, key=lambda f: (f.since, f.name)):
        if cluster.version < feature.since:
            raise QueryError(f"{what} needs {feature.name}, which OpenSearch {feature.since.major}."
                             f"{feature.since.minor} introduced; the cluster at {url} runs {cluster.number}")
        if feature.plugin and cluster.plugins is not None and feature.plugin not in cluster.plugins:
            raise QueryError(f"{what} needs {feature.name} from the {feature.plugin} plugin, which the cluster "
                             f"at {url} does not have (the default OpenSearch distribution includes it)")


def require_fusion(bodies: Iterable[dict[str, Any]], pipeline: dict[str, Any] | None, what: str) -> None:
    """Refuse hybrid queries without a fusing pipeline: OpenSearch would return unfused scores silently."""
    if not fuses_scores(pipeline) and any(is_hybrid(body) for body in bodies):
        raise QueryError(f"{what}: a hybrid query needs a search pipeline with a normalization-processor or "
                         "score-ranker-processor to fuse its sub-queries (without one, OpenSearch would return "
                         "unfused sub-query scores silently)")
