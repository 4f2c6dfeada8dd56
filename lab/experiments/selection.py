"""Naming runs on the command line (a strategy = its latest run, or a run id) and checking that
runs can be compared: same dataset, same judgments, same split, same queries."""

from __future__ import annotations

from pathlib import Path

from ..errors import LabError
from ..results import StoredRun, list_runs, runs_dir


def resolve_runs(workspace: Path, dataset, refs: list[str], split: str | None = None) -> list[StoredRun]:
    """The stored run each reference names: a run id, or a strategy name: its latest run (on ``split``
    when given) scored on the current ``dataset`` and its judgments. LabError naming the first
    reference that names nothing, and what is known."""
    runs = list_runs(workspace, dataset.name)
    by_id = {r.run_id: r for r in runs}
    current = (dataset.fingerprint(), dataset.qrels_fingerprint())
    resolved = []
    for ref in refs:
        if ref in by_id:
            resolved.append(by_id[ref])
            continue
        named = [r for r in runs if r.strategy == ref and (split is None or r.manifest["split"] == split)]
        usable = [r for r in named if (r.manifest["dataset"]["fingerprint"],
                                       r.manifest["dataset"]["qrels_fingerprint"]) == current]
        if usable:
            resolved.append(usable[-1])
            continue
        where = f" on split '{split}'" if split else ""
        if named:
            raise LabError(f"the runs of '{ref}'{where} were scored on another version of dataset "
                           f"'{dataset.name}' (dataset or qrels hash differs): re-run it, or name a run id")
        strategies = sorted({r.strategy for r in runs})
        known = f"strategies with runs: {', '.join(strategies)}" if strategies else "no runs yet: `lab run` first"
        raise LabError(f"no run of '{ref}'{where} for dataset '{dataset.name}' in {runs_dir(workspace, dataset.name)} "
                       f"(not a run id or a strategy with runs; {known})")
    return resolved


def incomparability(a: StoredRun, b: StoredRun) -> str | None:
    """Why two runs' metrics cannot be compared, or None when they can."""
    da, db = a.manifest["dataset"], b.manifest["dataset"]
    if da["name"] != db["name"]:
        return f"dataset differs ({da['name']} vs {db['name']})"
    if da["qrels_fingerprint"] != db["qrels_fingerprint"]:
        return f"qrels hash differs ({da['qrels_fingerprint']} vs {db['qrels_fingerprint']})"
    if da["fingerprint"] != db["fingerprint"]:
        return f"dataset hash differs ({da['fingerprint']} vs {db['fingerprint']})"
    if a.manifest["split"] != b.manifest["split"]:
        return f"split differs ({a.manifest['split']} vs {b.manifest['split']})"
    return None


def check_comparable(runs: list[StoredRun]) -> None:
    """LabError unless every run can be compared with the first: same dataset and qrels hashes,
    split and query set, and no run given twice."""
    seen: set[str] = set()
    for run in runs:
        if run.run_id in seen:
            raise LabError(f"run {run.run_id} is named twice: compare different runs")
        seen.add(run.run_id)
    base = runs[0]
    base_queries = set(base.per_query().index)
    for run in runs[1:]:
        reason = incomparability(base, run)
        if reason:
            raise LabError(f"not comparable: {reason} between {base.run_id} and {run.run_id}; "
                           "re-run both on the current dataset")
        queries = set(run.per_query().index)
        if queries != base_queries:
            only_base, only_run = len(base_queries - queries), len(queries - base_queries)
            raise LabError(f"not comparable: {base.run_id} and {run.run_id} cover different queries "
                           f"({only_base} only in the first, {only_run} only in the second)")
