"""Searching a tune split once per trial: the template rendered with the trial's params, then searched.

A backend that offers ``trial_searcher(index)`` searches trials its own way (the embedded backend
shares clause matches between trials: :mod:`lab.engine.trials`); any other backend (an OpenSearch
cluster) runs every trial as one ``search_batch``.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from ..backends.base import Backend
from ..runner import render_bodies
from ..templates import Template


class BodySearcher(Protocol):
    """Ranked document ids of each rendered body of one trial."""

    description: str

    def rankings(self, bodies: list[dict[str, Any]], pipeline: dict[str, Any] | None) -> list[list[str]]: ...


class BatchSearcher:
    """Each trial is one ``search_batch`` on the backend (any backend, e.g. an OpenSearch cluster)."""

    description = "backend search per trial"

    def __init__(self, backend: Backend, index: str, strategy: str):
        self.backend, self.index, self.strategy = backend, index, strategy

    def rankings(self, bodies: list[dict[str, Any]], pipeline: dict[str, Any] | None) -> list[list[str]]:
        results = self.backend.search_batch(self.index, bodies, pipeline, strategy=self.strategy)
        return [[hit.doc_id for hit in result.hits] for result in results]


def body_searcher(backend: Backend, index: str, strategy: str) -> BodySearcher:
    """The backend's own trial searcher where it has one (the embedded engine's), else a search_batch per trial."""
    own = getattr(backend, "trial_searcher", None)
    return own(index) if own is not None else BatchSearcher(backend, index, strategy)


class TrialSearch:
    """Ranked document ids of every query of the split, for one set of template params."""

    def __init__(self, searcher: BodySearcher, template: Template, texts: list[str], vectors: np.ndarray | None,
                 size: int):
        self.searcher, self.template = searcher, template
        self.texts, self.vectors, self.size = texts, vectors, size
        self.description = searcher.description

    def rankings(self, params: dict[str, Any]) -> list[list[str]]:
        bodies, pipeline = render_bodies(self.template, params, self.texts, self.vectors, self.size)
        return self.searcher.rankings(bodies, pipeline)
