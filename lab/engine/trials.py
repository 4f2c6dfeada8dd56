"""Searching the same queries once per tuning trial, fast: what trials share is computed once.

A trial renders the same queries with other params (boosts, k, fusion weights), so most of a query's
clauses are the same in many trials: with ``title_boost`` and ``description_boost`` tuned, the
description clause at boost 2 scores the same documents the same way in every trial that sets it to
2, and a k-NN clause does not change when only fusion weights do. A query's score is assembled from
its clauses (Lucene's BooleanQuery sums its clauses' scores; a hybrid query fuses its sub-queries'
top hits), so each query's clause matches are memoized by the clause's structure (``Node.key()``),
its own boost and the boost its parent passes down, which determine them; a trial then only combines
the memoized clauses with the engine's own Bool and pipeline code, batch by batch as ``msearch``
would be called. The rankings are ``msearch``'s bit for bit.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from . import search as searching
from .context import Context
from .index import EmbeddedIndex
from .matches import Matches
from .nodes import Bool, Knn, Node, prefetch_knn
from .pipelines import SearchPipeline, parse_pipeline
from .similarity import ONE

MEMO_BUDGET_BYTES = 1 << 30
"""Memoized clause matches kept at most (least recently used ones are dropped first)."""


class TrialSearcher:
    """Ranks the same queries trial after trial (query ``i`` of every call is the same query), sharing
    clause matches between trials."""

    description = "embedded engine, clause matches shared between trials"

    def __init__(self, index: EmbeddedIndex, batch_size: int, budget_bytes: int = MEMO_BUDGET_BYTES):
        """``batch_size``: the number of bodies per ``msearch`` call whose rankings to reproduce (k-NN
        scores are computed per batch)."""
        self.index, self.batch_size = index, batch_size
        self.memo = ClauseMemo(budget_bytes)

    def rankings(self, bodies: list[dict[str, Any]], pipeline: dict[str, Any] | None = None) -> list[list[str]]:
        """The ids of each body's page of hits, as ``msearch`` in batches of ``batch_size`` returns them."""
        parsed = None if pipeline is None else parse_pipeline(pipeline)
        self.index.refresh()
        out: list[list[str]] = []
        for lo in range(0, len(bodies), self.batch_size):
            ctx = Context(self.index)
            plans = [searching.plan(ctx, body, parsed) for body in bodies[lo:lo + self.batch_size]]
            self.memo.start_batch(ctx, [root for plan in plans for root in plan.roots])
            out.extend(self._ranked_ids(ctx, lo + i, plan, parsed) for i, plan in enumerate(plans))
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
            prefetch_knn(self.ctx, self.roots)
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
