"""Searching a tune split once per trial: the template rendered with the trial's params, then searched.

Each backend searches trials its own way (``Backend.trial_searcher``): the embedded backend shares clause
matches between trials (:mod:`lab.engine.trials`); a cluster runs every trial as one ``search_batch``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backends.base import TrialRanker
from ..runner import render_bodies
from ..templates import Template


class TrialSearch:
    """Ranked document ids of every query of the split, for one set of template params."""

    def __init__(self, searcher: TrialRanker, template: Template, texts: list[str], vectors: np.ndarray | None,
                 size: int):
        self.searcher, self.template = searcher, template
        self.texts, self.vectors, self.size = texts, vectors, size
        self.description = searcher.description

    def rankings(self, params: dict[str, Any]) -> list[list[str]]:
        bodies, pipeline = render_bodies(self.template, params, self.texts, self.vectors, self.size)
        return self.searcher.rankings(bodies, pipeline)
