"""Scores as a cluster's JSON shows them: the vectorised shortest-decimal reading against Python's own printing."""

from __future__ import annotations

import numpy as np

from lab.engine.printed import printed


def test_every_float32_reads_as_python_prints_it():
    rng = np.random.default_rng(7)
    values = np.concatenate([
        (rng.random(200_000) * 40).astype(np.float32),  # BM25-like scores
        rng.random(50_000).astype(np.float32),  # k-NN similarities
        np.round(rng.random(20_000) * 100, 2).astype(np.float32),  # short decimals
        np.exp(rng.uniform(-60, 60, 50_000)).astype(np.float32),  # beyond 10**±12: Python prints them
        rng.integers(0, 2 ** 32, 100_000, dtype=np.uint64).astype(np.uint32).view(np.float32),  # any bit pattern
        np.array([0.0, -0.0, 1.0, 10.0, 0.1, 1e-45, 3.4028235e38, 16777217.0, np.inf, -np.inf, np.nan],
                 dtype=np.float32)])
    expected = np.array([float(str(v)) for v in values])
    got = printed(values)
    same = (got == expected) | (np.isnan(got) & np.isnan(expected))
    assert same.all(), values[~same][:5]
    assert np.signbit(got[values == 0]).tolist() == np.signbit(expected[values == 0]).tolist()


def test_short_decimals_come_back_short():
    assert printed(np.array([0.1, 2.5, 13.7, 0.3333333], dtype=np.float32)).tolist() == [0.1, 2.5, 13.7, 0.3333333]
