"""Pooling for raters: the unjudged (query, product) pairs in the top ``depth`` of some runs, deduplicated and
grouped by query, written as CSV, JSONL and Quepid's ratings CSV with a manifest."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import LabError
from ..mapping import model_text_fields
from ..results import StoredRun, latest_runs
from ..workspace import atomic_path, workspace_path

QUEPID_COLUMNS = ("query", "docid", "rating")
"""Quepid's "Import ratings" CSV (query text, document id, rating)."""
TEXT_CHARS = 500
"""Product texts are cut to this length in the pool (the product id leads to the rest)."""


def pool_columns() -> list[str]:
    """The rater's sheet: the query, the product's texts (those the mapping's text vector reads), where the pair
    ranked, and ``grade`` to fill in (the dataset's scale) before `lab judge import`."""
    return ["query_id", "query_text", "product_id", *model_text_fields(), "best_rank", "pooled_from", "grade"]


@dataclass
class Pool:
    """Unjudged pairs of some runs, one row per (query, product), a query's pairs together, best rank first."""

    pairs: pd.DataFrame
    manifest: dict[str, Any]
    directory: Path | None = None


def latest_run(workspace: Path, dataset: str, strategy: str, split: str) -> StoredRun:
    """The newest stored run of ``strategy`` on ``split`` (whatever judgments it was scored on)."""
    for run in latest_runs(workspace, dataset, split, None):
        if run.strategy == strategy:
            return run
    raise LabError(f"no run of '{strategy}' on split '{split}' for dataset '{dataset}': "
                   f"`lab run --strategy {strategy} --split {split}` first")


def build_pool(dataset: Any, runs: list[StoredRun], depth: int = 10, max_pairs: int | None = None) -> Pool:
    """The unjudged pairs in the top ``depth`` of ``runs``; with ``max_pairs``, whole queries (in query id order)
    while they fit."""
    if depth < 1:
        raise LabError(f"--depth {depth}: give a positive number of hits per run")
    if max_pairs is not None and max_pairs < 1:
        raise LabError(f"--max {max_pairs}: give a positive number of pairs")
    judged = set(zip(dataset.qrels["query_id"], dataset.qrels["product_id"]))
    tops = []
    for run in runs:
        top = run.ranking()
        top = top[top["rank"] <= depth].assign(strategy=run.strategy)
        tops.append(top[[(q, d) not in judged for q, d in zip(top["query_id"], top["product_id"])]])
    hits = pd.concat(tops, ignore_index=True) if tops else pd.DataFrame(columns=["query_id", "product_id", "rank"])
    grouped = hits.groupby(["query_id", "product_id"], sort=False)
    pairs = pd.DataFrame({"best_rank": grouped["rank"].min(),
                          "pooled_from": grouped["strategy"].agg(lambda s: ",".join(dict.fromkeys(s)))}).reset_index()
    pairs = pairs.sort_values(["query_id", "best_rank", "product_id"], kind="stable").reset_index(drop=True)
    if max_pairs is not None:
        sizes = pairs.groupby("query_id", sort=False).size()
        kept = sizes.index[sizes.cumsum() <= max_pairs]
        if len(sizes) and not len(kept):
            raise LabError(f"--max {max_pairs}: the first query's pool alone has {sizes.iloc[0]} pairs")
        pairs = pairs[pairs["query_id"].isin(kept)].reset_index(drop=True)
    queries = dataset.queries.set_index("query_id")["query_text"]
    products = dataset.products.set_index("product_id")
    pairs["query_text"] = pairs["query_id"].map(queries)
    for column in model_text_fields():
        pairs[column] = pairs["product_id"].map(products[column]).str.slice(0, TEXT_CHARS)
    pairs["grade"] = None
    manifest = {"dataset": dataset.run_record(judgments=True), "depth": depth, "max_pairs": max_pairs,
                "runs": [{"run_id": r.run_id, "strategy": r.strategy, "split": r.manifest["split"]} for r in runs],
                "pairs": int(len(pairs)), "queries": int(pairs["query_id"].nunique()),
                "created": datetime.now(timezone.utc).isoformat()}
    return Pool(pairs[pool_columns()], manifest)


def write_pool(pool: Pool, directory: Path) -> Path:
    """Write ``pool.csv``, ``pool.jsonl``, ``pool.quepid.csv`` and ``manifest.json`` into ``directory``, which
    appears whole or not at all; the directory."""
    if directory.exists():
        raise LabError(f"{directory} already exists: give another --out")
    records = pool.pairs.astype(object).where(pool.pairs.notna(), None).to_dict(orient="records")
    with atomic_path(directory) as staged:
        staged.mkdir()
        pool.pairs.to_csv(staged / "pool.csv", index=False)
        with open(staged / "pool.jsonl", "w", encoding="utf-8") as out:
            out.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        with open(staged / "pool.quepid.csv", "w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(QUEPID_COLUMNS)
            writer.writerows((r["query_text"], r["product_id"], "") for r in records)
        (staged / "manifest.json").write_text(json.dumps(pool.manifest, indent=2) + "\n", encoding="utf-8")
    pool.directory = directory
    return directory


def pool_runs(lab: Any, strategies: list[str], depth: int = 10, split: str = "test", max_pairs: int | None = None,
              out: Path | None = None) -> Pool:
    """Pool the latest runs of ``strategies`` on ``split`` and write the pool (default folder:
    ``judgments/<dataset>/pool-<time>`` in the workspace)."""
    if not strategies:
        raise LabError("--strategies: name at least one strategy with runs (see `lab leaderboard`)")
    dataset = lab.dataset
    runs = [latest_run(lab.workspace, dataset.name, s, split) for s in dict.fromkeys(strategies)]
    pool = build_pool(dataset, runs, depth, max_pairs)
    if out is None:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
        out = workspace_path(lab.workspace, "judgments", dataset.name, f"pool-{stamp}", option="dataset name")
    write_pool(pool, Path(out))
    return pool
