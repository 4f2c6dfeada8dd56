"""Searching a tune split once per trial, fast: what trials share is computed once.

Every trial renders the template with its params and plans the searches with the embedded engine,
exactly as a run does; what differs is execution. A query's score is assembled from its clauses
(Lucene's BooleanQuery sums its clauses' scores; a hybrid query fuses its sub-queries' top hits),
and most clauses are the same in many trials: with ``title_boost`` and ``description_boost`` tuned,
the description clause at boost 2 scores the same documents the same way in every trial that sets
it to 2, and a k-NN clause does not change when only fusion weights do. So each query's clause
matches are memoized by the clause's structure (the engine's ``Node.key()``), its own boost and the
boost its parent passes down, which determine them; a trial then only combines the memoized clauses
with the engine's own Bool and pipeline code, batch by batch as the embedded backend searches. The
rankings are the backend's bit for bit (the tests compare them with runs).

Other backends (an OpenSearch cluster) run every trial as one ``search_batch``.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from ..backends.base import Backend
from ..backends.embedded import BATCH_SIZE
from ..engine import EmbeddedIndex
from ..engine import search as searching
from ..engine.context import Context
from ..engine.matches import Matches
from ..engine.nodes import Bool, Knn, Node
from ..engine.pipelines import SearchPipeline, parse_pipeline
from ..engine.similarity import ONE
from ..runner import render_bodies
from ..templates import Template

MEMO_BUDGET_BYTES = 1 << 30
"""Memoized clause matches kept at most (least recently used ones are dropped first)."""


class TrialSearcher(Protocol):
    """Ranked document ids of every query of the split, for one set of template params."""

    description: str

    def rankings(self, params: dict[str, Any]) -> list[list[str]]: ...


class BackendTrials:
    """Each trial is one ``search_batch`` on the backend (any backend, e.g. an OpenSearch cluster)."""

    description = "backend search per trial"

    def __init__(self, backend: Backend, index: str, template: Template, texts: list[str],
                 vectors: np.ndarray | None, size: int):
        self.backend, self.index, self.template = backend, index, template
        self.texts, self.vectors, self.size = texts, vectors, size

    def rankings(self, params: dict[str, Any]) -> list[list[str]]:
        bodies, pipeline = render_bodies(self.template, params, self.texts, self.vectors, self.size)
        results = self.backend.search_batch(self.index, bodies, pipeline, strategy=self.template.name)
        return [[hit.doc_id for hit in result.hits] for result in results]


class MemoizedEngineTrials:
    """Trials on an embedded index, clause matches shared between trials (see the module doc)."""

    description = "embedded engine, clause matches shared between trials"

    def __init__(self, index: EmbeddedIndex, template: Template, texts: list[str], vectors: np.ndarray | None,
                 size: int, budget_bytes: int = MEMO_BUDGET_BYTES):
        self.index, self.template = index, template
        self.texts, self.vectors, self.size = texts, vectors, size
        self.memo = ClauseMemo(budget_bytes)

    def rankings(self, params: dict[str, Any]) -> list[list[str]]:
        bodies, pipeline_body = render_bodies(self.template, params, self.texts, self.vectors, self.size)
        pipeline = None if pipeline_body is None else parse_pipeline(pipeline_body)
        out: list[list[str]] = []
        for lo in range(0, len(bodies), BATCH_SIZE):  # the embedded backend's msearch batches
            ctx = Context(self.index)
            plans = [searching.plan(ctx, body, pipeline) for body in bodies[lo:lo + BATCH_SIZE]]
            self.memo.start_batch(ctx, [root for plan in plans for root in plan.roots])
            out.extend(self._ranked_ids(ctx, lo + i, plan, pipeline) for i, plan in enumerate(plans))
        return out

    def _ranked_ids(self, ctx: Context, query: int, plan: searching.Plan,
                    pipeline: SearchPipeline | None) -> list[str]:
        """The page of hits ``searching.execute`` would return, as document ids (no response to format)."""
        if plan.query is not None:
            root = plan.query
            root = self.memo.wrap_children(query, root) if isinstance(root, Bool) else self.memo.wrap(query, root)
            docs, _ = searching.ranked(root.execute(ctx, ONE), plan.start + plan.size)
        else:
            assert pipeline is not None
            subs = [self.memo.execute(query, sub, ONE) for sub in plan.hybrid]
            docs, _ = pipeline.fuse([searching.ranked(found, plan.depth) for found in subs])
        ids = self.index.ids
        return [ids[d] for d in docs[plan.start:plan.start + plan.size].tolist()]


class ClauseMemo:
    """Executed clause matches by (query, structure, own boost, incoming boost), least recently used
    dropped first once they hold more than ``budget_bytes``.

    k-NN scores come from one matrix product per batch of queries, whose last bits depend on the
    batch, so they are never shared between queries, and a batch that must compute any k-NN clause
    computes all of them at once, exactly as ``msearch`` does.
    """

    def __init__(self, budget_bytes: int):
        self.budget = budget_bytes
        self.entries: OrderedDict[tuple[Any, ...], Matches] = OrderedDict()
        self.docs_entries: OrderedDict[tuple[Any, ...], np.ndarray] = OrderedDict()
        self.bytes = 0
        self.ctx: Context | None = None
        self.roots: list[Node] = []
        self.knn_ready = False

    def start_batch(self, ctx: Context, roots: list[Node]) -> None:
        """Execute the next clauses in ``ctx``, whose batch of searches has these query roots."""
        self.ctx, self.roots, self.knn_ready = ctx, roots, False

    def wrap(self, query: int, node: Node) -> Node:
        """``node`` of query number ``query`` behind the memo."""
        return _Memoized(query=query, inner=node, memo=self)

    def wrap_children(self, query: int, node: Node) -> Node:
        """A Bool whose clauses are memoized (the Bool itself is not: a trial's root is new each time)."""
        if not isinstance(node, Bool):
            return node
        return replace(node, must=tuple(self.wrap(query, c) for c in node.must),
                       should=tuple(self.wrap(query, c) for c in node.should),
                       filter=tuple(self.wrap(query, c) for c in node.filter),
                       must_not=tuple(self.wrap(query, c) for c in node.must_not))

    def execute(self, query: int, node: Node, boost: np.float32) -> Matches:
        key = (query, node.key(), float(node.boost), float(boost))
        found = self.entries.get(key)
        if found is not None:
            self.entries.move_to_end(key)
            return found
        ctx = self._context_for(node)
        found = self.wrap_children(query, node).execute(ctx, boost)
        self._store(self.entries, key, found, found.docs.nbytes + found.scores.nbytes)
        return found

    def docs(self, query: int, node: Node) -> np.ndarray:
        key = (query, node.key(), float(node.boost))
        found = self.docs_entries.get(key)
        if found is not None:
            self.docs_entries.move_to_end(key)
            return found
        found = self.wrap_children(query, node).docs(self._context_for(node))
        self._store(self.docs_entries, key, found, found.nbytes)
        return found

    def _context_for(self, node: Node) -> Context:
        """The batch's context, with every k-NN clause of the batch answered once one is needed."""
        assert self.ctx is not None
        if not self.knn_ready and any(isinstance(n, Knn) for n in node.walk()):
            self.ctx.prefetch_knn(self.roots)
            self.knn_ready = True
        return self.ctx

    def _store(self, entries: OrderedDict, key: tuple[Any, ...], value: Any, size: int) -> None:
        entries[key] = value
        self.bytes += size
        while self.bytes > self.budget and (self.entries or self.docs_entries):
            victims = self.entries if len(self.entries) >= len(self.docs_entries) else self.docs_entries
            _, old = victims.popitem(last=False)
            self.bytes -= (old.docs.nbytes + old.scores.nbytes) if isinstance(old, Matches) else old.nbytes


@dataclass(frozen=True)
class _Memoized(Node):
    """A clause executed through the memo; the engine's Bool and pipelines combine it as the clause."""

    query: int = field(kw_only=True)
    inner: Node = field(kw_only=True)
    memo: ClauseMemo = field(kw_only=True, compare=False, repr=False)

    def key(self) -> tuple[Any, ...]:
        return (self.inner.key(), float(self.inner.boost))

    def label(self) -> str:
        return str(self.inner)

    def children(self) -> list[Node]:
        return [self.inner]

    def execute(self, ctx: Context, boost: np.float32) -> Matches:
        return self.memo.execute(self.query, self.inner, boost)

    def docs(self, ctx: Context) -> np.ndarray:
        return self.memo.docs(self.query, self.inner)
