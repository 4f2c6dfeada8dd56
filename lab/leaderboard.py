"""The leaderboard: the latest run of each strategy, best first, with what its models cost."""

from __future__ import annotations

from typing import Any

import pandas as pd

from .evaluation.metrics import DEFAULT_METRICS, PRIMARY_METRIC
from .results import StoredRun

MEASURED = ("measured", "none needed")
"""Re-index bases that are not estimates (see lab.encode_timing.EncodeTally.record)."""


def run_costs(manifest: dict[str, Any]) -> dict[str, Any]:
    """The run's models, their summed training and re-index seconds (None: unknown, e.g. a run stored
    before costs were recorded) and whether the re-index seconds are an estimate."""
    models = list(manifest.get("models", {}))
    costs = manifest.get("model_costs", {})
    known = [costs[m] for m in models if m in costs]

    def total(name: str) -> float | None:
        values = [c.get(name) for c in known]
        return None if len(known) < len(models) or None in values else float(sum(values))

    return {"models": ", ".join(models), "train_seconds": total("train_seconds"),
            "reindex_seconds": total("reindex_seconds"),
            "reindex_estimated": any(c.get("reindex_basis") not in MEASURED for c in known)}


def format_seconds(value: float | None, estimated: bool = False) -> str:
    """Seconds for a table: '—' when unknown (None, or NaN in a table column), '~' before an estimate."""
    if value is None or pd.isna(value):
        return "—"
    text = f"{value:.1f}" if value < 10 else f"{value:,.0f}"
    return f"~{text}" if estimated else text


def leaderboard_table(runs: list[StoredRun], metric: str = PRIMARY_METRIC) -> pd.DataFrame:
    """One row per run: strategy, metrics, queries (and how many failed), seconds, queries/s, models and their costs; sorted by ``metric``."""
    rows = []
    for run in runs:
        m = run.manifest
        rows.append({"strategy": run.strategy, **{k: run.metrics.get(k) for k in DEFAULT_METRICS},
                     "queries": m["n_queries"], "failed": len(m.get("failed_queries", [])), "split": m["split"], "backend": m["backend"]["backend"],
                     "seconds": m["seconds"], "queries/s": m["queries_per_second"], **run_costs(m),
                     "run_id": run.run_id, "created": m["created"]})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    return table.sort_values([metric, "strategy"], ascending=[False, True]).reset_index(drop=True)
