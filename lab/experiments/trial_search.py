"""Searching a tune split once per trial: the template rendered with the trial's params, then searched.

Each backend searches trials its own way (``Backend.trial_searcher``): the embedded backend shares clause
matches between trials (:mod:`lab.engine.trials`); a cluster runs every trial as one ``search_batch``. A template
with a second stage (a ``rerank`` response processor, an LTR ``rerank``) runs each trial as ``lab run`` does
(:class:`RunTrials`): the stage needs the first stage's hits and scores, and the reranker's scores are cached.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backends.base import TrialRanker
from ..context import Lab
from ..runner import execute_strategy, render_bodies
from ..templates import Template


def has_second_stage(template: Template) -> bool:
    """Whether ``template`` reorders its first stage's hits: a ``rerank`` response processor or an LTR stage."""
    return template.rerank is not None or bool((template.pipeline or {}).get("response_processors"))


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


class RunTrials:
    """Ranked document ids of every query of the split, each trial run as ``lab run`` runs it (nothing stored)."""

    description = "a normal run per trial (first stage, then its second stage; reranker scores cached)"

    def __init__(self, lab: Lab, template: Template, split: str, query_ids: list[str], size: int):
        self.lab, self.template, self.split, self.query_ids, self.size = lab, template, split, query_ids, size

    def rankings(self, params: dict[str, Any]) -> list[list[str]]:
        ranking = execute_strategy(self.lab, self.template, self.split, params, self.size).ranking  # in rank order
        hits = ranking.groupby("query_id", sort=False)["product_id"]
        by_query = {query_id: list(products) for query_id, products in hits}
        return [by_query.get(query_id, []) for query_id in self.query_ids]
