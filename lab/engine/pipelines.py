"""OpenSearch search pipelines: the hybrid ``normalization-processor`` and ``score-ranker-processor``, and the
``rerank`` response processor's configuration (:func:`split_response_processors`; the lab's runner executes it
with its cross-encoder, lab/reranker).

Pure numpy over per-sub-query ranked lists, computed as neural-search (2.19 / 3.x) computes them, in float32
where its Java code uses ``float``:

* normalisation per sub-query over the hits it returned: ``min_max`` (with 3.x ``lower_bounds`` /
  ``upper_bounds``), ``l2``, ``z_score`` (the 3.1+ statistics: mean and sample standard deviation of the
  returned scores), or RRF ranks ``1 / (rank_constant + rank)`` rounded to 10 decimals;
* combination per document, a missing sub-query score being 0.0: ``arithmetic_mean`` (that 0 counts, with its
  weight), ``geometric_mean`` and ``harmonic_mean`` (positive scores only), or the RRF weighted sum.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any, Sequence

import numpy as np

from .validation import fail, json_type

SubResult = tuple[np.ndarray, np.ndarray]
"""One hybrid sub-query's hits: (doc_idx int64, scores float32), best first."""

MAX_SUB_QUERIES = 5
MIN_SCORE = np.float32(0.001)
SINGLE_RESULT_SCORE = np.float32(1.0)
BOUND_SCORE_LIMIT = 10_000.0
RANK_CONSTANT_RANGE = (1, 10_000)
DEFAULT_RANK_CONSTANT = 60
WEIGHTS_SUM_DELTA = float(np.float32(0.01))
NORMALIZATION = "normalization-processor"
SCORE_RANKER = "score-ranker-processor"
RERANK = "rerank"
RERANKER_TYPE = "ml_opensearch"
PROCESSOR_COMMON_KEYS = ("tag", "description", "ignore_failure")


# --- validation helpers -------------------------------------------------------------------------

def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        fail(path, f"must be a JSON object, got {json_type(value)}")
    return value


def _only_keys(obj: dict[str, Any], allowed: Sequence[str], path: str) -> None:
    for key in obj:
        if key not in allowed:
            fail(f"{path}.{key}", f"unknown parameter (expected {', '.join(allowed)})")


def _string(obj: dict[str, Any], key: str, path: str, default: str) -> str:
    value = obj.get(key, default)
    if not isinstance(value, str):
        fail(f"{path}.{key}", f"must be a string, got {json_type(value)}")
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _java_float(value: np.float32 | float) -> str:
    """A float32 as Java's Float.toString writes it in neural-search's descriptions."""
    return str(np.float32(value))


# --- normalization techniques -------------------------------------------------------------------

@dataclass(frozen=True)
class Bound:
    """One sub-query's min_max lower or upper bound (neural-search 3.x)."""

    mode: str
    score: np.float32
    raw: Any

    def describe(self, default: str) -> str:
        return f"({self.mode}, {default if self.raw is None else self.raw})"


class MinMax:
    """``(s - min) / (max - min)`` over the sub-query's hits; 0 becomes 0.001, a lone score 1.0."""

    name = "min_max"

    def __init__(self, lower: list[Bound] | None, upper: list[Bound] | None, path: str):
        self.lower, self.upper, self.path = lower, upper, path

    def describe(self) -> str:
        text = self.name
        if self.lower is not None:
            text += ", lower bounds [" + ", ".join(b.describe("0.0") for b in self.lower) + "]"
        if self.upper is not None:
            text += ", upper bounds [" + ", ".join(b.describe("1.0") for b in self.upper) + "]"
        return text

    def check(self, n_sub: int) -> None:
        for bounds in (self.lower, self.upper):
            if bounds is not None and len(bounds) != n_sub:
                fail(self.path, f"expected bounds array to contain {n_sub} elements matching the number of "
                                 "sub-queries, but found a mismatch")

    def normalize(self, scores: np.ndarray, sub: int) -> np.ndarray:
        lo, hi = scores.min(), scores.max()
        lower = self.lower[sub] if self.lower is not None else None
        upper = self.upper[sub] if self.upper is not None else None
        eff_min = np.full_like(scores, lo)
        eff_max = np.full_like(scores, hi)
        if lower is not None and lower.mode == "apply":
            eff_min = np.where((hi > lower.score) & (scores > lower.score), lower.score, lo).astype(np.float32)
        elif lower is not None and lower.mode == "clip":
            eff_min[:] = lo if hi < lower.score else lower.score
        if upper is not None and upper.mode == "apply":
            eff_max = np.where((lo < upper.score) & (scores < upper.score), upper.score, hi).astype(np.float32)
        elif upper is not None and upper.mode == "clip":
            eff_max[:] = hi if lo > upper.score else upper.score
        with np.errstate(divide="ignore", invalid="ignore"):
            out = (scores - eff_min) / (eff_max - eff_min)
        # Applied in reverse order of neural-search's checks, so the first check that holds wins.
        out = np.where(out == 0, MIN_SCORE, out)
        out = np.where(eff_max == eff_min, SINGLE_RESULT_SCORE, out)
        if upper is not None and upper.mode == "clip":
            out = np.where(scores > eff_max, SINGLE_RESULT_SCORE, out)
        if lower is not None and lower.mode == "clip":
            out = np.where(scores < eff_min, MIN_SCORE, out)
        out = np.where((hi == lo) & (scores == hi), SINGLE_RESULT_SCORE, out)
        return out.astype(np.float32)


class L2:
    """``s / sqrt(sum s^2)`` over the sub-query's hits (sum accumulated in float32, in hit order)."""

    name = "l2"

    def describe(self) -> str:
        return self.name

    def check(self, n_sub: int) -> None:
        """No per-sub-query parameters."""

    def normalize(self, scores: np.ndarray, sub: int) -> np.ndarray:
        squares = np.add.accumulate(scores * scores, dtype=np.float32)[-1]
        norm = np.float32(math.sqrt(float(squares)))
        if norm == 0:
            return np.zeros_like(scores)
        return (scores / norm).astype(np.float32)


class ZScore:
    """``(s - mean) / std`` with the sub-query's mean and sample standard deviation (Apache commons-math
    DescriptiveStatistics, as neural-search 3.1+); z <= 0 becomes 0.001, a score equal to the mean becomes the
    sub-query's max raw score, and with std 0 the min raw score."""

    name = "z_score"

    def describe(self) -> str:
        return self.name

    def check(self, n_sub: int) -> None:
        """No per-sub-query parameters."""

    @staticmethod
    def statistics(scores: np.ndarray) -> tuple[np.float32, np.float32]:
        """(mean, standard deviation) as float32, computed in double like commons-math."""
        values = scores.astype(np.float64)
        n = len(values)
        xbar = np.add.accumulate(values)[-1] / n
        mean = xbar + np.add.accumulate(values - xbar)[-1] / n
        std = 0.0
        if n > 1:
            dev = values - mean
            accum, accum2 = np.add.accumulate(dev * dev)[-1], np.add.accumulate(dev)[-1]
            std = math.sqrt((accum - accum2 * accum2 / n) / (n - 1.0))
        return np.float32(mean), np.float32(std)

    def normalize(self, scores: np.ndarray, sub: int) -> np.ndarray:
        mean, std = self.statistics(scores)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (scores - mean) / std
        out = np.where(z <= 0, MIN_SCORE, z)
        out = np.where(std == 0, scores.min(), out)
        out = np.where(scores == mean, scores.max(), out)
        return out.astype(np.float32)


class RRFRanks:
    """The score-ranker's rank scores: ``1 / (rank_constant + rank)``, rank from 1, rounded half-up to 10
    decimals then to float32 (Java BigDecimal)."""

    name = "rrf"

    def __init__(self, rank_constant: int):
        self.rank_constant = rank_constant

    def describe(self) -> str:
        return f"rrf, rank_constant [{self.rank_constant}]"

    def check(self, n_sub: int) -> None:
        """No per-sub-query parameters."""

    def normalize(self, scores: np.ndarray, sub: int) -> np.ndarray:
        return _rank_scores(self.rank_constant, len(scores))


@lru_cache(maxsize=256)
def _rank_scores(rank_constant: int, length: int) -> np.ndarray:
    scores = np.array([rrf_rank_score(rank_constant + rank) for rank in range(1, length + 1)], dtype=np.float32)
    scores.flags.writeable = False
    return scores


def rrf_rank_score(denominator: int) -> np.float32:
    """``BigDecimal.ONE.divide(denominator, 10, HALF_UP).floatValue()``: exact rounding, then the float32
    nearest to that decimal (ties to even)."""
    scaled = (2 * 10**10 + denominator) // (2 * denominator)
    return _nearest_float32(Fraction(scaled, 10**10))


def _nearest_float32(value: Fraction) -> np.float32:
    guess = np.float32(float(value))
    candidates = (np.nextafter(guess, np.float32(-np.inf)), guess, np.nextafter(guess, np.float32(np.inf)))
    return min(candidates, key=lambda c: (abs(Fraction(float(c)) - value), int(c.view(np.uint32)) & 1))


# --- combination techniques ---------------------------------------------------------------------

class Combination:
    """How the per-sub-query scores of one document become its fused score."""

    def __init__(self, name: str, weights: np.ndarray | None, path: str):
        self.name, self.weights, self.path = name, weights, path

    def describe(self) -> str:
        if self.weights is None or self.name == "rrf":
            return self.name
        return f"{self.name}, weights [{', '.join(_java_float(w) for w in self.weights)}]"

    def check(self, n_sub: int) -> None:
        if self.weights is not None and len(self.weights) != n_sub:
            fail(self.path, f"number of weights [{len(self.weights)}] must match number of sub-queries "
                             f"[{n_sub}] in hybrid query")

    def weight(self, sub: int) -> np.float32:
        return self.weights[sub] if self.weights is not None else np.float32(1.0)

    def combine(self, scores: np.ndarray) -> np.ndarray:
        """Fused score per row of ``scores`` (documents x sub-queries, float32, 0.0 where missing)."""
        n_docs, n_sub = scores.shape
        total = np.zeros(n_docs, dtype=np.float32)
        weights = np.zeros(n_docs, dtype=np.float32)
        if self.name in ("arithmetic_mean", "rrf"):
            for sub in range(n_sub):
                used = scores[:, sub] >= 0
                total = np.where(used, total + scores[:, sub] * self.weight(sub), total)
                weights = np.where(used, weights + self.weight(sub), weights)
            if self.name == "rrf":
                return np.where(weights == 0, np.float32(0), total).astype(np.float32)
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(weights == 0, np.float32(0), total / weights).astype(np.float32)
        for sub in range(n_sub):
            used = scores[:, sub] > 0
            safe = np.where(used, scores[:, sub], np.float32(1))
            if self.name == "geometric_mean":
                term = np.float64(self.weight(sub)) * np.log(safe.astype(np.float64))
                total = np.where(used, (total.astype(np.float64) + term).astype(np.float32), total)
            else:
                total = np.where(used, total + self.weight(sub) / safe, total)
            weights = np.where(used, weights + self.weight(sub), weights)
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.name == "geometric_mean":
                fused = np.exp((total / weights).astype(np.float64)).astype(np.float32)
                return np.where(weights == 0, np.float32(0), fused).astype(np.float32)
            return np.where(total > 0, weights / total, np.float32(0)).astype(np.float32)


# --- the pipeline -------------------------------------------------------------------------------

@dataclass(frozen=True)
class SearchPipeline:
    """A parsed search pipeline: one normalisation (or rank scoring) and one combination."""

    processor: str
    normalization: MinMax | L2 | ZScore | RRFRanks
    combination: Combination

    def fuse(self, sub_results: Sequence[SubResult]) -> tuple[np.ndarray, np.ndarray]:
        """Fused (doc_idx int64, scores float32), best first, ties by doc_idx ascending."""
        docs, normalized, _present = self._normalized(sub_results)
        if len(docs) == 0:
            return docs, np.zeros(0, dtype=np.float32)
        self.combination.check(len(sub_results))
        fused = self.combination.combine(normalized)
        order = np.lexsort((docs, -fused))
        return docs[order], fused[order]

    def explain_fusion(self, sub_results: Sequence[SubResult], doc_idx: int,
                       sub_explanations: Sequence[dict[str, Any] | None] | None = None) -> dict[str, Any]:
        """Lucene-style explanation of one document's fused score, shaped like OpenSearch's hybrid
        explanation: the combination, then one normalisation node per sub-query that returned the document.

        Each normalisation node's single detail is ``sub_explanations[i]`` when given (the sub-query's own
        explanation), else a leaf with the raw score and rank.
        """
        docs, normalized, present = self._normalized(sub_results)
        row = np.searchsorted(docs, doc_idx)
        if row == len(docs) or docs[row] != doc_idx:
            return {"value": 0.0, "description": "document is not in the results of any hybrid sub-query",
                    "details": []}
        self.combination.check(len(sub_results))
        fused = self.combination.combine(normalized[row:row + 1])[0]
        details = []
        for sub, (ids, scores) in enumerate(sub_results):
            if not present[row, sub]:
                continue
            position = int(np.flatnonzero(np.asarray(ids) == doc_idx)[0])
            raw = float(np.float32(np.asarray(scores)[position]))
            leaf = (sub_explanations[sub] if sub_explanations is not None and sub_explanations[sub] is not None
                    else {"value": raw, "description": f"hybrid sub-query [{sub}] score, rank {position + 1}",
                          "details": []})
            details.append({"value": float(normalized[row, sub]),
                            "description": f"{self.normalization.describe()} normalization of:",
                            "details": [leaf]})
        return {"value": float(fused), "description": f"{self.combination.describe()} combination of:",
                "details": details}

    def _normalized(self, sub_results: Sequence[SubResult]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sorted unique docs, their normalised score per sub-query (0.0 where missing), and presence."""
        self.normalization.check(len(sub_results))
        lists = [(np.asarray(ids, dtype=np.int64), np.asarray(scores, dtype=np.float32))
                 for ids, scores in sub_results]
        for sub, (ids, scores) in enumerate(lists):
            if ids.shape != scores.shape or ids.ndim != 1:
                raise ValueError(f"sub-query {sub}: doc ids {ids.shape} and scores {scores.shape} differ")
        docs = np.unique(np.concatenate([ids for ids, _ in lists])) if lists else np.zeros(0, dtype=np.int64)
        normalized = np.zeros((len(docs), len(lists)), dtype=np.float32)
        present = np.zeros((len(docs), len(lists)), dtype=bool)
        for sub, (ids, scores) in enumerate(lists):
            if len(ids):
                rows = np.searchsorted(docs, ids)
                normalized[rows, sub] = self.normalization.normalize(scores, sub)
                present[rows, sub] = True
        return docs, normalized, present


# --- the rerank response processor --------------------------------------------------------------

@dataclass(frozen=True)
class RerankProcessor:
    """``{"rerank": {"ml_opensearch": {"model_id": M}, "context": {"document_fields": [...]}}}``: hits reordered by
    the cross-encoder ``model_id``'s scores of (query text, the document fields' text); the query text (and the
    lab's window) come with each search body, in ``ext.rerank``."""

    model_id: str
    document_fields: tuple[str, ...]
    path: str
    """Where the processor sits in the pipeline body, for error messages."""


def split_response_processors(body: Any) -> tuple[dict[str, Any] | None, RerankProcessor | None]:
    """``body`` without its ``response_processors`` (None when nothing else is left) and the one ``rerank``
    processor they hold (None without any); QueryError naming the path of anything else."""
    if not isinstance(body, dict) or "response_processors" not in body:
        return body, None
    key = "pipeline.response_processors"
    processors = body["response_processors"]
    if not isinstance(processors, list):
        fail(key, f"must be an array, got {json_type(processors)}")
    if len(processors) > 1:
        fail(key, f"the lab runs one response processor, {RERANK}; got {len(processors)}")
    rest = {k: v for k, v in body.items() if k != "response_processors"}
    if not processors:
        return rest, None
    item = _object(processors[0], f"{key}[0]")
    if len(item) != 1 or RERANK not in item:
        kind = next(iter(item), "?")
        fail(f"{key}[0].{kind}", f"not supported: the only response processor the lab runs is {RERANK}")
    path = f"{key}[0].{RERANK}"
    config = _object(item[RERANK], path)
    _only_keys(config, (*PROCESSOR_COMMON_KEYS, RERANKER_TYPE, "context"), path)
    _parse_common(config, path)
    model = _object(config.get(RERANKER_TYPE), f"{path}.{RERANKER_TYPE}")
    _only_keys(model, ("model_id",), f"{path}.{RERANKER_TYPE}")
    model_id = model.get("model_id")
    if not isinstance(model_id, str) or not model_id:
        fail(f"{path}.{RERANKER_TYPE}.model_id", f"must name the cross-encoder model, got {json_type(model_id)}")
    context = _object(config.get("context"), f"{path}.context")
    _only_keys(context, ("document_fields",), f"{path}.context")
    fields = context.get("document_fields")
    if not isinstance(fields, list) or not fields:
        fail(f"{path}.context.document_fields", "must be a non-empty array of field names")
    for i, name in enumerate(fields):
        if not isinstance(name, str) or not name:
            fail(f"{path}.context.document_fields[{i}]", f"must be a field name, got {json_type(name)}")
    processor = RerankProcessor(model_id, tuple(fields), path)
    has_rest = any(k in rest for k in ("phase_results_processors", "request_processors"))
    return (rest if has_rest else None), processor


# --- parsing ------------------------------------------------------------------------------------

def parse_pipeline(body: Any) -> SearchPipeline:
    """Validate an OpenSearch search-pipeline body; QueryError naming the path of anything unsupported."""
    path = "pipeline"
    body = _object(body, path)
    _only_keys(body, ("description", "version", "phase_results_processors", "request_processors",
                      "response_processors"), path)
    for key in ("request_processors", "response_processors"):
        processors = body.get(key, [])
        if not isinstance(processors, list):
            fail(f"{path}.{key}", f"must be an array, got {json_type(processors)}")
        if processors:
            first = processors[0]
            kind = next(iter(first)) if isinstance(first, dict) and first else "?"
            if kind == RERANK:
                fail(f"{path}.{key}[0].{kind}", "the rerank response processor runs in `lab run` (the lab's "
                                                  "cross-encoder over the engine's hits), not in this command")
            fail(f"{path}.{key}[0].{kind}", "not supported: the lab runs only the hybrid phase-results "
                                              f"processors ({NORMALIZATION}, {SCORE_RANKER})")
    processors = body.get("phase_results_processors")
    key = f"{path}.phase_results_processors"
    if not isinstance(processors, list) or len(processors) != 1:
        fail(key, f"must be an array of exactly one {NORMALIZATION} or {SCORE_RANKER}")
    item = _object(processors[0], f"{key}[0]")
    if len(item) != 1:
        fail(f"{key}[0]", "must name exactly one processor")
    kind, config = next(iter(item.items()))
    config_path = f"{key}[0].{kind}"
    if kind == NORMALIZATION:
        return _parse_normalization_processor(_object(config, config_path), config_path)
    if kind == SCORE_RANKER:
        return _parse_score_ranker(_object(config, config_path), config_path)
    fail(config_path, f"unknown processor (supported: {NORMALIZATION}, {SCORE_RANKER})")


def _parse_common(config: dict[str, Any], path: str) -> None:
    for key in ("tag", "description"):
        if key in config and not isinstance(config[key], str):
            fail(f"{path}.{key}", f"must be a string, got {json_type(config[key])}")
    if "ignore_failure" in config and not isinstance(config["ignore_failure"], bool):
        fail(f"{path}.ignore_failure", f"must be a boolean, got {json_type(config['ignore_failure'])}")


def _parse_normalization_processor(config: dict[str, Any], path: str) -> SearchPipeline:
    _only_keys(config, (*PROCESSOR_COMMON_KEYS, "normalization", "combination"), path)
    _parse_common(config, path)
    norm_path = f"{path}.normalization"
    norm_config = _object(config.get("normalization", {}), norm_path)
    _only_keys(norm_config, ("technique", "parameters"), norm_path)
    technique = _string(norm_config, "technique", norm_path, "min_max")
    params_path = f"{norm_path}.parameters"
    params = _object(norm_config.get("parameters", {}), params_path)
    normalization: MinMax | L2 | ZScore
    if technique == "min_max":
        _only_keys(params, ("lower_bounds", "upper_bounds"), params_path)
        normalization = MinMax(_parse_bounds(params, "lower_bounds", "min_score", params_path),
                               _parse_bounds(params, "upper_bounds", "max_score", params_path), params_path)
    elif technique in ("l2", "z_score"):
        if params:
            fail(f"{params_path}.{next(iter(params))}", f"unknown parameter ({technique} takes no parameters)")
        normalization = L2() if technique == "l2" else ZScore()
    elif technique == "rrf":
        fail(f"{norm_path}.technique", f'"rrf" is rank fusion: use the {SCORE_RANKER}')
    else:
        fail(f"{norm_path}.technique", f'unknown "{technique}" (expected min_max, l2, z_score)')
    comb_path = f"{path}.combination"
    comb_config = _object(config.get("combination", {}), comb_path)
    _only_keys(comb_config, ("technique", "parameters"), comb_path)
    combination_name = _string(comb_config, "technique", comb_path, "arithmetic_mean")
    if combination_name not in ("arithmetic_mean", "geometric_mean", "harmonic_mean"):
        fail(f"{comb_path}.technique",
              f'unknown "{combination_name}" (expected arithmetic_mean, geometric_mean, harmonic_mean)')
    if technique == "z_score" and combination_name != "arithmetic_mean":
        fail(f"{comb_path}.technique", "z_score supports only the arithmetic_mean combination technique")
    weights = _parse_combination_parameters(comb_config, f"{comb_path}.parameters")
    return SearchPipeline(NORMALIZATION, normalization,
                          Combination(combination_name, weights, f"{comb_path}.parameters.weights"))


def _parse_score_ranker(config: dict[str, Any], path: str) -> SearchPipeline:
    _only_keys(config, (*PROCESSOR_COMMON_KEYS, "combination"), path)
    _parse_common(config, path)
    comb_path = f"{path}.combination"
    comb_config = _object(config.get("combination", {}), comb_path)
    _only_keys(comb_config, ("technique", "rank_constant", "parameters"), comb_path)
    technique = _string(comb_config, "technique", comb_path, "rrf")
    if technique != "rrf":
        fail(f"{comb_path}.technique", f'unknown "{technique}" (expected rrf)')
    rank_constant = comb_config.get("rank_constant", DEFAULT_RANK_CONSTANT)
    if not isinstance(rank_constant, int) or isinstance(rank_constant, bool):
        fail(f"{comb_path}.rank_constant", f"must be an integer, got {json_type(rank_constant)} "
                                            f"{rank_constant!r}")
    low, high = RANK_CONSTANT_RANGE
    if not low <= rank_constant <= high:
        fail(f"{comb_path}.rank_constant", f"rank constant must be in the interval between {low} and {high}, "
                                            f"submitted rank constant: {rank_constant}")
    weights = _parse_combination_parameters(comb_config, f"{comb_path}.parameters")
    return SearchPipeline(SCORE_RANKER, RRFRanks(rank_constant),
                          Combination("rrf", weights, f"{comb_path}.parameters.weights"))


def _parse_combination_parameters(config: dict[str, Any], path: str) -> np.ndarray | None:
    params = _object(config.get("parameters", {}), path)
    _only_keys(params, ("weights",), path)
    if "weights" not in params:
        return None
    weights_path = f"{path}.weights"
    raw = params["weights"]
    if not isinstance(raw, list):
        fail(weights_path, "parameter [weights] must be a collection of numbers")
    if len(raw) > MAX_SUB_QUERIES:
        fail(weights_path, f"at most {MAX_SUB_QUERIES} weights (a hybrid query has at most "
                            f"{MAX_SUB_QUERIES} sub-queries)")
    for i, weight in enumerate(raw):
        if isinstance(weight, int) and not isinstance(weight, bool):
            fail(f"{weights_path}[{i}]", f"must be a floating-point number: OpenSearch rejects the integer "
                                          f"{weight} (write {weight}.0)")
        if not _is_number(weight):
            fail(f"{weights_path}[{i}]", f"must be a number, got {json_type(weight)}")
    weights = np.array([np.float32(w) for w in raw], dtype=np.float32)
    shown = "[" + ", ".join(_java_float(w) for w in weights) + "]"
    if any(not 0.0 <= w <= 1.0 for w in weights):
        fail(weights_path, f"all weights must be in range [0.0 ... 1.0], submitted weights: {shown}")
    total = np.add.accumulate(weights, dtype=np.float32)[-1] if len(weights) else np.float32(0)
    if abs(1.0 - float(total)) > WEIGHTS_SUM_DELTA:
        fail(weights_path, f"sum of weights for combination must be equal to 1.0, submitted weights: {shown}")
    return weights


def _parse_bounds(params: dict[str, Any], name: str, score_key: str, path: str) -> list[Bound] | None:
    if name not in params:
        return None
    bounds_path = f"{path}.{name}"
    raw = params[name]
    if not isinstance(raw, list):
        fail(bounds_path, f"{name} must be a List")
    if len(raw) > MAX_SUB_QUERIES:
        fail(bounds_path, f"{name} size {len(raw)} should be less than or equal to {MAX_SUB_QUERIES}")
    default = 0.0 if name == "lower_bounds" else 1.0
    bounds = []
    for i, item in enumerate(raw):
        item_path = f"{bounds_path}[{i}]"
        item = _object(item, item_path)
        _only_keys(item, ("mode", score_key), item_path)
        mode = item.get("mode") or "apply"
        if not isinstance(mode, str) or mode.strip().lower() not in ("apply", "clip", "ignore"):
            fail(f"{item_path}.mode", f"invalid mode: {mode}, valid values are: apply, clip, ignore")
        score = item.get(score_key)
        if score is not None and (not _is_number(score) or not -BOUND_SCORE_LIMIT <= score <= BOUND_SCORE_LIMIT):
            fail(f"{item_path}.{score_key}", f"{score_key} must be a valid finite number between "
                                              f"{-BOUND_SCORE_LIMIT:f} and {BOUND_SCORE_LIMIT:f}")
        bounds.append(Bound(mode.strip().lower(),
                            np.float32(default if score is None else score), score))
    return bounds
