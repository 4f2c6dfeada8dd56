"""Search requests: the body's parameters, the compiled query (or hybrid sub-queries), the response.

A hybrid query runs each sub-query on its own, keeps each one's top ``pagination_depth`` hits
(default: ``size``) and hands those lists to the search pipeline, which fuses them; its total is the
number of documents any sub-query matched, as neural-search reports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .context import Context
from .dsl import Compiler
from .explain import Explanation, no_match
from .matches import Matches, top, union
from .nodes import Bool, Node, fmt
from .pipelines import MAX_SUB_QUERIES, SearchPipeline
from .printed import printed
from .rewrite import rewrite
from .similarity import ONE
from .validation import boolean, check_params, fail, integer, obj

DEFAULT_SIZE = 10
SEARCH_KEYS = ("query", "size", "from", "_source", "track_total_hits", "timeout")


@dataclass(frozen=True)
class Plan:
    """One compiled search request."""

    size: int
    start: int
    track_total_hits: bool | int
    query: Node | None = None
    hybrid: tuple[Node, ...] = ()
    depth: int = 0

    @property
    def roots(self) -> list[Node]:
        return [self.query] if self.query is not None else list(self.hybrid)


def plan(ctx: Context, body: Any, pipeline: SearchPipeline | None) -> Plan:
    """Validate a search body and compile its query."""
    body = obj(body, "search body")
    check_params(body, SEARCH_KEYS, "search body")
    size = integer(body.get("size", DEFAULT_SIZE), "size")
    start = integer(body.get("from", 0), "from")
    window = ctx.schema.max_result_window
    if start + size > window:
        fail("size", f"result window is too large: from + size must be <= {window} (index.max_result_window), "
                     f"got {start + size}")
    tracking = body.get("track_total_hits", True)
    track: bool | int = (integer(tracking, "track_total_hits") if not isinstance(tracking, bool)
                         and not (isinstance(tracking, str) and tracking in ("true", "false"))
                         else boolean(tracking, "track_total_hits"))
    query = body.get("query", {"match_all": {}})
    compiler = Compiler(ctx)
    if isinstance(query, dict) and len(query) == 1 and "hybrid" in query:
        subs, depth = _hybrid(compiler, query["hybrid"], size, start, ctx, pipeline)
        return Plan(size, start, track, hybrid=subs, depth=depth)
    return Plan(size, start, track, query=rewrite(compiler.query(query, "query")))


def _hybrid(compiler: Compiler, params: Any, size: int, start: int, ctx: Context,
            pipeline: SearchPipeline | None) -> tuple[tuple[Node, ...], int]:
    path = "query.hybrid"
    params = obj(params, path)
    check_params(params, ("queries", "pagination_depth", "filter", "_name"), path)
    if pipeline is None:
        fail(path, "a hybrid query needs a search pipeline (normalization-processor or score-ranker-processor)")
    queries = params.get("queries")
    if not isinstance(queries, list) or not 1 <= len(queries) <= MAX_SUB_QUERIES:
        fail(f"{path}.queries", f"must be an array of 1 to {MAX_SUB_QUERIES} queries")
    subs = compiler.clauses(queries, f"{path}.queries")
    if params.get("filter") is not None:
        hybrid_filter = compiler.query(params["filter"], f"{path}.filter")
        subs = [Bool(must=(sub,), filter=(hybrid_filter,)) for sub in subs]
    if "pagination_depth" in params:
        depth = integer(params["pagination_depth"], f"{path}.pagination_depth", minimum=1)
        if depth > ctx.schema.max_result_window:
            fail(f"{path}.pagination_depth", f"must be <= index.max_result_window ({ctx.schema.max_result_window})")
    elif start > 0:
        fail(f"{path}.pagination_depth", "required when \"from\" is set (neural-search pages hybrid results only "
                                         "within pagination_depth)")
    else:
        depth = size
    return tuple(rewrite(sub) for sub in subs), depth


def ranked(matches: Matches, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """The top ``depth`` hits as (doc ids int64, scores float32), best first."""
    best = top(matches.scores, depth)
    return matches.docs[best].astype(np.int64), matches.scores[best]


@dataclass(frozen=True)
class Page:
    """The hits of one search: document numbers and float32 scores, best first, and the match total."""

    docs: np.ndarray
    scores: np.ndarray
    total: int
    max_score: float | None


def page(ctx: Context, request: Plan, pipeline: SearchPipeline | None) -> Page:
    """Run a planned request: its page of hits."""
    if request.query is not None:
        found = request.query.execute(ctx, ONE)
        docs, scores = ranked(found, request.start + request.size)
        total = len(found)
        max_score = float(scores[0]) if request.size and total else None  # the best hit comes first
    else:
        assert pipeline is not None
        results = [sub.execute(ctx, ONE) for sub in request.hybrid]
        docs, scores = pipeline.fuse([ranked(r, request.depth) for r in results])
        total = len(union([r.docs for r in results], ctx.n_docs))
        max_score = float(scores[0]) if request.size and len(scores) else None
    window = slice(request.start, request.start + request.size)
    return Page(docs[window], scores[window], total, max_score)


def response(ctx: Context, request: Plan, found: Page) -> dict[str, Any]:
    """The OpenSearch-shaped response of a page of hits."""
    ids = ctx.segment.ids
    hits = [{"_id": ids[d], "_score": s} for d, s in zip(found.docs.tolist(), printed(found.scores).tolist())]
    max_score = found.max_score
    response: dict[str, Any] = {"hits": {"max_score": None if max_score is None else float(fmt(max_score)),
                                         "hits": hits}}
    if request.track_total_hits is not False:
        cap = request.track_total_hits
        capped = cap is not True and found.total > cap
        response["hits"]["total"] = {"value": int(cap) if capped else found.total,
                                     "relation": "gte" if capped else "eq"}
    return response


def explain(ctx: Context, request: Plan, pipeline: SearchPipeline | None, doc: int) -> Explanation:
    """The Lucene-style explanation of one document's score for a planned request."""
    if request.query is not None:
        return request.query.explain(ctx, ONE, doc)
    assert pipeline is not None
    subs = [sub.execute(ctx, ONE) for sub in request.hybrid]
    lists = [ranked(r, request.depth) for r in subs]
    in_lists = [bool(np.any(ids == doc)) for ids, _ in lists]
    if not any(in_lists):
        return no_match(f"document is not in the top {request.depth} hits of any hybrid sub-query",
                        [sub.explain(ctx, ONE, doc) for sub in request.hybrid])
    details = [sub.explain(ctx, ONE, doc).to_dict() if hit else None for sub, hit in zip(request.hybrid, in_lists)]
    fused = pipeline.explain_fusion(lists, doc, details)
    return _from_dict(fused)


def _from_dict(tree: dict[str, Any]) -> Explanation:
    return Explanation(True, float(tree["value"]), str(tree["description"]),
                       [_from_dict(d) for d in tree.get("details", [])])
