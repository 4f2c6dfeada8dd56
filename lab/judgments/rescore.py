"""`lab rescore`: score stored rankings again against the current judgments, without searching again.

The rescored run is a new stored run (same ranking, new per-query metrics and qrels fingerprint, a
``rescored_from`` record of the original), so the leaderboard picks it up and the history keeps both.
Queries judged after the run was made are not in its ranking: they are counted, and a new `lab run`
includes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..errors import LabError
from ..evaluation.coverage import restrict
from ..evaluation.metrics import evaluate_ranking, mean_metrics
from ..results import StoredRun, latest_runs, save_run


@dataclass
class Rescored:
    """A run scored again: the original, the new stored run, and the split's judged queries it lacks."""

    original: StoredRun
    run: StoredRun
    missing_queries: int


def rescore_run(lab: Any, run: StoredRun) -> Rescored:
    """Store ``run``'s ranking scored against the current dataset's judgments as a new run."""
    dataset = lab.dataset
    ranked = run.ranked_ids()
    unknown = {d for docs in ranked.values() for d in docs} - set(dataset.products["product_id"])
    if unknown:
        raise LabError(f"run '{run.run_id}' ranks product '{min(unknown)}', which dataset '{dataset.name}' no longer "
                       "has: the catalogue changed, so re-run the strategy instead")
    qrels = dataset.qrels_dict(run.manifest["split"])
    judged = restrict(qrels, ranked)
    per_query = evaluate_ranking(judged, ranked, list(run.per_query().columns))
    created = datetime.now(timezone.utc)
    original = run.manifest
    manifest = {**original,
                "run_id": f"{run.strategy}-{created:%Y%m%dT%H%M%S%f}-{run.run_id.rsplit('-', 1)[-1]}",
                "created": created.isoformat(), "n_queries": len(per_query),
                "dataset": dataset.run_record(judgments=True), "metrics": mean_metrics(per_query),
                "rescored_from": {"run_id": run.run_id, "created": original["created"],
                                  "qrels_fingerprint": original["dataset"].get("qrels_fingerprint")}}
    stored = save_run(lab.workspace, dataset.name, manifest, run.ranking(), per_query)
    return Rescored(run, stored, len(set(qrels) - set(ranked)))


def rescore_runs(lab: Any, split: str = "test") -> list[Rescored]:
    """Rescore the latest run of each strategy on ``split`` that was scored on other judgments than the
    current ones (runs already up to date are left alone)."""
    dataset = lab.dataset
    current = dataset.qrels_fingerprint()
    latest = sorted(latest_runs(lab.workspace, dataset.name, split, None), key=lambda r: r.strategy)
    stale = [r for r in latest if r.manifest["dataset"].get("qrels_fingerprint") != current]
    return [rescore_run(lab, run) for run in stale]
