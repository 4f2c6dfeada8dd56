"""The top-k selection every search ends with, against Python's own sort by (score descending, position)."""

from __future__ import annotations

import numpy as np
import pytest

from lab.engine.matches import top


@pytest.mark.parametrize("seed", range(20))
def test_top_k_is_score_descending_then_position_ascending(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    scores = rng.choice(np.linspace(0.5, 3.0, int(rng.integers(1, 12))), size=n).astype(np.float32)  # many ties
    for k in (1, 2, 10, 100, n - 1, n, n + 5):
        expected = sorted(range(n), key=lambda i: (-float(scores[i]), i))[:max(k, 0)]
        assert top(scores, k).tolist() == expected


def test_nothing_to_choose():
    assert top(np.zeros(0, dtype=np.float32), 10).tolist() == []
    assert top(np.ones(3, dtype=np.float32), 0).tolist() == []
