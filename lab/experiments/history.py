"""How a strategy's metrics moved from run to run, across template, param and model versions.

Runs are comparable only when they were scored on the same dataset and judgments (dataset and qrels
hashes match): each row says whether it is comparable with the current dataset, and the change
("delta") is taken against the strategy's previous comparable run only.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from ..evaluation.metrics import DEFAULT_METRICS, PRIMARY_METRIC
from ..results import StoredRun


def history_table(runs: list[StoredRun], fingerprint: str, qrels_fingerprint: str,
                  metric: str = PRIMARY_METRIC) -> pd.DataFrame:
    """One row per run, grouped by strategy and oldest first: its versions (template sha, params,
    model fingerprints), what changed since the strategy's previous run, its metrics, the change of
    ``metric`` since the previous comparable run, and why it is not comparable (if it is not)."""
    rows: list[dict[str, Any]] = []
    for strategy in sorted({r.strategy for r in runs}):
        previous: StoredRun | None = None
        previous_comparable: dict[str, Any] | None = None
        for run in sorted((r for r in runs if r.strategy == strategy), key=lambda r: r.manifest["created"]):
            m = run.manifest
            note = not_comparable_reason(m, fingerprint, qrels_fingerprint)
            value = run.metrics.get(metric)
            delta = None
            if note is None and previous_comparable is not None and value is not None:
                delta = value - previous_comparable[metric]
            rows.append({
                "strategy": strategy, "created": m["created"], "run_id": run.run_id,
                "template": m["template"]["sha256"][:8], "params": json.dumps(m["template"]["params"], sort_keys=True),
                "models": ", ".join(f"{k}:{v[:8]}" for k, v in sorted(m.get("models", {}).items())) or "-",
                "backend": m["backend"].get("backend", "?"),
                "changed": ", ".join(_changes(previous, run)) if previous else "first run",
                **{k: run.metrics.get(k) for k in DEFAULT_METRICS},
                "delta": delta, "comparable": note is None, "note": note or "",
            })
            previous = run
            if note is None:
                previous_comparable = {metric: value}
    return pd.DataFrame(rows)


def not_comparable_reason(manifest: dict[str, Any], fingerprint: str, qrels_fingerprint: str) -> str | None:
    """Why a run's metrics cannot be compared with runs on the current dataset, or None."""
    dataset = manifest["dataset"]
    if dataset["qrels_fingerprint"] != qrels_fingerprint:
        return f"not comparable: qrels hash differs ({dataset['qrels_fingerprint']} vs current {qrels_fingerprint})"
    if dataset["fingerprint"] != fingerprint:
        return f"not comparable: dataset hash differs ({dataset['fingerprint']} vs current {fingerprint})"
    return None


def _changes(before: StoredRun, after: StoredRun) -> list[str]:
    a, b = before.manifest, after.manifest
    changes = []
    if a["template"]["sha256"] != b["template"]["sha256"]:
        changes.append("template")
    if a["template"]["params"] != b["template"]["params"]:
        keys = sorted(k for k in set(a["template"]["params"]) | set(b["template"]["params"])
                      if a["template"]["params"].get(k) != b["template"]["params"].get(k))
        changes.append("params " + ", ".join(keys))
    if a.get("models") != b.get("models"):
        changes.append("model")
    if a["dataset"] != b["dataset"]:
        changes.append("dataset")
    if a["backend"].get("backend") != b["backend"].get("backend"):
        changes.append("backend")
    if "tuning" in b:
        changes.append("tuned")
    return changes or ["nothing (re-run)"]
