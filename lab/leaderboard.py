"""The leaderboard: the latest run of each strategy, best first."""

from __future__ import annotations

import pandas as pd

from .evaluation import DEFAULT_METRICS, PRIMARY_METRIC
from .results import StoredRun


def leaderboard_table(runs: list[StoredRun], metric: str = PRIMARY_METRIC) -> pd.DataFrame:
    """One row per run: strategy, metrics, queries, seconds, queries/s; sorted by ``metric``."""
    rows = []
    for run in runs:
        m = run.manifest
        rows.append({"strategy": run.strategy, **{k: run.metrics.get(k) for k in DEFAULT_METRICS},
                     "queries": m["n_queries"], "split": m["split"], "backend": m["backend"]["backend"],
                     "seconds": m["seconds"], "queries/s": m["queries_per_second"],
                     "run_id": run.run_id, "created": m["created"]})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    return table.sort_values([metric, "strategy"], ascending=[False, True]).reset_index(drop=True)
