"""Evaluation in one place: ranking metrics over graded judgments (ranx), paired significance tests, ranking
overlap (Jaccard, RBO), and top-k same-class precision of embeddings."""

from __future__ import annotations

from .metrics import DEFAULT_METRICS, PRIMARY_METRIC, check_metric, evaluate_ranking, mean_metrics

__all__ = ["DEFAULT_METRICS", "PRIMARY_METRIC", "check_metric", "evaluate_ranking", "mean_metrics"]
