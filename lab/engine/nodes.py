"""Executable query nodes: the Lucene queries OpenSearch builds from the query DSL.

A node is executed with the boost its parents pass down (Lucene's ``createWeight(..., boost)``:
each level multiplies its own boost into it, in float32) and returns every matching document with
its score. ``explain`` returns the Lucene explanation of one document, whose value is read from the
same executed scores, so explanations always agree with search results.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterator

import numpy as np

from . import knn as knn_search
from . import matches as m
from .context import Context
from .explain import Explanation, match, no_match
from .matches import EMPTY, Matches
from .similarity import BM25, F32, ONE


def fmt(value: float | np.floating) -> str:
    """A float32 as Java's Float.toString prints it (shortest round-trip digits)."""
    return str(F32(value))


def _boosted(label: str, boost: np.float32) -> str:
    return label if boost == ONE else f"({label})^{fmt(boost)}"


@dataclass(frozen=True)
class Node:
    """Base query node; ``boost`` is a BoostQuery wrapped around it (1.0 = none)."""

    boost: np.float32 = field(default=ONE, kw_only=True)

    def key(self) -> tuple[Any, ...]:
        """Structural identity without the node's own boost (for Lucene's clause deduplication)."""
        raise NotImplementedError

    def label(self) -> str:
        """Lucene's ``Query.toString()``, without the boost."""
        raise NotImplementedError

    def children(self) -> list[Node]:
        return []

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children():
            yield from child.walk()

    def with_boost(self, boost: np.float32) -> Node:
        return replace(self, boost=F32(boost))

    def execute(self, ctx: Context, boost: np.float32) -> Matches:
        raise NotImplementedError

    def docs(self, ctx: Context) -> np.ndarray:
        """Matching documents, ignoring scores (filter context)."""
        return self.execute(ctx, ONE).docs

    def explain(self, ctx: Context, boost: np.float32, doc: int) -> Explanation:
        raise NotImplementedError

    def __str__(self) -> str:
        return _boosted(self.label(), self.boost)


def _eff(node: Node, incoming: np.float32) -> np.float32:
    return F32(node.boost * incoming)


# ---- leaves ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MatchNone(Node):
    reason: str = "no terms"

    def key(self) -> tuple[Any, ...]:
        return ("none",)

    def label(self) -> str:
        return f"MatchNoDocsQuery(\"{self.reason}\")"

    def execute(self, ctx: Context, boost: np.float32) -> Matches:
        return EMPTY

    def explain(self, ctx: Context, boost: np.float32, doc: int) -> Explanation:
        return no_match(self.reason)


@dataclass(frozen=True)
class MatchAll(Node):
    def key(self) -> tuple[Any, ...]:
        return ("all",)

    def label(self) -> str:
        return "*:*"

    def execute(self, ctx: Context, boost: np.float32) -> Matches:
        return m.constant(np.arange(ctx.n_docs, dtype=m.DOC), _eff(self, boost))

    def explain(self, ctx: Context, boost: np.float32, doc: int) -> Explanation:
        return match(_eff(self, boost), self.label())


@dataclass(frozen=True)
class Term(Node):
    """A TermQuery scored with BM25; ``doc_freq`` overrides the term's df (blended cross_fields terms)."""

    field: str
    term: str
    doc_freq: int | None = None

    def key(self) -> tuple[Any, ...]:
        return ("term", self.field, self.term, self.doc_freq)

    def label(self) -> str:
        return f"{self.field}:{self.term}"

    def _stats(self, ctx: Context) -> tuple[Any, int | None, int]:
        inverted = ctx.inverted(self.field)
        term_id = inverted.term_id(self.term)
        if term_id is None:
            return inverted, None, 0
        df = inverted.doc_freq(term_id) if self.doc_freq is None else self.doc_freq
        return inverted, term_id, df

    def execute(self, ctx: Context, boost: np.float32) -> Matches:
        inverted, term_id, df = self._stats(ctx)
        if term_id is None or df == 0:
            return EMPTY
        sim: BM25 = inverted.spec.similarity
        return Matches(*inverted.term_scores(term_id, sim.weight(_eff(self, boost), sim.idf(df, inverted.doc_count))))

    def docs(self, ctx: Context) -> np.ndarray:
        inverted, term_id, df = self._stats(ctx)
        return EMPTY.docs if term_id is None or df == 0 else inverted.postings(term_id)[0].astype(m.DOC)

    def explain(self, ctx: Context, boost: np.float32, doc: int) -> Explanation:
        inverted, term_id, df = self._stats(ctx)
        freq = None if term_id is None or df == 0 else inverted.freq(term_id, doc)
        if freq is None:
            return no_match("no matching term")
        score = self.execute(ctx, boost).score_of(doc)
        return inverted.spec.similarity.explain(
            field=self.field, term=self.term, doc=doc, boost=_eff(self, boost), doc_freq=df,
            doc_count=inverted.doc_count, freq=freq, norm=inverted.norm(doc), avgdl=inverted.avgdl(),
            score=F32(score))


@dataclass(frozen=True)
class ConstantFilter(Node):
    """A constant-score query over a precomputable document set (range, terms, exists, ids, ...)."""

    kind: str
    field: str
    spec: tuple[Any, ...]
    text: str

    def key(self) -> tuple[Any, ...]:
        return ("filter", self.kind, self.field, self.spec)

    def label(self) -> str:
        return self.text

    def docs(self, ctx: Context) -> np.ndarray:
        return ctx.filter_docs(self.kind, self.field, self.spec)

    def execute(self, ctx: Context, boost: np.float32) -> Matches:
        return m.constant(self.docs(ctx), _eff(self, boost))

    def explain(self, ctx: Context, boost: np.float32, doc: int) -> Explanation:
        if not m.member(np.array([doc], dtype=m.DOC), self.docs(ctx))[0]:
            return no_match(f"{self.label()} doesn't match id {doc}")
        return match(_eff(self, boost), self.label())


@dataclass(frozen=True)
class ConstantScore(Node):
    """``constant_score``: every document the filter matches scores the boost."""

    filter: Node

    def key(self) -> tuple[Any, ...]:
        return ("constant", self.filter.key(), self.filter.boost)

    def label(self) -> str:
        return f"ConstantScore({self.filter})"

    def children(self) -> list[Node]:
        return [self.filter]

    def execute(self, ctx: Context, boost: np.float32) -> Matches:
        return m.constant(self.filter.docs(ctx), _eff(self, boost))

    def explain(self, ctx: Context, boost: np.float32, doc: int) -> Explanation:
        inner = self.filter.explain(ctx, ONE, doc)
        if not inner.match:
            return no_match(f"{self.label()} doesn't match id {doc}", [inner])
        return match(_eff(self, boost), self.label())


@dataclass(frozen=True)
class Knn(Node):
    """Exact k-NN: the ``k`` documents (among those passing ``filter``) most similar to ``vector``."""

    field: str
    vector: bytes
    """The query vector, float32 bytes."""
    k: int
    filter: Node | None = None

    def key(self) -> tuple[Any, ...]:
        return ("knn", self.field, self.vector, self.k, None if self.filter is None else
                (self.filter.key(), self.filter.boost))

    def label(self) -> str:
        return f"KnnQuery[{self.field}, k={self.k}{'' if self.filter is None else f', filter={self.filter}'}]"

    def children(self) -> list[Node]:
        return [] if self.filter is None else [self.filter]

    def found(self, ctx: Context) -> Matches:
        """The top-k documents (ascending) with their raw similarity scores."""
        if id(self) not in ctx.knn_found:
            prefetch_knn(ctx, [self])
        return ctx.knn_found[id(self)]

    def execute(self, ctx: Context, boost: np.float32) -> Matches:
        found = self.found(ctx)
        return Matches(found.docs, (found.scores * _eff(self, boost)).astype(np.float32))

    def explain(self, ctx: Context, boost: np.float32, doc: int) -> Explanation:
        found = self.found(ctx)
        similarity = found.score_of(doc)
        space = ctx.spec(self.field).space_type
        if similarity is None:
            return no_match(f"not within the top {self.k} docs of {self.label()}")
        eff = _eff(self, boost)
        details = [match(similarity, f"{space} similarity score, {knn_search.FORMULAS[space]}")]
        if eff != ONE:
            details.append(match(eff, "boost"))
        score = self.execute(ctx, boost).score_of(doc)
        return match(score, f"within top {self.k} docs of {self.label()}, score = similarity * boost:", details)


def prefetch_knn(ctx: Context, roots: list[Node]) -> None:
    """Answer every k-NN clause under ``roots`` at once, grouped by field (one matrix product per field)."""
    pending: dict[str, list[Knn]] = {}
    for root in roots:
        for node in root.walk():
            if isinstance(node, Knn) and id(node) not in ctx.knn_found:
                pending.setdefault(node.field, []).append(node)
    for field_name, nodes in pending.items():
        allowed = [None if n.filter is None else n.filter.docs(ctx) for n in nodes]
        found = knn_search.search(ctx.vectors(field_name), [np.frombuffer(n.vector, dtype=np.float32) for n in nodes],
                                  [n.k for n in nodes], allowed)
        for node, result in zip(nodes, found):
            ctx.knn_found[id(node)] = result


# ---- compound queries --------------------------------------------------------------------------


@dataclass(frozen=True)
class Bool(Node):
    """Lucene's BooleanQuery; ``msm`` is its minimumNumberShouldMatch."""

    must: tuple[Node, ...] = ()
    should: tuple[Node, ...] = ()
    filter: tuple[Node, ...] = ()
    must_not: tuple[Node, ...] = ()
    msm: int = 0

    def key(self) -> tuple[Any, ...]:
        def keys(nodes: tuple[Node, ...]) -> tuple[Any, ...]:
            return tuple((n.key(), n.boost) for n in nodes)
        return ("bool", keys(self.must), keys(self.should), frozenset(keys(self.filter)),
                frozenset(keys(self.must_not)), self.msm)

    def label(self) -> str:
        parts = [f"+{_paren(c)}" for c in self.must] + [_paren(c) for c in self.should]
        parts += [f"#{_paren(c)}" for c in self.filter] + [f"-{_paren(c)}" for c in self.must_not]
        text = " ".join(parts)
        return f"({text})~{self.msm}" if self.msm else text

    def children(self) -> list[Node]:
        return [*self.must, *self.should, *self.filter, *self.must_not]

    def execute(self, ctx: Context, boost: np.float32) -> Matches:
        eff = _eff(self, boost)
        required = bool(self.must or self.filter)
        optional = None
        if self.msm > len(self.should):
            return EMPTY
        if self.should:
            need = self.msm if required else max(self.msm, 1)
            found = ctx.accumulator.union([c.execute(ctx, eff) for c in self.should], counts=need > 1)
            opt_docs, opt_sums = found.docs, found.sums
            if need > 1:
                keep = found.counts >= need
                opt_docs, opt_sums = opt_docs[keep], opt_sums[keep]
            optional = Matches(opt_docs, opt_sums.astype(np.float32))
        if required:
            musts = [c.execute(ctx, eff) for c in self.must]
            docs = m.intersect(*[x.docs for x in musts], *[c.docs(ctx) for c in self.filter])
            if len(musts) == 1:
                scores = m.scores_at(musts[0], docs)
            else:
                total = np.zeros(len(docs))
                for x in musts:
                    total += m.scores_at(x, docs)
                scores = total.astype(np.float32)
            result = Matches(docs, scores)
            if optional is not None:
                result = _add_optional(result, optional, self.msm > 0)
        else:
            result = optional if optional is not None else EMPTY
        if self.must_not:
            result = m.restrict(result, m.union([c.docs(ctx) for c in self.must_not], ctx.n_docs), keep=False)
        return result

    def explain(self, ctx: Context, boost: np.float32, doc: int) -> Explanation:
        eff = _eff(self, boost)
        subs: list[Explanation] = []
        fail = False
        matched = should_matched = 0
        for occur, clauses in (("MUST", self.must), ("SHOULD", self.should), ("FILTER", self.filter),
                               ("MUST_NOT", self.must_not)):
            for clause in clauses:
                e = clause.explain(ctx, eff, doc)
                if e.match:
                    if occur in ("MUST", "SHOULD"):
                        subs.append(e)
                    elif occur == "FILTER":
                        subs.append(match(0.0, "match on required clause, product of:",
                                          [match(0.0, "FILTER clause"), e]))
                    else:
                        subs.append(no_match(f"match on prohibited clause ({clause})", [e]))
                        fail = True
                    matched += occur != "MUST_NOT"
                    should_matched += occur == "SHOULD"
                elif occur in ("MUST", "FILTER"):
                    subs.append(no_match(f"no match on required clause ({clause})", [e]))
                    fail = True
        if fail:
            return no_match("Failure to meet condition(s) of required/prohibited clause(s)", subs)
        if matched == 0:
            return no_match("No matching clauses", subs)
        need = self.msm if (self.must or self.filter) else max(self.msm, 1)
        if should_matched < need:
            return no_match(f"Failure to match minimum number of optional clauses: {need}", subs)
        return match(self.execute(ctx, boost).score_of(doc), "sum of:", subs)


def _add_optional(required: Matches, optional: Matches, mandatory: bool) -> Matches:
    """ReqOptSumScorer (or, when the optional part must match, a two-clause conjunction): float add."""
    present = m.member(required.docs, optional.docs)
    if mandatory:
        docs = required.docs[present]
        return Matches(docs, (required.scores[present] + m.scores_at(optional, docs)).astype(np.float32))
    scores = required.scores.copy()
    scores[present] += m.scores_at(optional, required.docs[present])
    return Matches(required.docs, scores)


@dataclass(frozen=True)
class DisMax(Node):
    """DisjunctionMaxQuery: ``(float) (max + tie * sum of the others)`` with the sums in double."""

    disjuncts: tuple[Node, ...] = ()
    tie: np.float32 = F32(0.0)

    def key(self) -> tuple[Any, ...]:
        return ("dismax", tuple((d.key(), d.boost) for d in self.disjuncts), float(self.tie))

    def label(self) -> str:
        inner = " | ".join(_paren(d) for d in self.disjuncts)
        return f"({inner})" + (f"~{fmt(self.tie)}" if self.tie != 0 else "")

    def children(self) -> list[Node]:
        return list(self.disjuncts)

    def execute(self, ctx: Context, boost: np.float32) -> Matches:
        eff = _eff(self, boost)
        found = ctx.accumulator.union([d.execute(ctx, eff) for d in self.disjuncts], sums=self.tie != 0,
                                       best=True)
        if self.tie == 0:
            return Matches(found.docs, found.best.astype(np.float32))
        return Matches(found.docs, (found.best + (found.sums - found.best) * float(self.tie)).astype(np.float32))

    def explain(self, ctx: Context, boost: np.float32, doc: int) -> Explanation:
        eff = _eff(self, boost)
        found = [d.explain(ctx, eff, doc) for d in self.disjuncts]
        hits = [e for e in found if e.match]
        if not hits:
            return no_match("No matching clause", found)
        description = "max of:" if self.tie == 0 else f"max plus {fmt(self.tie)} times others of:"
        return match(self.execute(ctx, boost).score_of(doc), description, hits)


def _paren(node: Node) -> str:
    text = str(node)
    return f"({text})" if isinstance(node, Bool) and node.boost == ONE else text
