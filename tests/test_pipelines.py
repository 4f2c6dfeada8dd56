"""Search pipelines: hand-computed normalisation and combination values, in float32 as neural-search does."""

from __future__ import annotations

import numpy as np
import pytest

from lab.engine.pipelines import ZScore, parse_pipeline, rrf_rank_score
from lab.errors import QueryError

f32 = np.float32


def sub(ids: list[int], scores: list[float]) -> tuple[np.ndarray, np.ndarray]:
    return np.array(ids, dtype=np.int64), np.array(scores, dtype=np.float32)


def normalization(technique: str = "min_max", combination: str = "arithmetic_mean", weights=None,
                  parameters=None) -> dict:
    norm = {"technique": technique, **({"parameters": parameters} if parameters else {})}
    comb = {"technique": combination, **({"parameters": {"weights": weights}} if weights else {})}
    return {"phase_results_processors": [{"normalization-processor": {"normalization": norm,
                                                                       "combination": comb}}]}


def rrf(rank_constant=None, weights=None) -> dict:
    comb: dict = {"technique": "rrf"}
    if rank_constant is not None:
        comb["rank_constant"] = rank_constant
    if weights is not None:
        comb["parameters"] = {"weights": weights}
    return {"phase_results_processors": [{"score-ranker-processor": {"combination": comb}}]}


def fused(body: dict, *subs) -> dict[int, np.float32]:
    docs, scores = parse_pipeline(body).fuse(list(subs))
    assert scores.dtype == np.float32 and docs.dtype == np.int64
    return dict(zip(docs.tolist(), scores.tolist()))


TEXT = sub([0, 1, 2], [4.0, 3.0, 2.0])
VECTOR = sub([2, 3], [0.8, 0.6])


# --- min_max -------------------------------------------------------------------------------------

def test_min_max_arithmetic_mean_counts_missing_sub_query_as_zero():
    # text: 4 -> 1, 3 -> 0.5, 2 -> 0 -> 0.001; vector: 0.8 -> 1, 0.6 -> 0.001
    docs, scores = parse_pipeline(normalization()).fuse([TEXT, VECTOR])
    assert docs.tolist() == [2, 0, 1, 3]
    assert scores.tolist() == [(f32(0.001) + f32(1)) / f32(2), f32(1) / f32(2), f32(0.5) / f32(2),
                               f32(0.001) / f32(2)]


def test_min_max_weights_are_applied_and_normalised_by_their_sum():
    got = fused(normalization(weights=[0.3, 0.7]), TEXT, VECTOR)
    w1, w2 = f32(0.3), f32(0.7)
    assert got[2] == (f32(0.001) * w1 + f32(1) * w2) / (w1 + w2)
    assert got[0] == (f32(1) * w1 + f32(0) * w2) / (w1 + w2)
    assert got[3] == (f32(0) * w1 + f32(0.001) * w2) / (w1 + w2)


def test_min_max_uses_float32_arithmetic():
    scores = [0.7, 0.3, 0.1]
    got = fused(normalization(), sub([0, 1, 2], scores))
    s = np.array(scores, dtype=np.float32)
    assert got[1] == ((s[1] - s[2]) / (s[0] - s[2])) / f32(1)


def test_single_hit_and_all_equal_scores_normalise_to_one():
    assert fused(normalization(), sub([7], [3.5])) == {7: 1.0}
    assert fused(normalization(), sub([1, 2, 3], [2.0, 2.0, 2.0])) == {1: 1.0, 2: 1.0, 3: 1.0}


@pytest.mark.parametrize("bound, expected", [
    ({"mode": "apply", "min_score": 4.0}, [1.0, f32(2) / f32(6), 0.001]),   # 2 is below the bound: plain min
    ({"mode": "clip", "min_score": 4.0}, [1.0, f32(2) / f32(6), 0.001]),    # clipped to the minimum score
    ({"mode": "ignore", "min_score": 4.0}, [1.0, 0.5, 0.001]),
    ({"min_score": 1.0}, [1.0, f32(5) / f32(9), f32(1) / f32(9)]),          # apply is the default mode
])
def test_min_max_lower_bounds(bound, expected):
    got = fused(normalization(parameters={"lower_bounds": [bound]}), sub([0, 1, 2], [10.0, 6.0, 2.0]))
    assert [got[0], got[1], got[2]] == [f32(v) for v in expected]


@pytest.mark.parametrize("bound, expected", [
    ({"mode": "clip", "max_score": 8.0}, [1.0, f32(4) / f32(6), 0.001]),    # 10 is above: clipped to 1.0
    ({"mode": "apply", "max_score": 8.0}, [1.0, f32(4) / f32(6), 0.001]),   # 10 keeps the real maximum
    ({"mode": "ignore", "max_score": 8.0}, [1.0, 0.5, 0.001]),
])
def test_min_max_upper_bounds(bound, expected):
    got = fused(normalization(parameters={"upper_bounds": [bound]}), sub([0, 1, 2], [10.0, 6.0, 2.0]))
    assert [got[0], got[1], got[2]] == [f32(v) for v in expected]


def test_bounds_must_match_the_sub_query_count():
    pipeline = parse_pipeline(normalization(parameters={"lower_bounds": [{"mode": "apply"}]}))
    with pytest.raises(QueryError, match=r"normalization\.parameters: expected bounds array to contain 2 "):
        pipeline.fuse([TEXT, VECTOR])


# --- l2 and z_score ------------------------------------------------------------------------------

def test_l2_divides_by_the_norm_of_each_sub_query():
    got = fused(normalization("l2"), sub([0, 1], [3.0, 4.0]), sub([1], [2.0]))
    assert got == {0: f32(0.6) / f32(2), 1: (f32(0.8) + f32(1)) / f32(2)}


def test_z_score_uses_sample_standard_deviation_and_neural_search_edge_rules():
    # mean 2, sample std sqrt((4 + 0 + 4) / 2) = 2: 4 -> z 1; 0 -> z -1 -> 0.001;
    # 2 equals the mean -> the sub-query's max raw score (4.0), as neural-search returns it.
    got = fused(normalization("z_score"), sub([0, 1, 2], [4.0, 2.0, 0.0]))
    assert got == {0: 1.0, 1: 4.0, 2: f32(0.001)}
    assert ZScore.statistics(np.array([4.0, 2.0, 0.0], dtype=np.float32)) == (2.0, 2.0)


def test_z_score_single_hit_and_equal_scores_keep_the_raw_score():
    assert fused(normalization("z_score"), sub([5], [3.25])) == {5: 3.25}
    assert fused(normalization("z_score"), sub([1, 2], [1.5, 1.5])) == {1: 1.5, 2: 1.5}


def test_z_score_accepts_only_arithmetic_mean():
    with pytest.raises(QueryError, match="combination.technique: z_score supports only the arithmetic_mean"):
        parse_pipeline(normalization("z_score", "geometric_mean"))


# --- geometric and harmonic means ----------------------------------------------------------------

def test_geometric_and_harmonic_means_use_only_positive_scores():
    a, b = sub([0, 1, 9], [5.0, 2.0, 1.0]), sub([0, 2, 9], [5.0, 2.0, 1.0])
    # normalised: doc 0 -> 1, 1; doc 1 -> 0.25 (only in a); doc 2 -> 0.25 (only in b); doc 9 -> 0.001, 0.001
    geometric = fused(normalization(combination="geometric_mean"), a, b)
    assert geometric[0] == 1.0
    assert geometric[1] == pytest.approx(0.25, rel=1e-6) and geometric[2] == pytest.approx(0.25, rel=1e-6)
    assert geometric[9] == pytest.approx(0.001, rel=1e-6)
    harmonic = fused(normalization(combination="harmonic_mean"), a, b)
    assert harmonic[0] == 1.0 and harmonic[1] == 0.25 and harmonic[9] == pytest.approx(0.001, rel=1e-6)


def test_weighted_geometric_and_harmonic_means():
    a, b = sub([0, 5], [2.0, 1.0]), sub([5, 0], [2.0, 1.0])  # doc 0 -> (1, 0.001), doc 5 -> (0.001, 1)
    w = [0.25, 0.75]
    geometric = fused(normalization(combination="geometric_mean", weights=w), a, b)
    assert geometric[0] == pytest.approx(np.exp(0.75 * np.log(0.001)), rel=1e-6)
    harmonic = fused(normalization(combination="harmonic_mean", weights=w), a, b)
    assert harmonic[5] == pytest.approx(1.0 / (0.25 / 0.001 + 0.75 / 1.0), rel=1e-6)


# --- score-ranker (RRF) --------------------------------------------------------------------------

def test_rrf_rank_scores_are_rounded_to_ten_decimals_then_float32():
    assert rrf_rank_score(61) == f32(0.0163934426)
    assert rrf_rank_score(3) == f32(0.3333333333)
    assert rrf_rank_score(8) == f32(0.125)


def test_rrf_sums_reciprocal_ranks_and_breaks_ties_by_doc_idx():
    docs, scores = parse_pipeline(rrf()).fuse([sub([9, 4, 2], [3.0, 2.0, 1.0]), sub([2, 7], [0.9, 0.5])])
    # 2: ranks 3 and 1; 9: rank 1; 4 and 7: rank 2 (tie -> 4 first)
    assert docs.tolist() == [2, 9, 4, 7]
    assert scores.tolist() == [rrf_rank_score(63) + rrf_rank_score(61), rrf_rank_score(61),
                               rrf_rank_score(62), rrf_rank_score(62)]


def test_rrf_rank_constant_and_weights():
    got = fused(rrf(rank_constant=1, weights=[0.7, 0.3]), sub([1, 2], [2.0, 1.0]), sub([2], [5.0]))
    assert got[1] == rrf_rank_score(2) * f32(0.7)
    assert got[2] == rrf_rank_score(3) * f32(0.7) + rrf_rank_score(2) * f32(0.3)


@pytest.mark.parametrize("rank_constant, message", [
    (0, "rank constant must be in the interval between 1 and 10000, submitted rank constant: 0"),
    (10_001, "submitted rank constant: 10001"),
    (60.0, "rank_constant: must be an integer"),
    ("60", "rank_constant: must be an integer"),
])
def test_rrf_rank_constant_range(rank_constant, message):
    with pytest.raises(QueryError, match=message):
        parse_pipeline(rrf(rank_constant=rank_constant))


def test_rrf_matches_ranx_fusion():
    from ranx import Run, fuse

    rng = np.random.default_rng(7)
    lists = []
    for _ in range(3):
        ids = rng.choice(200, size=50, replace=False)
        lists.append(sub(ids.tolist(), sorted(rng.random(50).tolist(), reverse=True)))
    docs, scores = parse_pipeline(rrf(rank_constant=60)).fuse(lists)
    runs = [Run({"q": {f"d{i}": float(s) for i, s in zip(ids, ss)}}) for ids, ss in lists]
    expected = fuse(runs, norm=None, method="rrf", params={"k": 60}).to_dict()["q"]
    assert {f"d{d}" for d in docs.tolist()} == set(expected)
    for doc, score in zip(docs.tolist(), scores.tolist()):
        assert score == pytest.approx(expected[f"d{doc}"], rel=1e-6)


# --- shape, empty input, explanation -------------------------------------------------------------

def test_empty_and_partly_empty_sub_queries():
    docs, scores = parse_pipeline(normalization()).fuse([sub([], []), sub([], [])])
    assert docs.tolist() == [] and scores.dtype == np.float32
    assert fused(normalization(), sub([], []), sub([3], [1.0])) == {3: 0.5}


def test_explain_fusion_matches_fuse():
    pipeline = parse_pipeline(normalization(weights=[0.3, 0.7]))
    explanation = pipeline.explain_fusion([TEXT, VECTOR], 2)
    assert explanation["value"] == fused(normalization(weights=[0.3, 0.7]), TEXT, VECTOR)[2]
    assert explanation["description"] == "arithmetic_mean, weights [0.3, 0.7] combination of:"
    assert [d["value"] for d in explanation["details"]] == [f32(0.001), 1.0]
    assert explanation["details"][0]["description"] == "min_max normalization of:"
    assert explanation["details"][0]["details"][0] == {
        "value": 2.0, "description": "hybrid sub-query [0] score, rank 3", "details": []}
    own = {"value": 0.8, "description": "within top 2 docs", "details": []}
    assert pipeline.explain_fusion([TEXT, VECTOR], 2, [None, own])["details"][1]["details"] == [own]
    assert pipeline.explain_fusion([TEXT, VECTOR], 0)["details"][0]["value"] == 1.0
    assert len(pipeline.explain_fusion([TEXT, VECTOR], 0)["details"]) == 1
    assert pipeline.explain_fusion([TEXT, VECTOR], 42)["value"] == 0.0


def test_explain_rrf_describes_rank_constant():
    explanation = parse_pipeline(rrf(rank_constant=40)).explain_fusion([TEXT, VECTOR], 2)
    assert explanation["description"] == "rrf combination of:"
    assert explanation["details"][0]["description"] == "rrf, rank_constant [40] normalization of:"
    assert explanation["value"] == rrf_rank_score(43) + rrf_rank_score(41)


# --- errors --------------------------------------------------------------------------------------

PROC = "pipeline.phase_results_processors[0]"


@pytest.mark.parametrize("body, message", [
    (normalization("foo"),
     f'{PROC}.normalization-processor.normalization.technique: unknown "foo" (expected min_max, l2, z_score)'),
    (normalization(combination="max"), f'{PROC}.normalization-processor.combination.technique: unknown "max"'),
    (normalization("rrf"), "use the score-ranker-processor"),
    (normalization("l2", parameters={"lower_bounds": []}),
     f"{PROC}.normalization-processor.normalization.parameters.lower_bounds: unknown parameter"),
    (normalization(parameters={"lower_bounds": [{"mode": "floor"}]}), "invalid mode: floor"),
    (normalization(parameters={"lower_bounds": [{"min_score": 20000}]}),
     "lower_bounds[0].min_score: min_score must be a valid finite number"),
    (normalization(parameters={"upper_bounds": [{"min_score": 0.5}]}), "upper_bounds[0].min_score: unknown"),
    (normalization(weights=[0.5, 0.2]),
     "sum of weights for combination must be equal to 1.0, submitted weights: [0.5, 0.2]"),
    (normalization(weights=[1.5, -0.5]), "all weights must be in range [0.0 ... 1.0]"),
    (normalization(weights=[1, 0]), "weights[0]: must be a floating-point number"),
    (normalization(weights=["a"]), "weights[0]: must be a number, got a string"),
    ({"phase_results_processors": [{"collapse": {}}]}, f"{PROC}.collapse: unknown processor"),
    ({"phase_results_processors": []}, "must be an array of exactly one"),
    ({"phase_results_processors": [{"normalization-processor": {"sub_query_scores": True}}]},
     "normalization-processor.sub_query_scores: unknown parameter"),
    ({"request_processors": [{"filter_query": {}}], "phase_results_processors": [{"score-ranker-processor": {}}]},
     "pipeline.request_processors[0].filter_query: not supported"),
    ({"phase_results_processors": [{"score-ranker-processor": {"combination": {"technique": "rsf"}}}]},
     'score-ranker-processor.combination.technique: unknown "rsf" (expected rrf)'),
    ([1], "pipeline: must be a JSON object, got an array"),
])
def test_unsupported_pipelines_name_the_path(body, message):
    with pytest.raises(QueryError) as info:
        parse_pipeline(body)
    assert message in str(info.value)


def test_weights_must_match_the_sub_query_count():
    pipeline = parse_pipeline(normalization(weights=[0.2, 0.3, 0.5]))
    with pytest.raises(QueryError, match=r"combination\.parameters\.weights: number of weights \[3\] must match "
                                         r"number of sub-queries \[2\] in hybrid query"):
        pipeline.fuse([TEXT, VECTOR])


def test_defaults_are_min_max_and_arithmetic_mean():
    body = {"description": "defaults", "phase_results_processors": [{"normalization-processor": {"tag": "t"}}]}
    assert fused(body, TEXT, VECTOR) == fused(normalization(), TEXT, VECTOR)
