"""How much a metric depends on unjudged hits: judged@k, the condensed-list value (unjudged hits removed
before scoring, Sakai 2007), the value with every unjudged hit the metric sees at the top grade, and
bpref (Buckley & Voorhees 2004), which ignores unjudged hits by design, computed by trec_eval through
ir-measures (ranx's bpref is 0 for a query without a judged non-relevant document; trec_eval's is 1 when
nothing non-relevant is ranked above the relevant ones).

Today's number counts every unjudged hit as irrelevant; together with the top-grade value it gives the
range a metric can move in once the unjudged hits of its cut-off are judged (for nDCG the ideal ranking
grows with them, so it is the value under that assumption rather than a strict bound).
"""

from __future__ import annotations

from typing import Iterable

import pandas as pd

from .metrics import PRIMARY_METRIC, Qrels, Ranking, evaluate_ranking, mean_metrics

CONDENSED = "condensed"
TOP_GRADE = "unjudged=top"
BPREF = "bpref"
DEFAULT_JUDGED_MARGIN = 0.1
"""`lab compare` warns when two runs' judged@10 differ by more than this."""


def cutoff(metric: str, default: int = 10) -> int:
    """The ``k`` of ``name@k`` (``default`` for a metric without one)."""
    _, _, k = metric.partition("@")
    return int(k) if k else default


def coverage_columns(metric: str = PRIMARY_METRIC) -> list[str]:
    """The columns of :func:`coverage_per_query` for ``metric``, in order."""
    return [f"judged@{cutoff(metric)}", metric, f"{metric} {CONDENSED}", f"{metric} {TOP_GRADE}", BPREF]


def condensed_ranking(qrels: Qrels, ranking: Ranking) -> Ranking:
    """Each ranking with its unjudged hits removed (the judged ones keep their order)."""
    return {q: [d for d in docs if d in qrels.get(q, {})] for q, docs in ranking.items()}


def unjudged_at_grade(qrels: Qrels, ranking: Ranking, depth: int, grade: int) -> Qrels:
    """``qrels`` plus every unjudged hit in the top ``depth`` of its query's ranking, judged ``grade``."""
    filled = {q: dict(judged) for q, judged in qrels.items()}
    for q, judged in filled.items():
        for d in ranking.get(q, [])[:depth]:
            judged.setdefault(d, grade)
    return filled


def coverage_per_query(qrels: Qrels, ranking: Ranking, metric: str = PRIMARY_METRIC,
                       top_grade: int | None = None) -> pd.DataFrame:
    """Per judged query: judged@k, ``metric`` as today (unjudged = irrelevant), on the condensed ranking, with
    the unjudged hits of its top k at ``top_grade`` (default: the highest grade in ``qrels``), and bpref."""
    k = cutoff(metric)
    grade = top_grade if top_grade is not None else max((g for j in qrels.values() for g in j.values()), default=1)
    today = evaluate_ranking(qrels, ranking, [f"judged@{k}", metric])
    condensed = evaluate_ranking(qrels, condensed_ranking(qrels, ranking), [metric])[metric]
    top = evaluate_ranking(unjudged_at_grade(qrels, ranking, k, grade), ranking, [metric])[metric]
    frame = today.assign(**{f"{metric} {CONDENSED}": condensed, f"{metric} {TOP_GRADE}": top,
                            BPREF: bpref(qrels, ranking)})
    return frame[coverage_columns(metric)]


def bpref(qrels: Qrels, ranking: Ranking) -> pd.Series:
    """trec_eval's bpref per judged query (0 for a query without hits), via ir-measures."""
    import ir_measures

    judged = [ir_measures.Qrel(q, d, int(g)) for q, docs in qrels.items() for d, g in docs.items()]
    scored = [ir_measures.ScoredDoc(q, d, float(len(docs) - i)) for q, docs in ranking.items() if q in qrels
              for i, d in enumerate(docs)]
    values = {m.query_id: float(m.value) for m in ir_measures.iter_calc([ir_measures.Bpref], judged, scored)}
    return pd.Series([values.get(q, 0.0) for q in sorted(qrels)], index=pd.Index(sorted(qrels), name="query_id"),
                     dtype=float, name=BPREF)


def coverage_summary(qrels: Qrels, ranking: Ranking, metric: str = PRIMARY_METRIC,
                     top_grade: int | None = None) -> dict[str, float]:
    """The means of :func:`coverage_per_query` over the judged queries."""
    return mean_metrics(coverage_per_query(qrels, ranking, metric, top_grade))


def judged_gaps(judged: dict[str, float], margin: float = DEFAULT_JUDGED_MARGIN) -> list[tuple[str, str, float]]:
    """Pairs of runs (by label, in the given order) whose judged@k differ by more than ``margin``, with the
    difference (second − first)."""
    labels = list(judged)
    return [(a, b, judged[b] - judged[a]) for i, a in enumerate(labels) for b in labels[i + 1:]
            if abs(judged[b] - judged[a]) > margin]


def restrict(qrels: Qrels, query_ids: Iterable[str]) -> Qrels:
    """The judgments of ``query_ids`` only (those that have any)."""
    return {q: qrels[q] for q in query_ids if q in qrels}
