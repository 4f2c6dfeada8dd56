"""Stored runs: TREC + parquet run files, per-query metrics and a manifest per run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import LabError
from .workspace import atomic_path, read_json, workspace_file, workspace_path, write_json


@dataclass
class StoredRun:
    """One run on disk: its manifest (strategy, params, dataset, models, backend, metrics)."""

    path: Path
    manifest: dict[str, Any]

    @property
    def run_id(self) -> str:
        return self.manifest["run_id"]

    @property
    def strategy(self) -> str:
        return self.manifest["strategy"]

    @property
    def metrics(self) -> dict[str, float]:
        return self.manifest["metrics"]

    def ranking(self) -> pd.DataFrame:
        """The run as a table: query_id, rank, product_id, score."""
        return pd.read_parquet(self.path / "run.parquet")

    def per_query(self) -> pd.DataFrame:
        """Per-query metric values, indexed by query_id."""
        return pd.read_parquet(self.path / "per_query.parquet")

    def ranked_ids(self) -> dict[str, list[str]]:
        """query id → product ids in rank order, for every query the run scored (an empty list: no hits)."""
        ranking = self.ranking().sort_values(["query_id", "rank"], kind="stable")
        ranked = {q: [] for q in self.per_query().index}
        for q, d in zip(ranking["query_id"].tolist(), ranking["product_id"].tolist()):
            ranked.setdefault(q, []).append(d)
        return ranked


def runs_dir(workspace: Path, dataset: str) -> Path:
    return workspace_path(workspace, "runs", dataset, option="dataset name")


def write_trec(ranking: pd.DataFrame, target: Path, tag: str) -> None:
    """Write ``ranking`` (query_id, rank, product_id, score) as a TREC run file."""
    columns = (ranking[c].tolist() for c in ("query_id", "rank", "product_id", "score"))  # Python scalars format
    lines = [f"{q} Q0 {d} {r} {s:.9g} {tag}\n" for q, r, d, s in zip(*columns)]  # 3x faster than numpy ones
    target.write_text("".join(lines), encoding="utf-8")


def save_run(workspace: Path, dataset: str, manifest: dict[str, Any], ranking: pd.DataFrame,
             per_query: pd.DataFrame) -> StoredRun:
    """Store a finished run atomically; a run directory is complete or absent."""
    target = workspace_path(workspace, "runs", dataset, manifest["run_id"], option="run id")
    with atomic_path(target) as tmp:
        tmp.mkdir()
        ranking.to_parquet(tmp / "run.parquet", index=False)
        write_trec(ranking, tmp / "run.trec", manifest["strategy"])
        per_query.to_parquet(tmp / "per_query.parquet")
        write_json(tmp / "manifest.json", manifest)
    return StoredRun(target, manifest)


def list_runs(workspace: Path, dataset: str) -> list[StoredRun]:
    """Every stored run of ``dataset``, oldest first; LabError for a run reached through a symlink."""
    root = runs_dir(workspace, dataset)
    runs = []
    for manifest in sorted(root.glob("*/manifest.json")) if root.exists() else []:
        runs.append(StoredRun(manifest.parent, read_json(workspace_file(workspace, manifest))))
    return sorted(runs, key=lambda r: r.manifest["created"])


def load_run(workspace: Path, dataset: str, run_id: str) -> StoredRun:
    """A stored run by id (or by strategy name: its latest run)."""
    runs = list_runs(workspace, dataset)
    for run in reversed(runs):
        if run.run_id == run_id or run.strategy == run_id:
            return run
    raise LabError(f"no run '{run_id}' for dataset '{dataset}' in {runs_dir(workspace, dataset)}")


def latest_runs(workspace: Path, dataset: str, split: str, qrels_fingerprint: str | None) -> list[StoredRun]:
    """The newest run of each strategy on ``split`` whose judgments match ``qrels_fingerprint``;
    runs made against other judgments are not comparable and are left out (``None``: whatever the
    judgments, e.g. to find the runs to rescore)."""
    latest: dict[str, StoredRun] = {}
    for run in list_runs(workspace, dataset):
        fingerprint = run.manifest["dataset"].get("qrels_fingerprint")
        if run.manifest["split"] == split and qrels_fingerprint in (None, fingerprint):
            latest[run.strategy] = run
    return list(latest.values())
