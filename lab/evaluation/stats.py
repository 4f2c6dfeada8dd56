"""Paired significance tests over per-query metric values, and Holm's step-down correction.

The t-test is the one ranx's ``compare`` runs (scipy's two-sided ``ttest_rel``). The randomization
test is Fisher's paired (sign-flip) test, as in ranx, but with a seeded numpy generator and the
add-one estimate ``(hits + 1) / (permutations + 1)``: ranx's numba version draws from per-thread
generators and gives a different p-value on every call, which a CI gate cannot use.
"""

from __future__ import annotations

import math

import numpy as np

TESTS = ("t-test", "fisher")
"""Paired tests the lab runs: Student's paired t-test, Fisher's randomization test."""

PERMUTATION_CHUNK = 1000


def paired_t_test(control: np.ndarray, treatment: np.ndarray) -> float:
    """Two-sided paired Student's t-test; 1.0 when the two agree on every query."""
    from scipy.stats import ttest_rel

    diff = np.asarray(treatment, dtype=float) - np.asarray(control, dtype=float)
    if len(diff) < 2 or np.allclose(diff, diff[0], rtol=0.0, atol=1e-12):
        return 1.0 if len(diff) < 2 or abs(diff[0]) <= 1e-12 else 0.0
    return float(ttest_rel(treatment, control, alternative="two-sided").pvalue)


def randomization_test(control: np.ndarray, treatment: np.ndarray, permutations: int = 10_000,
                       seed: int = 42) -> float:
    """Two-sided paired randomization test: how often randomly swapping each query's pair of values
    gives a mean difference at least as large as the observed one."""
    diff = np.asarray(treatment, dtype=float) - np.asarray(control, dtype=float)
    if len(diff) == 0:
        return 1.0
    observed = abs(diff.mean()) - 1e-12  # ties (e.g. the identity permutation) count as hits
    rng = np.random.default_rng(seed)
    hits, done = 0, 0
    while done < permutations:
        n = min(PERMUTATION_CHUNK, permutations - done)
        signs = rng.integers(0, 2, size=(n, len(diff)), dtype=np.int8) * 2 - 1
        hits += int(np.count_nonzero(np.abs(signs @ diff) / len(diff) >= observed))
        done += n
    return (hits + 1) / (permutations + 1)


def paired_p_value(control: np.ndarray, treatment: np.ndarray, test: str, permutations: int = 10_000,
                   seed: int = 42) -> float:
    """The p-value of ``test`` (one of TESTS) for two aligned arrays of per-query values."""
    if test == "t-test":
        return paired_t_test(control, treatment)
    if test == "fisher":
        return randomization_test(control, treatment, permutations, seed)
    raise ValueError(f"unknown test {test!r} (known: {', '.join(TESTS)})")


def holm(p_values: list[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (same order as given), for a family of comparisons."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        value = p_values[i]
        running = max(running, min(1.0, (m - rank) * value) if not math.isnan(value) else 1.0)
        adjusted[i] = running
    return adjusted


def format_p_value(p: float) -> str:
    """A p-value to 4 decimals, ``< 0.0001`` below that (never a misleading ``0.0000``)."""
    return "< 0.0001" if p < 0.0001 else f"{p:.4f}"
