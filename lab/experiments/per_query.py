"""Per-query differences between two runs: which queries B helps and hurts most, the top k of each
side with the judged labels, and how much the two rankings overlap (Jaccard@k, RBO)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..errors import LabError
from ..results import StoredRun
from ..evaluation.overlap import jaccard, rbo
from .selection import check_comparable

UNJUDGED = None
"""The label of a hit with no judgment for its query."""


@dataclass(frozen=True)
class RankedHit:
    rank: int
    product_id: str
    title: str
    label: int | None


@dataclass
class QueryDifferences:
    """Run B against run A, query by query (``table`` sorted by delta, most helped first)."""

    a: StoredRun
    b: StoredRun
    metric: str
    depth: int
    rbo_p: float
    table: pd.DataFrame
    _rankings: dict[str, dict[str, list[str]]]
    _qrels: dict[str, dict[str, int]]
    _titles: dict[str, str]

    def helped(self, n: int) -> pd.DataFrame:
        """The ``n`` queries B improves most (delta > 0)."""
        return self.table[self.table["delta"] > 0].head(n)

    def hurt(self, n: int) -> pd.DataFrame:
        """The ``n`` queries B worsens most (delta < 0), worst first."""
        return self.table[self.table["delta"] < 0].sort_values(["delta", "query_id"]).head(n)

    def top_hits(self, side: str, query_id: str) -> list[RankedHit]:
        """The top ``depth`` hits of run ``side`` ('a' or 'b') with their judged label (None = unjudged)."""
        judged = self._qrels.get(query_id, {})
        docs = self._rankings[side].get(query_id, [])[:self.depth]
        return [RankedHit(i, d, self._titles.get(d, ""), judged.get(d, UNJUDGED)) for i, d in enumerate(docs, 1)]

    def summary(self) -> dict[str, Any]:
        t = self.table
        return {"metric": self.metric, "queries": len(t), "helped": int((t["delta"] > 0).sum()),
                "hurt": int((t["delta"] < 0).sum()), "unchanged": int((t["delta"] == 0).sum()),
                "mean_a": float(t["a"].mean()), "mean_b": float(t["b"].mean()),
                f"mean_jaccard@{self.depth}": float(t[f"jaccard@{self.depth}"].mean()),
                "mean_rbo": float(t["rbo"].mean()), "rbo_p": self.rbo_p}


def query_differences(a: StoredRun, b: StoredRun, dataset, metric: str = "ndcg@10", depth: int = 10,
                      rbo_p: float = 0.9) -> QueryDifferences:
    """Compare run ``b`` with run ``a`` per query on ``metric``; ``dataset`` supplies query texts,
    titles and the labels, and must hold the judgments both runs were scored against."""
    check_comparable([a, b])
    current = dataset.qrels_fingerprint()
    if a.manifest["dataset"]["qrels_fingerprint"] != current:
        raise LabError(f"not comparable: qrels hash differs between run {a.run_id} "
                       f"({a.manifest['dataset']['qrels_fingerprint']}) and the current dataset '{dataset.name}' "
                       f"({current}); re-run the strategies")
    if depth < 1:
        raise LabError(f"--depth must be at least 1, got {depth}")
    per_a, per_b = a.per_query(), b.per_query()
    if metric not in per_a.columns or metric not in per_b.columns:
        raise LabError(f"metric '{metric}' was not computed for these runs (they have: {', '.join(per_a.columns)})")
    rankings = {"a": _ranking_lists(a), "b": _ranking_lists(b)}
    texts = dict(zip(dataset.queries["query_id"], dataset.queries["query_text"]))
    rows = []
    for qid in per_a.index:
        ra, rb = rankings["a"].get(qid, []), rankings["b"].get(qid, [])
        va, vb = float(per_a.at[qid, metric]), float(per_b.at[qid, metric])
        rows.append({"query_id": qid, "query": texts.get(qid, ""), "a": va, "b": vb, "delta": vb - va,
                     f"jaccard@{depth}": jaccard(ra, rb, depth), "rbo": rbo(ra, rb, rbo_p)})
    table = pd.DataFrame(rows).sort_values(["delta", "query_id"], ascending=[False, True]).reset_index(drop=True)
    qrels = dataset.qrels_dict(a.manifest["split"])
    titles = dict(zip(dataset.products["product_id"], dataset.products["product_title"].fillna("")))
    return QueryDifferences(a, b, metric, depth, rbo_p, table, rankings, qrels, titles)


def _ranking_lists(run: StoredRun) -> dict[str, list[str]]:
    ranking = run.ranking().sort_values(["query_id", "rank"])
    return {qid: group.tolist() for qid, group in ranking.groupby("query_id", sort=False)["product_id"]}
