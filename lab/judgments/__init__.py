"""Closing the judging loop: pool the unjudged hits of runs for raters, import their grades with provenance,
measure judgments and rater agreement, and rescore stored runs against new judgments."""

from __future__ import annotations

from .merge import import_grades
from .pool import pool_runs
from .rescore import rescore_runs
from .stats import judgment_stats

__all__ = ["import_grades", "judgment_stats", "pool_runs", "rescore_runs"]
