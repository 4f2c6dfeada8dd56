"""Comparing runs against a baseline: mean, delta, paired p-value (Holm-corrected for more than one
comparison), wins/ties/losses per query, for each metric."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import LabError
from ..evaluation.coverage import BPREF, CONDENSED, DEFAULT_JUDGED_MARGIN, TOP_GRADE, cutoff, judged_gaps
from ..evaluation.metrics import Qrels
from ..leaderboard import run_coverage
from ..results import StoredRun
from .selection import check_comparable
from ..evaluation.stats import TESTS, format_p_value, holm, paired_p_value

DEFAULT_COMPARE_METRICS = ("ndcg@10", "mrr@10", "recall@100")
TIE_TOLERANCE = 1e-12
COLUMNS = ["metric", "strategy", "run_id", "mean", "delta", "delta_pct", "p_value", "p_adjusted", "significant",
           "wins", "ties", "losses"]


@dataclass
class Comparison:
    """The outcome of ``compare_runs``: one row per (metric, strategy), the baseline first."""

    baseline: str
    test: str
    alpha: float
    corrected: bool
    permutations: int
    n_queries: int
    split: str
    table: pd.DataFrame
    judged_gaps: list[tuple[str, str, float]] = field(default_factory=list)
    """Pairs of runs whose judged@10 differ by more than the margin: (run, other run, other − run)."""

    def worse(self, metric: str) -> list[str]:
        """Strategies significantly worse than the baseline on ``metric``."""
        rows = self.table[(self.table["metric"] == metric) & (self.table["strategy"] != self.baseline)]
        return rows.loc[rows["significant"].astype(bool) & (rows["delta"] < 0), "strategy"].tolist()

    def to_dict(self) -> dict[str, Any]:
        rows = self.table.astype(object).where(self.table.notna(), None).to_dict(orient="records")
        return {"baseline": self.baseline, "test": self.test, "alpha": self.alpha,
                "correction": "holm" if self.corrected else None,
                "permutations": self.permutations if self.test == "fisher" else None,
                "split": self.split, "n_queries": self.n_queries, "rows": rows,
                "judged_gaps": [{"run": a, "other": b, "difference": d} for a, b, d in self.judged_gaps]}


def run_labels(runs: list[StoredRun]) -> list[str]:
    """Strategy names, or run ids where a strategy appears more than once."""
    names = [r.strategy for r in runs]
    return [r.strategy if names.count(r.strategy) == 1 else r.run_id for r in runs]


def compare_runs(runs: list[StoredRun], metrics: tuple[str, ...] | list[str] = DEFAULT_COMPARE_METRICS,
                 test: str = "t-test", alpha: float = 0.05, permutations: int = 10_000,
                 seed: int = 42, judged_margin: float = DEFAULT_JUDGED_MARGIN) -> Comparison:
    """Compare ``runs[1:]`` with the baseline ``runs[0]`` on each metric; runs whose judged@10 differ by more than
    ``judged_margin`` are listed in ``judged_gaps`` (their metrics rest on different shares of judged hits)."""
    if len(runs) < 2:
        raise LabError("compare needs at least two runs: a baseline and a candidate")
    if test not in TESTS:
        raise LabError(f"unknown test '{test}' (known: {', '.join(TESTS)})")
    if not 0 < alpha < 1:
        raise LabError(f"alpha must be between 0 and 1, got {alpha}")
    check_comparable(runs)
    labels = run_labels(runs)
    frames = [r.per_query() for r in runs]
    order = frames[0].index
    frames = [f.loc[order] for f in frames]
    for metric in metrics:
        for run, frame in zip(runs, frames):
            if metric not in frame.columns:
                raise LabError(f"metric '{metric}' was not computed for run {run.run_id} "
                               f"(it has: {', '.join(frame.columns)})")
    corrected = len(runs) > 2
    rows = []
    for metric in metrics:
        base = frames[0][metric].to_numpy(dtype=float)
        base_mean = float(base.mean())
        rows.append(_row(metric, labels[0], runs[0], base_mean, base_mean))
        raw = []
        for label, run, frame in zip(labels[1:], runs[1:], frames[1:]):
            values = frame[metric].to_numpy(dtype=float)
            diff = values - base
            row = _row(metric, label, run, float(values.mean()), base_mean)
            row.update(p_value=paired_p_value(base, values, test, permutations, seed),
                       wins=int((diff > TIE_TOLERANCE).sum()), ties=int((np.abs(diff) <= TIE_TOLERANCE).sum()),
                       losses=int((diff < -TIE_TOLERANCE).sum()))
            raw.append(row)
        adjusted = holm([r["p_value"] for r in raw]) if corrected else [r["p_value"] for r in raw]
        for row, p in zip(raw, adjusted):
            row.update(p_adjusted=p, significant=bool(p < alpha))
        rows.extend(raw)
    table = pd.DataFrame(rows, columns=COLUMNS).astype({"significant": "boolean", "wins": "Int64", "ties": "Int64",
                                                        "losses": "Int64"})
    judged = {label: float(frame["judged@10"].mean()) for label, frame in zip(labels, frames)
              if "judged@10" in frame.columns}
    return Comparison(labels[0], test, alpha, corrected, permutations, len(order), runs[0].manifest["split"], table,
                      judged_gaps(judged, judged_margin) if len(judged) == len(runs) else [])


def coverage_rows(runs: list[StoredRun], qrels: Qrels, metrics: tuple[str, ...] | list[str]) -> pd.DataFrame:
    """One row per (metric, run): judged@k, the metric as scored, on condensed lists, with unjudged hits at the top
    grade, and bpref (see lab.evaluation.coverage)."""
    rows = []
    for metric in metrics:
        for label, run in zip(run_labels(runs), runs):
            values = run_coverage(run, qrels, metric)
            k = cutoff(metric)
            rows.append({"metric": metric, "strategy": label, "k": k, "judged@k": values[f"judged@{k}"],
                         "value": values[metric], CONDENSED: values[f"{metric} {CONDENSED}"],
                         TOP_GRADE: values[f"{metric} {TOP_GRADE}"], BPREF: values[BPREF]})
    return pd.DataFrame(rows)


def _row(metric: str, label: str, run: StoredRun, mean: float, base_mean: float) -> dict[str, Any]:
    delta = mean - base_mean
    return {"metric": metric, "strategy": label, "run_id": run.run_id, "mean": mean, "delta": delta,
            "delta_pct": 100.0 * delta / base_mean if base_mean else None, "p_value": None, "p_adjusted": None,
            "significant": None, "wins": None, "ties": None, "losses": None}


def display_rows(comparison: Comparison) -> tuple[list[str], list[list[str]]]:
    """Header and text cells for human-readable formats; a significant p-value is marked with *."""
    header = ["metric", "strategy", "mean", "Δ", "Δ%", "p", *(["p (Holm)"] if comparison.corrected else []), "W/T/L"]
    body = []
    for r in comparison.table.itertuples(index=False):
        baseline = r.strategy == comparison.baseline
        p_cells = []
        if not baseline:
            mark = "*" if r.significant else ""
            p_cells = [format_p_value(r.p_value) + ("" if comparison.corrected else mark)]
            if comparison.corrected:
                p_cells.append(f"{format_p_value(r.p_adjusted)}{mark}")
        else:
            p_cells = ["baseline"] + ([""] if comparison.corrected else [])
        delta_pct = "" if baseline or r.delta_pct is None or pd.isna(r.delta_pct) else f"{r.delta_pct:+.1f}%"
        body.append([r.metric, r.strategy, f"{r.mean:.4f}", "" if baseline else f"{r.delta:+.4f}", delta_pct,
                     *p_cells, "" if baseline else f"{r.wins}/{r.ties}/{r.losses}"])
    return header, body


def describe_test(comparison: Comparison) -> str:
    """One line: the test, α, the correction, the number of queries."""
    test = ("paired t-test" if comparison.test == "t-test"
            else f"Fisher randomization test ({comparison.permutations:,} permutations)")
    correction = ", Holm-corrected over the comparisons of each metric" if comparison.corrected else ""
    return (f"{test}{correction}; α = {comparison.alpha:g} (* = significant); baseline {comparison.baseline}; "
            f"{comparison.n_queries:,} queries of split {comparison.split}; W/T/L = queries better/equal/worse "
            "than the baseline")
