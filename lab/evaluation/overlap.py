"""How much two rankings agree: Jaccard overlap of their top k, and rank-biased overlap (RBO).

RBO is Webber, Moffat & Zobel (2010), "A similarity measure for indefinite rankings", extrapolated
(RBO_ext, their eq. 30): agreement at each depth d, weighted by p^d, with the agreement at the deepest
rank assumed to continue. Persistence ``p`` = 0.9 puts ~86% of the weight on the top 10. A ranking
shorter than the other is taken as complete (the engine matched no more documents), so its missing
ranks agree with nothing: one hit against a hundred scores low, not 1.
"""

from __future__ import annotations

from typing import Sequence


def jaccard(a: Sequence[str], b: Sequence[str], k: int) -> float:
    """|top-k(a) ∩ top-k(b)| / |top-k(a) ∪ top-k(b)|; 1.0 when both are empty."""
    top_a, top_b = set(a[:k]), set(b[:k])
    union = top_a | top_b
    return len(top_a & top_b) / len(union) if union else 1.0


def rbo(a: Sequence[str], b: Sequence[str], p: float = 0.9) -> float:
    """Extrapolated rank-biased overlap of two rankings (without duplicates), in [0, 1]; 1.0 when both
    are empty."""
    if not 0 < p < 1:
        raise ValueError(f"RBO persistence p must be in (0, 1), got {p}")
    depth = max(len(a), len(b))
    if depth == 0:
        return 1.0
    seen_a: set[str] = set()
    seen_b: set[str] = set()
    overlap = 0
    total = 0.0
    for d in range(1, depth + 1):
        x = a[d - 1] if d <= len(a) else None
        y = b[d - 1] if d <= len(b) else None
        if x is not None and x == y:
            overlap += 1
        else:
            overlap += (x is not None and x in seen_b) + (y is not None and y in seen_a)
        if x is not None:
            seen_a.add(x)
        if y is not None:
            seen_b.add(y)
        total += overlap / d * p ** d
    return (1 - p) / p * total + overlap / depth * p ** depth
