"""Tuning a strategy's template params: trials on the ``tune`` split, the best one run on ``test``.

Selection never sees the test split: every trial is scored on the tune split's judged queries, the best
trial (highest tune metric, earliest on ties) is re-run through the normal runner on the tune split
(a check that the trial's score is the engine's) and on the test split, and only that test run is
reported and stored as a run. Every trial is kept in
``<workspace>/tuning/<dataset>/<strategy>-<timestamp>/trials.parquet`` with a ``manifest.json``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from ..context import Lab
from ..errors import LabError
from ..evaluation.metrics import DEFAULT_METRICS, PRIMARY_METRIC, check_metric, evaluate_ranking, mean_metrics
from ..progress import ProgressFactory, silent
from ..results import StoredRun, save_run
from ..runner import RUN_DEPTH, check_models, execute_strategy, judged_queries, query_vectors
from ..templates import Template
from ..workspace import atomic_path, read_json, workspace_path, write_json
from .search_space import Dimension, grid, grid_size, random_points
from .trial_search import RunTrials, TrialSearch, has_second_stage

METHODS = ("grid", "random")
TUNED_SUFFIX = ".tuned"
"""A tuning's best run is stored as strategy ``<template>.tuned`` ('.' is never in a template's name)."""
DEFAULT_RANDOM_TRIALS = 20
MAX_GRID_TRIALS = 10_000
VERIFY_TOLERANCE = 1e-9


@dataclass
class TuningResult:
    """A finished tuning: its directory, manifest, every trial, and the stored test run of the best."""

    path: Path
    manifest: dict[str, Any]
    trials: pd.DataFrame
    test_run: StoredRun

    @property
    def best_params(self) -> dict[str, Any]:
        return self.manifest["best"]["params"]


def tuning_dir(workspace: Path, dataset: str) -> Path:
    return workspace_path(workspace, "tuning", dataset, option="dataset name")


def plan_trials(dimensions: list[Dimension], method: str, trials: int | None, seed: int) -> list[dict[str, Any]]:
    """The param points to try: the whole grid, or ``trials`` distinct points drawn from it."""
    if not dimensions:
        raise LabError("nothing to tune: give at least one --param NAME=SPEC")
    names = [d.name for d in dimensions]
    duplicated = {n for n in names if names.count(n) > 1}
    if duplicated:
        raise LabError(f"--param {sorted(duplicated)[0]} is given more than once")
    if method not in METHODS:
        raise LabError(f"unknown method '{method}' (known: {', '.join(METHODS)})")
    if trials is not None and trials < 1:
        raise LabError(f"--trials must be at least 1, got {trials}")
    if method == "grid":
        if trials is not None:
            raise LabError("--trials is for --method random; a grid tries every combination")
        if grid_size(dimensions) > MAX_GRID_TRIALS:
            raise LabError(f"the grid has {grid_size(dimensions):,} combinations (more than {MAX_GRID_TRIALS:,}): "
                           "coarsen the ranges or use --method random --trials N")
        return grid(dimensions)
    return random_points(dimensions, trials or DEFAULT_RANDOM_TRIALS, seed)


def tune_strategy(lab: Lab, template: Template, dimensions: list[Dimension], *, method: str = "grid",
                  trials: int | None = None, seed: int = 0, metric: str = PRIMARY_METRIC,
                  fixed: dict[str, Any] | None = None, tune_split: str = "tune", final_split: str = "test",
                  size: int = RUN_DEPTH, progress: ProgressFactory | None = None) -> TuningResult:
    """Try every planned point on ``tune_split``, pick the best by ``metric``, run it on ``final_split``
    and store trials, manifest and the final run."""
    progress = progress or silent()
    if tune_split == final_split:
        raise LabError(f"the tune split and the final split are both '{tune_split}': selecting on the split "
                       "you report would overstate the result")
    check_metric(metric)
    fixed = dict(fixed or {})
    tuned = [d.name for d in dimensions]
    clash = [n for n in tuned if n in fixed]
    if clash:
        raise LabError(f"param '{clash[0]}' is both tuned (--param) and fixed (--fix)")
    points = plan_trials(dimensions, method, trials, seed)
    base = template.resolve_params(fixed)
    models = template.models(base)
    for point in points:
        if template.models({**base, **point}) != models:
            raise LabError(f"param(s) {', '.join(tuned)} change the model the query is encoded with; "
                           "fix the model with --fix model=NAME and tune the other params")
    check_models(lab, template, models)

    dataset = lab.dataset
    queries, qrels = judged_queries(dataset, tune_split)
    query_ids, texts = queries["query_id"].tolist(), queries["query_text"].tolist()
    if has_second_stage(template):
        searcher: TrialSearch | RunTrials = RunTrials(lab, template, tune_split, query_ids, size)
    else:
        vectors = query_vectors(lab, models[0], texts, progress) if models else None
        searcher = TrialSearch(lab.backend.trial_searcher(lab.index_name, template.name), template, texts, vectors,
                               size)

    started = time.perf_counter()
    rows = []
    with progress(f"Tuning {template.name} ({len(points)} trials on {tune_split})", len(points)) as advance:
        for number, point in enumerate(points, start=1):
            trial_start = time.perf_counter()
            params = {**base, **point}
            rankings = searcher.rankings(params)
            per_query = evaluate_ranking(qrels, dict(zip(query_ids, rankings)), DEFAULT_METRICS)
            rows.append({"trial": number, **{f"param.{k}": _cell(v) for k, v in point.items()},
                         "params": json.dumps(point), **mean_metrics(per_query),
                         "seconds": time.perf_counter() - trial_start})
            advance(1)
    trial_seconds = time.perf_counter() - started
    table = pd.DataFrame(rows)
    best_row = table.sort_values([metric, "trial"], ascending=[False, True]).iloc[0]
    best_point = json.loads(best_row["params"])
    best_params = {**fixed, **best_point}

    check = execute_strategy(lab, template, tune_split, best_params, size, progress)
    engine_value = check.manifest["metrics"][metric]
    if abs(engine_value - float(best_row[metric])) > VERIFY_TOLERANCE:
        raise LabError(f"tuning check failed: trial {int(best_row['trial'])} scored {metric} "
                       f"{float(best_row[metric]):.6f} on {tune_split} but a normal run of the same params scores "
                       f"{engine_value:.6f}; please report this (search: {searcher.description})")
    final = execute_strategy(lab, template, final_split, best_params, size, progress)
    tuned_name = tuned_strategy(template.name)  # its own leaderboard row: the template's row keeps its params
    final.manifest["run_id"] = tuned_name + final.manifest["run_id"][len(template.name):]
    final.manifest["strategy"] = tuned_name

    created = datetime.now(timezone.utc)
    directory = tuning_dir(lab.workspace, dataset.name) / f"{template.name}-{created:%Y%m%dT%H%M%S%f}"
    manifest = {
        "strategy": template.name,
        "created": created.isoformat(),
        "template": {"path": str(template.path), "sha256": template.sha256, "defaults": template.params},
        "dataset": dataset.run_record(judgments=True),
        "backend": lab.backend.describe(),
        "models": final.manifest["models"],
        "split": tune_split,
        "n_queries": len(query_ids),
        "final_split": final_split,
        "metric": metric,
        "method": method,
        "seed": seed if method == "random" else None,
        "space": [{"name": d.name, "spec": d.spec, "values": list(d.values)} for d in dimensions],
        "fixed": fixed,
        "n_trials": len(points),
        "search": searcher.description,
        "seconds": round(trial_seconds, 3),
        "trials_per_minute": round(60 * len(points) / trial_seconds, 1) if trial_seconds > 0 else None,
        "best": {"trial": int(best_row["trial"]), "params": best_params,
                 "tune_metrics": check.manifest["metrics"], "test_run_id": final.manifest["run_id"],
                 "test_metrics": final.manifest["metrics"]},
    }
    final.manifest["tuning"] = {"path": str(directory), "trial": int(best_row["trial"]), "metric": metric,
                                "tune_split": tune_split, "tune_value": engine_value, "n_trials": len(points)}
    with atomic_path(directory) as tmp:
        tmp.mkdir()
        table.to_parquet(tmp / "trials.parquet", index=False)
        write_json(tmp / "manifest.json", manifest)
    run = save_run(lab.workspace, dataset.name, final.manifest, final.ranking, final.per_query)
    return TuningResult(directory, manifest, table, run)


def tuned_strategy(name: str) -> str:
    """The strategy name a tuning of template ``name`` stores its best run under."""
    return f"{name}{TUNED_SUFFIX}"


def list_tunings(workspace: Path, dataset: str) -> list[tuple[Path, dict[str, Any]]]:
    """Every stored tuning of ``dataset`` (directory, manifest), oldest first."""
    root = tuning_dir(workspace, dataset)
    found = [(p.parent, read_json(p)) for p in root.glob("*/manifest.json")] if root.exists() else []
    return sorted(found, key=lambda item: item[1]["created"])


def load_trials(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path / "trials.parquet")


def _cell(value: Any) -> Any:
    """A param value as a parquet cell: numbers and strings as they are, arrays as JSON text."""
    return json.dumps(value) if isinstance(value, (list, dict)) else value
