"""Lucene's query rewriting (``IndexSearcher.rewrite`` to a fixpoint), where it changes the arithmetic.

The rules mirror Lucene 10's ``BooleanQuery.rewrite`` / ``DisjunctionMaxQuery.rewrite`` /
``BoostQuery.rewrite`` (OpenSearch 3.x): one-clause queries collapse into their clause (boosts
multiplied), duplicate SHOULD/MUST clauses merge into one clause whose boost is the sum, nested pure
disjunctions flatten into their parent, nested pure conjunctions inline into their parent, a
dis_max with tie_breaker 1 becomes a disjunction, and clauses that cannot match are dropped. Each
changes which partial sums are rounded to float, so scores match Lucene only with them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from .nodes import Bool, ConstantScore, DisMax, Knn, MatchAll, MatchNone, Node
from .similarity import F32, ONE


def rewrite(node: Node) -> Node:
    """Rewrite ``node`` until nothing changes."""
    return _fixpoint(node, {})


Fixed = dict[int, Node]
"""Nodes already rewritten to their fixpoint in this rewrite, by id (held, so no id is reused meanwhile):
a parent's next pass does not walk them again."""


def _fixpoint(node: Node, fixed: Fixed) -> Node:
    while id(node) not in fixed:
        rewritten = _rewrite_once(node, fixed)
        if rewritten is node:
            fixed[id(node)] = node
        node = rewritten
    return node


def _rewrite_once(node: Node, fixed: Fixed) -> Node:
    rule = _RULES.get(type(node))
    return node if rule is None else rule(node, fixed)


def _rewrite_constant(node: ConstantScore, fixed: Fixed) -> Node:
    inner = _fixpoint(node.filter, fixed)
    if isinstance(inner, MatchNone):
        return inner
    return node if inner is node.filter else replace(node, filter=inner)


def _rewrite_knn(node: Knn, fixed: Fixed) -> Node:
    if node.filter is None:
        return node
    inner = _fixpoint(node.filter, fixed)
    return node if inner is node.filter else replace(node, filter=inner)


def _merge_boost(outer: Node, inner: Node) -> Node:
    """BoostQuery(BoostQuery(q, inner), outer) -> BoostQuery(q, outer * inner)."""
    if outer.boost == ONE:
        return inner
    return inner.with_boost(F32(outer.boost * inner.boost))


def _rewrite_dismax(node: DisMax, fixed: Fixed) -> Node:
    if not node.disjuncts:
        return MatchNone(reason="empty DisjunctionMaxQuery")
    if len(node.disjuncts) == 1:
        return _merge_boost(node, node.disjuncts[0])
    if node.tie == ONE:
        return Bool(should=node.disjuncts, boost=node.boost)
    disjuncts = tuple(_fixpoint(d, fixed) for d in node.disjuncts)
    if all(a is b for a, b in zip(disjuncts, node.disjuncts)):
        return node
    kept = tuple(d for d in disjuncts if not isinstance(d, MatchNone))
    if not kept:
        return MatchNone(reason="empty DisjunctionMaxQuery")
    if len(kept) == 1:
        return _merge_boost(node, kept[0])
    return replace(node, disjuncts=kept)


def _rewrite_bool(node: Bool, fixed: Fixed) -> Node:
    clauses = [*node.must, *node.should, *node.filter, *node.must_not]
    if not clauses:
        return MatchNone(reason="empty BooleanQuery")
    if len(clauses) == len(node.must_not):
        return MatchNone(reason="pure negative BooleanQuery")
    if len(clauses) == 1:
        single = _single_clause(node)
        if single is not None:
            return single
    if _leaf_disjunction(node):
        return node
    children = _rewrite_children(node, fixed)
    if children is not None:
        return children
    for rule in (_dedup_filters, _must_not_conflict, _should_also_filter, _dedup_should, _dedup_must,
                 _flatten_disjunctions, _inline_conjunctions, _should_count):
        result = rule(node)
        if result is not None:
            return result
    return node


def _leaf_disjunction(node: Bool) -> bool:
    """SHOULD clauses only, more of them than minimum_should_match, each its own fixpoint (no rule of its type,
    not MatchNone) and none a duplicate to merge: every rule below leaves such a query as it is (a ``match`` on
    one field, the commonest query, is one)."""
    should = node.should
    if node.must or node.filter or node.must_not or len(should) <= max(node.msm, 1):
        return False
    if any(type(clause) in _RULES or type(clause) is MatchNone for clause in should):
        return False
    return node.msm > 1 or len({clause.key() for clause in should}) == len(should)


def _single_clause(node: Bool) -> Node | None:
    if node.msm == 1 and node.should:
        return _merge_boost(node, node.should[0])
    if node.msm == 0:
        if node.should or node.must:
            return _merge_boost(node, (node.should or node.must)[0])
        if node.filter:
            return ConstantScore(node.filter[0], boost=F32(0.0))
    return None


def _rewrite_children(node: Bool, fixed: Fixed) -> Node | None:
    if all(id(clause) in fixed for clause in node.children()):
        return None
    changed = False
    groups: dict[str, list[Node]] = {"must": [], "should": [], "filter": [], "must_not": []}
    for occur in groups:
        for clause in getattr(node, occur):
            rewritten = _fixpoint(clause, fixed)
            changed |= rewritten is not clause
            if isinstance(rewritten, MatchNone):
                changed = True
                if occur in ("must", "filter"):
                    return rewritten
                continue
            groups[occur].append(rewritten)
    if not changed:
        return None
    return _rebuild(node, **{k: tuple(v) for k, v in groups.items()})


def _rebuild(node: Bool, **changes: object) -> Bool:
    return replace(node, **changes)  # type: ignore[arg-type]


def _unique(nodes: tuple[Node, ...]) -> tuple[Node, ...]:
    seen: dict[object, Node] = {}
    for n in nodes:
        seen.setdefault((n.key(), n.boost), n)
    return tuple(seen.values())


def _dedup_filters(node: Bool) -> Node | None:
    if len(node.filter) < 2 and len(node.must_not) < 2:
        return None
    filters, must_not = _unique(node.filter), _unique(node.must_not)
    if len(filters) == len(node.filter) and len(must_not) == len(node.must_not):
        return None
    return _rebuild(node, filter=filters, must_not=must_not)


def _must_not_conflict(node: Bool) -> Node | None:
    if not node.must_not:
        return None
    excluded = {(n.key(), n.boost) for n in node.must_not}
    required = {(n.key(), n.boost) for n in (*node.must, *node.filter)}
    if excluded & required or any(isinstance(n, MatchAll) and n.boost == ONE for n in node.must_not):
        return MatchNone(reason="FILTER or MUST clause also in MUST_NOT")
    return None


def _should_also_filter(node: Bool) -> Node | None:
    """A clause that is both SHOULD and FILTER becomes MUST (and no longer counts for msm)."""
    if not (node.should and node.filter):
        return None
    filters = {(n.key(), n.boost) for n in node.filter}
    both = {(c.key(), c.boost) for c in node.should} & filters
    if not both:
        return None
    moved = tuple(c for c in node.should if (c.key(), c.boost) in both)
    return _rebuild(node, must=node.must + moved,
                    should=tuple(c for c in node.should if (c.key(), c.boost) not in both),
                    filter=tuple(c for c in node.filter if (c.key(), c.boost) not in both),
                    msm=max(0, node.msm - len(moved)))


def _dedup(clauses: tuple[Node, ...]) -> tuple[Node, ...] | None:
    """Duplicate clauses merged into one whose boost is the (double) sum of theirs."""
    if len(clauses) < 2:
        return None
    totals: dict[object, list] = {}
    for clause in clauses:
        entry = totals.setdefault(clause.key(), [clause, 0.0])
        entry[1] += float(clause.boost)
    if len(totals) == len(clauses):
        return None
    return tuple(first.with_boost(F32(total)) for first, total in totals.values())


def _dedup_should(node: Bool) -> Node | None:
    if not node.should or node.msm > 1:
        return None
    should = _dedup(node.should)
    return None if should is None else _rebuild(node, should=should)


def _dedup_must(node: Bool) -> Node | None:
    must = _dedup(node.must) if node.must else None
    return None if must is None else _rebuild(node, must=must)


def _is_pure_disjunction(node: Node) -> bool:
    return (isinstance(node, Bool) and node.boost == ONE and node.msm <= 1 and bool(node.should)
            and not (node.must or node.filter or node.must_not))


def _flatten_disjunctions(node: Bool) -> Node | None:
    if node.msm > 1 or not any(_is_pure_disjunction(c) for c in node.should):
        return None
    should: list[Node] = []
    for clause in node.should:
        should.extend(clause.should if _is_pure_disjunction(clause) else [clause])
    return _rebuild(node, should=tuple(should))


def _is_pure_conjunction(node: Node) -> bool:
    return isinstance(node, Bool) and node.boost == ONE and node.msm == 0 and not node.should


def _inline_conjunctions(node: Bool) -> Node | None:
    if not any(_is_pure_conjunction(c) for c in (*node.must, *node.filter)):
        return None
    groups: dict[str, list[Node]] = {"must": [], "filter": [], "must_not": list(node.must_not)}
    for occur in ("must", "filter"):
        for clause in getattr(node, occur):
            if not _is_pure_conjunction(clause):
                groups[occur].append(clause)
                continue
            assert isinstance(clause, Bool)
            groups[occur].extend(clause.must)
            groups["filter"].extend(clause.filter)
            groups["must_not"].extend(clause.must_not)
    return _rebuild(node, **{k: tuple(v) for k, v in groups.items()})


def _should_count(node: Bool) -> Node | None:
    if len(node.should) < node.msm:
        return MatchNone(reason="SHOULD clause count less than minimumNumberShouldMatch")
    if node.should and len(node.should) == node.msm:
        return _rebuild(node, must=node.must + node.should, should=(), msm=0)
    return None


_RULES: dict[type, Callable[[Any, Fixed], Node]] = {
    Bool: _rewrite_bool, DisMax: _rewrite_dismax, ConstantScore: _rewrite_constant, Knn: _rewrite_knn}
"""Each rewritable node type's rule (node types are never subclassed); any other node is its own fixpoint."""
