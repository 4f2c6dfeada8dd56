"""The OpenSearch query DSL compiled into query nodes, the way OpenSearch's query builders do it.

Every clause is validated; anything the engine cannot execute exactly is a QueryError naming the
clause path, e.g. ``query.bool.should[1].match.title: unknown parameter "fuzziness"``.
"""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ..errors import LabError, QueryError
from .analysis import get_analyzer
from .mapping import KEYWORD, NUMERIC_TYPES, TEXT, VECTOR, FieldSpec
from .msm import min_should_match, spec_string
from .nodes import Bool, ConstantFilter, ConstantScore, DisMax, Knn, MatchAll, MatchNone, Node, Term
from .similarity import F32, ONE
from .validation import boolean, check_params, fail, integer, json_type, number, obj

if TYPE_CHECKING:
    from .context import Context

MAX_CLAUSE_COUNT = 1024
"""indices.query.bool.max_clause_count: the most terms one analysed query may produce."""
MAX_KNN_K = 10_000

_MULTI_MATCH_TYPES = {"best_fields": F32(0.0), "most_fields": F32(1.0), "cross_fields": F32(0.0)}


def boost(params: dict[str, Any], path: str) -> np.float32:
    if "boost" not in params:
        return ONE
    value = F32(number(params["boost"], f"{path}.boost"))
    if value < 0:
        fail(f"{path}.boost", f"negative boosts are not allowed, got {params['boost']!r}")
    return value


def _text(value: Any, path: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if not isinstance(value, str):
        fail(path, f"must be a string, got {json_type(value)}")
    return value


class Compiler:
    """Compiles one search body's query against an index (its mapping and term statistics)."""

    def __init__(self, ctx: Context):
        self.ctx = ctx

    # ---- dispatch ------------------------------------------------------------------------------

    def query(self, body: Any, path: str) -> Node:
        body = obj(body, path)
        if not body:
            fail(path, "empty query clause: expected one query type such as match, bool or knn")
        if len(body) != 1:
            fail(path, f"a query clause holds exactly one query type, got {', '.join(body)}")
        kind, params = next(iter(body.items()))
        handler: Callable[[Any, str], Node] | None = getattr(self, f"_q_{kind}", None)
        if handler is None:
            if kind == "hybrid":
                fail(f"{path}.hybrid", "a hybrid query must be the top-level query of the search")
            fail(f"{path}.{kind}", "unknown query type (supported: match, multi_match, bool, dis_max, term, "
                                   "terms, range, exists, ids, constant_score, match_all, match_none, knn, hybrid)")
        return handler(params, f"{path}.{kind}")

    def clauses(self, value: Any, path: str) -> list[Node]:
        if isinstance(value, list):
            return [self.query(item, f"{path}[{i}]") for i, item in enumerate(value)]
        return [self.query(value, path)]

    # ---- fields --------------------------------------------------------------------------------

    def field(self, name: Any, path: str) -> FieldSpec:
        if not isinstance(name, str):
            fail(path, f"field name must be a string, got {json_type(name)}")
        spec = self.ctx.schema.fields.get(name)
        if spec is None:
            fail(path, f"field \"{name}\" is not in the index mapping")
        if not spec.searchable:
            fail(path, f"field \"{name}\" is not indexed (\"index\": false)")
        return spec

    def _single_field(self, params: Any, path: str) -> tuple[str, Any]:
        params = obj(params, path)
        fields = [k for k in params if k not in ("boost", "_name")]
        if len(fields) != 1:
            fail(path, f"expected exactly one field, got {len(fields)}" + (f": {', '.join(fields)}" if fields else ""))
        return fields[0], params[fields[0]]

    # ---- full-text queries ---------------------------------------------------------------------

    def _q_match(self, params: Any, path: str) -> Node:
        name, value = self._single_field(params, path)
        where = f"{path}.{name}"
        options = obj(value, where) if isinstance(value, dict) else {"query": value}
        check_params(options, ("query", "operator", "minimum_should_match", "analyzer", "boost", "zero_terms_query",
                               "lenient", "auto_generate_synonyms_phrase_query", "_name"), where)
        if "query" not in options:
            fail(where, "missing \"query\"")
        spec = self.field(name, where)
        text = self._query_text(options["query"], f"{where}.query")
        node = self.field_query(spec, text, self._match_options(options, where), where)
        if "minimum_should_match" in options:
            node = apply_msm(node, spec_string(options["minimum_should_match"], f"{where}.minimum_should_match"),
                             f"{where}.minimum_should_match")
        return _boost_node(node, boost(options, where))

    def _query_text(self, value: Any, path: str) -> str:
        text = _text(value, path)
        if not text.strip():
            fail(path, "empty query text")
        return text

    def _match_options(self, options: dict[str, Any], path: str) -> dict[str, Any]:
        operator = _text(options.get("operator", "or"), f"{path}.operator").lower()
        if operator not in ("or", "and"):
            fail(f"{path}.operator", f"must be \"or\" or \"and\", got {options['operator']!r}")
        zero = _text(options.get("zero_terms_query", "none"), f"{path}.zero_terms_query").lower()
        if zero not in ("none", "all"):
            fail(f"{path}.zero_terms_query", f"must be \"none\" or \"all\", got {options['zero_terms_query']!r}")
        analyzer = options.get("analyzer")
        if analyzer is not None:
            try:
                get_analyzer(_text(analyzer, f"{path}.analyzer"))
            except LabError as exc:
                fail(f"{path}.analyzer", str(exc))
        for flag in ("lenient", "auto_generate_synonyms_phrase_query"):
            if flag in options:
                boolean(options[flag], f"{path}.{flag}")
        return {"operator": operator, "zero_terms": zero, "analyzer": analyzer,
                "lenient": boolean(options.get("lenient", False), f"{path}.lenient")}

    def field_query(self, spec: FieldSpec, text: str, options: dict[str, Any], path: str) -> Node:
        """MatchQuery.parse for one field (before minimum_should_match and boost)."""
        if spec.type == VECTOR:
            fail(path, f"field \"{spec.name}\" is a {VECTOR}: query it with knn")
        if spec.numeric:
            try:
                return self._value_filter(spec, [text], path)
            except QueryError:
                if options["lenient"]:
                    return MatchNone(reason=f"unparseable value for {spec.name}")
                raise
        analyzer = options["analyzer"]
        if analyzer is None and spec.type == KEYWORD:
            return Term(spec.name, text)
        terms = get_analyzer(analyzer or spec.search_analyzer).analyze(text)
        return self.terms_query(terms, lambda t: Term(spec.name, t), options, path)

    def terms_query(self, terms: list[str], make: Callable[[str], Node], options: dict[str, Any], path: str) -> Node:
        """Lucene's QueryBuilder.createBooleanQuery over analysed terms."""
        if not terms:
            return self.zero_terms(options)
        if len(terms) > MAX_CLAUSE_COUNT:
            fail(path, f"the query text analyses to {len(terms)} terms, more than max_clause_count "
                       f"({MAX_CLAUSE_COUNT})")
        clauses = tuple(make(t) for t in terms)
        if len(clauses) == 1:
            return clauses[0]
        return Bool(must=clauses) if options["operator"] == "and" else Bool(should=clauses)

    @staticmethod
    def zero_terms(options: dict[str, Any]) -> Node:
        if options["zero_terms"] == "all":
            return MatchAll()
        return MatchNone(reason="Matching no documents because no terms present")

    def _q_multi_match(self, params: Any, path: str) -> Node:
        params = obj(params, path)
        check_params(params, ("query", "fields", "type", "operator", "minimum_should_match", "tie_breaker",
                              "analyzer", "boost", "zero_terms_query", "lenient",
                              "auto_generate_synonyms_phrase_query", "_name"), path)
        if "query" not in params:
            fail(path, "missing \"query\"")
        text = self._query_text(params["query"], f"{path}.query")
        kind = _text(params.get("type", "best_fields"), f"{path}.type")
        if kind not in _MULTI_MATCH_TYPES:
            fail(f"{path}.type", f"\"{kind}\" is not supported (best_fields, most_fields, cross_fields)")
        tie = (F32(number(params["tie_breaker"], f"{path}.tie_breaker")) if "tie_breaker" in params
               else _MULTI_MATCH_TYPES[kind])
        options = self._match_options(params, path)
        fields = self._multi_fields(params.get("fields"), f"{path}.fields")
        msm = (spec_string(params["minimum_should_match"], f"{path}.minimum_should_match")
               if "minimum_should_match" in params else None)
        msm_path = f"{path}.minimum_should_match"
        if kind == "cross_fields":
            queries = self._cross_fields(fields, text, options, msm, tie, path)
        else:
            queries = []
            for spec, field_boost in fields:
                node = self.field_query(spec, text, options, f"{path}.fields")
                if msm is not None:
                    node = apply_msm(node, msm, msm_path)
                if field_boost != ONE and not isinstance(node, MatchNone):
                    node = _boost_node(node, field_boost)
                queries.append(node)
        if not queries:
            node = self.zero_terms(options)
        elif len(queries) == 1:
            node = queries[0]
        else:
            node = DisMax(disjuncts=tuple(queries), tie=tie)
        return _boost_node(node, boost(params, path))

    def _multi_fields(self, value: Any, path: str) -> list[tuple[FieldSpec, np.float32]]:
        if value is None:
            fail(path, "required: list the fields to search (the embedded engine has no default field)")
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items:
            fail(path, "must be a non-empty array of field names")
        chosen: dict[str, tuple[FieldSpec, np.float32]] = {}
        for i, item in enumerate(items):
            where = f"{path}[{i}]"
            if not isinstance(item, str) or not item:
                fail(where, "must be a field name, optionally with ^boost")
            name, _, raw_boost = item.partition("^")
            field_boost = F32(number(raw_boost, where)) if raw_boost else ONE
            if field_boost < 0:
                fail(where, "negative boosts are not allowed")
            if any(c in name for c in "*?"):
                names = sorted(n for n, s in self.ctx.schema.fields.items()
                               if fnmatch.fnmatchcase(n, name) and s.searchable and s.type in (TEXT, KEYWORD))
                if not names:
                    fail(where, f"no text or keyword field of the mapping matches \"{name}\"")
            else:
                names = [self.field(name, where).name]
            for matched in names:
                if matched in chosen:
                    fail(where, f"field \"{matched}\" is listed more than once")
                chosen[matched] = (self.ctx.schema.fields[matched], field_boost)
        return [chosen[name] for name in sorted(chosen)]

    def _cross_fields(self, fields: list[tuple[FieldSpec, np.float32]], text: str, options: dict[str, Any],
                      msm: str | None, tie: np.float32, path: str) -> list[Node]:
        """MultiMatchQuery.buildCrossFieldQuery: fields grouped by analyzer, terms blended per group."""
        groups: dict[str, list[tuple[FieldSpec, np.float32]]] = {}
        for spec, field_boost in fields:
            if spec.numeric or spec.type == VECTOR:
                fail(f"{path}.fields", f"cross_fields supports text and keyword fields; \"{spec.name}\" is a "
                                       f"{spec.type}")
            analyzer = options["analyzer"] or spec.search_analyzer
            groups.setdefault(analyzer, []).append((spec, field_boost))
        queries = []
        for analyzer, group in groups.items():
            terms = get_analyzer(analyzer).analyze(text)
            if len(group) == 1:
                spec, field_boost = group[0]
                node = self.terms_query(terms, lambda t, s=spec: Term(s.name, t), options, f"{path}.query")
            else:
                node = self.terms_query(terms, lambda t, g=group: self.blended_term(g, t, tie), options,
                                        f"{path}.query")
            if msm is not None:
                node = apply_msm(node, msm, f"{path}.minimum_should_match")
            if len(group) == 1 and group[0][1] != ONE:
                node = _boost_node(node, group[0][1])
            queries.append(node)
        return queries

    def blended_term(self, group: list[tuple[FieldSpec, np.float32]], term: str, tie: np.float32) -> Node:
        """BlendedTermQuery.dismaxBlendedQuery: one term over several fields with blended doc freqs."""
        stats = []
        for spec, _ in group:
            inverted = self.ctx.inverted(spec.name)
            term_id = inverted.term_id(term)
            df = 0 if term_id is None else inverted.doc_freq(term_id)
            stats.append((df, inverted.sum_total_term_freq, inverted.doc_count))
        dfs = blend_doc_freqs(stats, self.ctx.n_docs)
        disjuncts = tuple(_boost_node(Term(spec.name, term, doc_freq=df), field_boost)
                          for (spec, field_boost), df in zip(group, dfs))
        return disjuncts[0] if len(disjuncts) == 1 else DisMax(disjuncts=disjuncts, tie=tie)

    # ---- compound queries ----------------------------------------------------------------------

    def _q_bool(self, params: Any, path: str) -> Node:
        params = obj(params, path)
        check_params(params, ("must", "should", "filter", "must_not", "minimum_should_match", "boost", "_name",
                              "adjust_pure_negative"), path)
        groups = {occur: tuple(self.clauses(params[occur], f"{path}.{occur}")) if params.get(occur) is not None
                  else () for occur in ("must", "should", "filter", "must_not")}
        node_boost = boost(params, path)
        if not any(groups.values()):
            return MatchAll(boost=node_boost)
        msm = 0
        if params.get("minimum_should_match") is not None:
            where = f"{path}.minimum_should_match"
            msm = min_should_match(len(groups["should"]), spec_string(params["minimum_should_match"], where), where)
        filters = groups["filter"]
        adjust = boolean(params.get("adjust_pure_negative", True), f"{path}.adjust_pure_negative")
        if adjust and groups["must_not"] and not (groups["must"] or groups["should"] or filters):
            filters = (MatchAll(),)
        return Bool(must=groups["must"], should=groups["should"], filter=filters, must_not=groups["must_not"],
                    msm=msm, boost=node_boost)

    def _q_dis_max(self, params: Any, path: str) -> Node:
        params = obj(params, path)
        check_params(params, ("queries", "tie_breaker", "boost", "_name"), path)
        if not isinstance(params.get("queries"), list) or not params["queries"]:
            fail(f"{path}.queries", "must be a non-empty array of queries")
        tie = F32(number(params.get("tie_breaker", 0.0), f"{path}.tie_breaker"))
        queries = tuple(self.clauses(params["queries"], f"{path}.queries"))
        return DisMax(disjuncts=queries, tie=tie, boost=boost(params, path))

    def _q_constant_score(self, params: Any, path: str) -> Node:
        params = obj(params, path)
        check_params(params, ("filter", "boost", "_name"), path)
        if "filter" not in params:
            fail(path, "missing \"filter\"")
        return ConstantScore(self.query(params["filter"], f"{path}.filter"), boost=boost(params, path))

    def _q_match_all(self, params: Any, path: str) -> Node:
        params = obj(params, path)
        check_params(params, ("boost", "_name"), path)
        return MatchAll(boost=boost(params, path))

    def _q_match_none(self, params: Any, path: str) -> Node:
        check_params(obj(params, path), ("boost", "_name"), path)
        return MatchNone(reason="match_none")

    # ---- term-level queries --------------------------------------------------------------------

    def _q_term(self, params: Any, path: str) -> Node:
        name, value = self._single_field(params, path)
        where = f"{path}.{name}"
        options = obj(value, where) if isinstance(value, dict) else {"value": value}
        check_params(options, ("value", "boost", "_name"), where)
        if "value" not in options:
            fail(where, "missing \"value\"")
        spec = self.field(name, where)
        if spec.type == VECTOR:
            fail(where, f"field \"{name}\" is a {VECTOR}: query it with knn")
        if spec.numeric:
            node = self._value_filter(spec, [options["value"]], f"{where}.value")
        else:
            node = Term(spec.name, _text(options["value"], f"{where}.value"))
        return _boost_node(node, boost(options, where))

    def _q_terms(self, params: Any, path: str) -> Node:
        name, values = self._single_field(params, path)
        where = f"{path}.{name}"
        if not isinstance(values, list):
            fail(where, "must be an array of values (terms lookup is not supported)")
        spec = self.field(name, where)
        if spec.type == VECTOR:
            fail(where, f"field \"{name}\" is a {VECTOR}")
        if spec.numeric:
            node = self._value_filter(spec, values, where)
        else:
            terms = tuple(sorted({_text(v, f"{where}[{i}]") for i, v in enumerate(values)}))
            node = ConstantFilter("terms", spec.name, terms, f"{spec.name}:({' '.join(terms)})")
        return _boost_node(node, boost(params, path))

    def _value_filter(self, spec: FieldSpec, values: list[Any], path: str) -> Node:
        parsed = []
        for i, value in enumerate(values):
            try:
                parsed.append(self.ctx.numeric(spec.name).parse(value))
            except ValueError as exc:
                fail(path if len(values) == 1 else f"{path}[{i}]", str(exc))
        shown = " ".join(str(v) for v in parsed)
        return ConstantFilter("values", spec.name, tuple(sorted(set(parsed))), f"{spec.name}:[{shown}]")

    def _q_range(self, params: Any, path: str) -> Node:
        name, value = self._single_field(params, path)
        where = f"{path}.{name}"
        options = obj(value, where)
        check_params(options, ("gt", "gte", "lt", "lte", "boost", "_name"), where)
        spec = self.field(name, where)
        bounds = {op: options[op] for op in ("gt", "gte", "lt", "lte") if options.get(op) is not None}
        if "gt" in bounds and "gte" in bounds or "lt" in bounds and "lte" in bounds:
            fail(where, "give at most one lower bound (gt or gte) and one upper bound (lt or lte)")
        if spec.type in NUMERIC_TYPES:
            parsed = tuple((op, number(v, f"{where}.{op}")) for op, v in sorted(bounds.items()))
        elif spec.type == KEYWORD:
            parsed = tuple((op, _text(v, f"{where}.{op}")) for op, v in sorted(bounds.items()))
        else:
            fail(where, f"range queries need a numeric or keyword field; \"{name}\" is a {spec.type}")
        shown = " ".join(f"{op} {v}" for op, v in parsed)
        return _boost_node(ConstantFilter("range", spec.name, parsed, f"{spec.name}:[{shown}]"),
                           boost(options, where))

    def _q_exists(self, params: Any, path: str) -> Node:
        params = obj(params, path)
        check_params(params, ("field", "boost", "_name"), path)
        spec = self.field(params.get("field"), f"{path}.field")
        return ConstantFilter("exists", spec.name, (), f"FieldExistsQuery [field={spec.name}]",
                              boost=boost(params, path))

    def _q_ids(self, params: Any, path: str) -> Node:
        params = obj(params, path)
        check_params(params, ("values", "boost", "_name"), path)
        values = params.get("values")
        if not isinstance(values, list):
            fail(f"{path}.values", "must be an array of document ids")
        ids = tuple(sorted({_text(v, f"{path}.values[{i}]") for i, v in enumerate(values)}))
        return ConstantFilter("ids", "_id", ids, f"_id:({' '.join(ids)})", boost=boost(params, path))

    # ---- vectors -------------------------------------------------------------------------------

    def _q_knn(self, params: Any, path: str) -> Node:
        name, value = self._single_field(params, path)
        where = f"{path}.{name}"
        options = obj(value, where)
        check_params(options, ("vector", "k", "boost", "filter", "_name"), where)
        spec = self.field(name, where)
        if spec.type != VECTOR:
            fail(where, f"field \"{name}\" is a {spec.type}, not a {VECTOR}")
        vector = self._vector(options.get("vector"), spec, f"{where}.vector")
        if "k" not in options:
            fail(where, "missing \"k\" (radial search with max_distance/min_score is not supported)")
        k = integer(options["k"], f"{where}.k", minimum=1)
        if k > MAX_KNN_K:
            fail(f"{where}.k", f"must be at most {MAX_KNN_K}, got {k}")
        knn_filter = self.query(options["filter"], f"{where}.filter") if options.get("filter") is not None else None
        return Knn(spec.name, vector.tobytes(), k, knn_filter, boost=boost(options, where))

    @staticmethod
    def _vector(value: Any, spec: FieldSpec, path: str) -> np.ndarray:
        """The query vector as float32 (as OpenSearch parses it); QueryError naming a bad component."""
        if not isinstance(value, list) or not value:
            fail(path, "must be a non-empty array of numbers")
        if len(value) != spec.dimension:
            fail(path, f"has dimension {len(value)}, the field's is {spec.dimension}")
        try:
            parsed = np.array(value)
        except ValueError:
            parsed = np.zeros(0)
        if parsed.dtype.kind not in "fi" or parsed.shape != (spec.dimension,):
            parsed = np.array([number(v, f"{path}[{i}]") for i, v in enumerate(value)])
        vector = parsed.astype(np.float32)
        if not np.isfinite(vector).all():
            fail(f"{path}[{int(np.flatnonzero(~np.isfinite(vector))[0])}]", "must be a finite number")
        if spec.space_type == "cosinesimil" and not vector.any():
            fail(path, "a zero vector has no cosine similarity")
        return vector


def _boost_node(node: Node, extra: np.float32) -> Node:
    """BoostQuery(node, extra), merged into the node's own boost as Lucene's rewrite does."""
    if extra == ONE:
        return node
    return node.with_boost(F32(extra * node.boost))


def apply_msm(node: Node, spec: str, path: str) -> Node:
    """Queries.maybeApplyMinimumShouldMatch: only a BooleanQuery gets one (counting its SHOULD clauses)."""
    if not isinstance(node, Bool):
        return node
    msm = min_should_match(len(node.should), spec, path)
    if msm <= 0:
        return node
    return Bool(must=node.must, should=node.should, filter=node.filter, must_not=node.must_not, msm=msm,
                boost=node.boost)


def blend_doc_freqs(stats: list[tuple[int, int, int]], max_doc: int) -> list[int]:
    """BlendedTermQuery.blend: per field (df, field sumTotalTermFreq, field docCount) -> blended df.

    Every field gets the largest df of the group, plus one for each step down the df ranking (a bias
    towards the more frequent fields), capped by the field's docCount and by the smallest sumTTF.
    """
    dfs = [df for df, _, _ in stats]
    if len(stats) <= 1:
        return dfs
    top = max(dfs)
    min_sum_ttf = min((sum_ttf for df, sum_ttf, _ in stats if df > 0), default=None)
    if min_sum_ttf is not None and max_doc > min_sum_ttf:
        max_doc = min_sum_ttf
    if top == 0:
        return dfs
    order = sorted(range(len(stats)), key=lambda i: -dfs[i])
    previous = dfs[order[0]]
    actual = min(max_doc, top)
    blended = list(dfs)
    for i in order:
        if dfs[i] == 0:
            break
        if previous > dfs[i]:
            actual += 1
        blended[i] = min(min(max_doc, stats[i][2]), actual)
        previous = dfs[i]
    return blended
