"""Paired tests, Holm's correction, ranking overlap, table formats and tuning search spaces."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import ttest_rel

from lab.errors import LabError
from lab.experiments.formats import latex_table, markdown_table
from lab.evaluation.overlap import jaccard, rbo
from lab.experiments.search_space import grid, parse_dimension, random_points, simplex
from lab.evaluation.stats import holm, paired_t_test, randomization_test
from lab.templates import load_template

QUERIES = Path(__file__).resolve().parent.parent / "queries"


def test_t_test_is_scipys_paired_test_as_ranx_runs_it():
    rng = np.random.default_rng(1)
    a = rng.random(200)
    b = a + rng.normal(0.03, 0.1, 200)
    assert paired_t_test(a, b) == pytest.approx(ttest_rel(b, a).pvalue, rel=1e-12)
    assert paired_t_test(a, a) == 1.0
    assert paired_t_test(a, a + 0.1) == 0.0


def test_randomization_test_is_reproducible_and_agrees_with_the_t_test():
    rng = np.random.default_rng(2)
    a = rng.random(300)
    b = a + rng.normal(0.02, 0.1, 300)
    first = randomization_test(a, b, permutations=4000, seed=7)
    assert first == randomization_test(a, b, permutations=4000, seed=7)
    assert abs(first - paired_t_test(a, b)) < 0.03  # both approximate the same null distribution
    assert randomization_test(a, a, permutations=500) == 1.0
    assert randomization_test(a, a + 1.0, permutations=999) == pytest.approx(1 / 1000)


def test_randomization_test_is_two_sided_as_the_exact_test_over_all_sign_patterns():
    # differences 0.3 0.1 0.2 -0.1 0.5 0.4: magnitudes sum to 1.6, observed |sum| 1.4. A sign pattern reaches
    # |1.6 - 2F| >= 1.4 when the magnitudes it makes negative sum to F <= 0.1 (none, or either 0.1: 3 patterns) or,
    # mirrored, F >= 1.5 (3 patterns): 6 of 2^6 = 64, so the exact two-sided p is 3/32 (one-sided: 3/64).
    treatment = np.array([0.3, 0.1, 0.2, -0.1, 0.5, 0.4])
    for seed in (1, 2, 3):
        assert randomization_test(np.zeros(6), treatment, permutations=20_000, seed=seed) == \
            pytest.approx(3 / 32, abs=0.01)


def test_holm_adjusts_step_down_and_keeps_order():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5]) == [0.5]
    assert holm([0.2, 0.9, 0.001, 0.04]) == pytest.approx([0.4, 0.9, 0.004, 0.12])
    assert holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])


def test_overlap_of_rankings():
    assert jaccard(list("abcd"), list("abxy"), 4) == pytest.approx(2 / 6)
    assert jaccard([], [], 10) == 1.0
    assert rbo(list("abcdef"), list("abcdef")) == pytest.approx(1.0)
    assert rbo(list("abc"), list("xyz")) == 0.0
    # swapping the first two ranks: agreement 0, 1, 1, ... -> RBO_ext = 1 - (1 - p) = p
    assert rbo(list("bacde"), list("abcde"), p=0.9) == pytest.approx(0.9)
    # a complete one-hit ranking against a long one agrees only on its hit
    one = rbo(["a"], ["a", *map(str, range(99))], p=0.9)
    assert 0.2 < one < 0.3
    assert rbo(["a"], ["a", *map(str, range(99))]) == rbo(["a", *map(str, range(99))], ["a"])
    with pytest.raises(ValueError):
        rbo(["a"], ["a"], p=1.0)


def test_markdown_and_latex_tables():
    header, rows = ["strategy", "mean", "Δ"], [["bm25_a", "0.5000", "+0.0100"], ["50% & more", "0.4000", ""]]
    md = markdown_table(header, rows)
    assert md.splitlines()[1] == "|:---|---:|---:|"
    assert "| bm25_a | 0.5000 | +0.0100 |" in md
    tex = latex_table(header, rows, caption="α = 0.05")
    assert r"\begin{tabular}{lrr}" in tex and r"50\% \& more" in tex and r"bm25\_a" in tex
    assert r"$\Delta$" in tex and r"\caption{$\alpha$ = 0.05}" in tex


# --- search spaces -------------------------------------------------------------------------------

def _template(name: str):
    return load_template(QUERIES / f"{name}.json")


def test_lists_and_inclusive_ranges():
    t = _template("hybrid_boosted")
    assert parse_dimension("title_boost=1,2,4,8", t).values == (1, 2, 4, 8)
    assert parse_dimension("knn_boost=10:100:10", t).values == tuple(range(10, 101, 10))
    assert parse_dimension("knn_boost=0.5:2:0.5", t).values == (0.5, 1.0, 1.5, 2.0)
    assert parse_dimension("knn_boost=[1, 3]", t).values == (1, 3)


def test_weights_are_a_simplex():
    t = _template("hybrid_minmax")
    values = parse_dimension("weights=0.1:0.9:0.1", t).values
    assert values[0] == [0.1, 0.9] and values[-1] == [0.9, 0.1] and len(values) == 9
    assert all(abs(sum(v) - 1) < 1e-12 for v in values)
    assert parse_dimension("weights=[[0.3,0.7],[0.5,0.5]]", t).values == ([0.3, 0.7], [0.5, 0.5])
    three = simplex([0.0, 0.5, 1.0], 3)
    assert sorted(map(tuple, three)) == sorted({(0.0, 0.5, 0.5), (0.5, 0.0, 0.5), (0.5, 0.5, 0.0), (1.0, 0.0, 0.0),
                                                (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)})


@pytest.mark.parametrize("item, message", [
    ("title_boost=4:1:1", "the range is empty"),
    ("title_boost=1:4:0", "step must be positive"),
    ("title_boost=1:2", "start:stop:step"),
    ("title_boost=,", "the range is empty"),
    ("title_boost=", "expected NAME=SPEC"),
    ("nope=1,2", "has no param 'nope'"),
    ("title_boost=1,true", "not of the kind"),
    ("weights=0.6:0.9:0.1", "sum to 1"),
    ("weights=[[0.4,0.4]]", "must be >= 0 and sum to 1"),
    ("weights=[[0.5,0.2,0.3]]", "must be 2 numbers"),
    ("weights=0.3,0.7", "array param"),
])
def test_bad_specs_are_one_clear_error(item, message):
    with pytest.raises(LabError, match=message):
        parse_dimension(item, _template("hybrid_minmax"))


def test_grid_and_seeded_random_points():
    t = _template("textsearch_boosted")
    dims = [parse_dimension("title_boost=1,2,4", t), parse_dimension("description_boost=1,2", t)]
    points = grid(dims)
    assert len(points) == 6 and points[0] == {"title_boost": 1, "description_boost": 1}
    drawn = random_points(dims, 4, seed=3)
    assert len(drawn) == 4 and len({json.dumps(p, sort_keys=True) for p in drawn}) == 4
    assert all(p in points for p in drawn)
    assert drawn == random_points(dims, 4, seed=3)
    assert sorted(map(json.dumps, random_points(dims, 50, seed=3))) == sorted(map(json.dumps, points))
