"""Datasets: the model (products, queries with splits, graded judgments) and its importers."""

from __future__ import annotations

from .beir import import_beir
from .dataset import Dataset
from .demo import generate_demo
from .homedepot import import_homedepot
from .splits import SPLITS, UNLABELED, assert_no_test_leakage

__all__ = ["Dataset", "SPLITS", "UNLABELED", "assert_no_test_leakage", "generate_demo", "import_beir",
           "import_homedepot"]
