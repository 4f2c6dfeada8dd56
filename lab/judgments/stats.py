"""`lab judge stats`: judgments per split and grade, how much of each latest run's top k is judged, and how well
raters agree where a pair was graded more than once (Cohen's kappa, plain and quadratic-weighted, from
scikit-learn)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from ..data.splits import SPLITS
from ..evaluation.metrics import evaluate_ranking
from ..evaluation.coverage import restrict
from ..results import latest_runs
from .merge import CONFLICTS_TABLE, LOG_TABLE, ORIGINAL_RATER


@dataclass
class JudgmentStats:
    """The tables `lab judge stats` prints."""

    grades: pd.DataFrame
    """One row per split: judged queries, then judgments per grade and in all."""
    coverage: pd.DataFrame
    """One row per strategy (its latest run on the split): judged@k now, as stored, and whether it is stale."""
    agreement: pd.DataFrame
    """One row per pair of raters with pairs in common: pairs, share identical, Cohen's kappa (plain, quadratic)."""
    conflicts: int


def grades_by_split(dataset: Any) -> pd.DataFrame:
    """Judged queries and judgments per grade for each split, and a total row."""
    qrels = dataset.qrels.merge(dataset.queries[["query_id", "split"]], on="query_id")
    table = pd.crosstab(qrels["split"], qrels["relevance"]).reindex(list(SPLITS), fill_value=0)
    table.columns = [f"grade {g}" for g in table.columns]
    table.insert(0, "judged queries", qrels.groupby("split")["query_id"].nunique().reindex(table.index, fill_value=0))
    table["judgments"] = table.filter(like="grade ").sum(axis=1)
    table.loc["all"] = table.sum()
    return table.astype(int)


def rater_grades(dataset: Any) -> pd.DataFrame:
    """Every (query, product, rater) grade: the dataset's own (rater ``original``) and each rater's latest."""
    qrels = dataset.qrels
    own = qrels[qrels["rater"].isna()] if "rater" in qrels.columns else qrels
    frames = [own[["query_id", "product_id", "relevance"]].assign(rater=ORIGINAL_RATER)]
    if LOG_TABLE in dataset.extras:
        log = dataset.extras[LOG_TABLE]
        frames.append(log[["query_id", "product_id", "relevance", "rater"]])
    grades = pd.concat(frames, ignore_index=True)
    grades["relevance"] = grades["relevance"].astype(int)
    return grades.drop_duplicates(["query_id", "product_id", "rater"], keep="last").reset_index(drop=True)


def rater_agreement(grades: pd.DataFrame) -> pd.DataFrame:
    """Cohen's kappa (and its quadratic-weighted form, for ordinal grades) for every pair of raters over the
    pairs both graded; NaN where it is undefined (one grade only on both sides)."""
    from sklearn.metrics import cohen_kappa_score

    wide = grades.pivot(index=["query_id", "product_id"], columns="rater", values="relevance")
    rows = []
    for a, b in combinations(sorted(wide.columns), 2):
        both = wide[[a, b]].dropna().astype(int)
        if both.empty:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sklearn warns where kappa is 0/0
            kappa = cohen_kappa_score(both[a], both[b])
            weighted = cohen_kappa_score(both[a], both[b], weights="quadratic")
        rows.append({"rater a": a, "rater b": b, "pairs": len(both),
                     "identical": float((both[a] == both[b]).mean()), "kappa": float(kappa),
                     "weighted kappa": float(weighted)})
    return pd.DataFrame(rows, columns=["rater a", "rater b", "pairs", "identical", "kappa", "weighted kappa"])


def run_coverage(lab: Any, split: str = "test", k: int = 10) -> pd.DataFrame:
    """judged@k of each strategy's latest run on ``split`` against the current judgments, as stored, and whether
    the run was scored on older judgments (`lab rescore` brings it up to date)."""
    dataset = lab.dataset
    qrels = dataset.qrels_dict(split)
    current = dataset.qrels_fingerprint()
    rows = []
    for run in sorted(latest_runs(lab.workspace, dataset.name, split, None), key=lambda r: r.strategy):
        ranked = run.ranked_ids()
        now = evaluate_ranking(restrict(qrels, ranked), ranked, [f"judged@{k}"])[f"judged@{k}"]
        rows.append({"strategy": run.strategy, "run_id": run.run_id, f"judged@{k}": float(now.mean()) if len(now) else 0.0,
                     "stored": run.metrics.get(f"judged@{k}", np.nan),
                     "stale": run.manifest["dataset"].get("qrels_fingerprint") != current})
    return pd.DataFrame(rows, columns=["strategy", "run_id", f"judged@{k}", "stored", "stale"])


def judgment_stats(lab: Any, split: str = "test", k: int = 10) -> JudgmentStats:
    """Grades per split, coverage of the latest runs on ``split`` at depth ``k``, and rater agreement."""
    dataset = lab.dataset
    conflicts = dataset.extras.get(CONFLICTS_TABLE)
    return JudgmentStats(grades_by_split(dataset), run_coverage(lab, split, k), rater_agreement(rater_grades(dataset)),
                         0 if conflicts is None else len(conflicts))
