"""The leaderboard: the latest run of each strategy, best first, with what its models cost."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from .errors import LabError, did_you_mean
from .evaluation.coverage import BPREF, CONDENSED, TOP_GRADE, coverage_summary, restrict
from .evaluation.metrics import DEFAULT_METRICS, PRIMARY_METRIC, Qrels
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


def rerank_cost(manifest: dict[str, Any]) -> dict[str, Any]:
    """What the run's rerank response processor (a cross-encoder) cost: seconds and (query, product) pairs scored
    per second, cache hits included (None without one)."""
    record = manifest.get("rerank_processor") or {}
    return {"rerank_seconds": record.get("seconds"), "rerank_pairs_per_second": record.get("pairs_per_second")}


def overridden_params(manifest: dict[str, Any]) -> str:
    """The params a run used that differ from its template's defaults, as ``name=value`` ('' for none)."""
    overrides = manifest.get("template", {}).get("overrides") or {}
    return ", ".join(f"{k}={json.dumps(v, separators=(',', ':'))}" for k, v in overrides.items())


def format_seconds(value: float | None, estimated: bool = False) -> str:
    """Seconds for a table: '—' when unknown (None, or NaN in a table column), '~' before an estimate."""
    if value is None or pd.isna(value):
        return "—"
    text = f"{value:.1f}" if value < 10 else f"{value:,.0f}"
    return f"~{text}" if estimated else text


COVERAGE_COLUMNS = (f"{PRIMARY_METRIC} {CONDENSED}", f"{PRIMARY_METRIC} {TOP_GRADE}", BPREF)
"""What ``--coverage`` adds beside judged@10: the primary metric on condensed lists and with every unjudged hit
of its top 10 at the top grade, and bpref (see lab.evaluation.coverage)."""


def run_coverage(run: StoredRun, qrels: Qrels, metric: str = PRIMARY_METRIC) -> dict[str, float]:
    """:func:`lab.evaluation.coverage.coverage_summary` of a stored run over the queries it scored."""
    ranked = run.ranked_ids()
    return coverage_summary(restrict(qrels, ranked), ranked, metric)


def leaderboard_table(runs: list[StoredRun], metric: str = PRIMARY_METRIC,
                      coverage: Qrels | None = None) -> pd.DataFrame:
    """One row per run: strategy, metrics, queries (and how many failed), seconds, queries/s, models and their
    costs; sorted by ``metric``. With ``coverage`` (the judgments the runs were scored on), the
    COVERAGE_COLUMNS too."""
    rows = []
    for run in runs:
        m = run.manifest
        measured = {} if coverage is None else run_coverage(run, coverage)
        extra = {c: measured[c] for c in COVERAGE_COLUMNS if measured}
        rows.append({"strategy": run.strategy, **{k: run.metrics.get(k) for k in DEFAULT_METRICS}, **extra,
                     "queries": m["n_queries"], "failed": len(m.get("failed_queries", [])), "split": m["split"],
                     "backend": m["backend"]["backend"], "seconds": m["seconds"], "queries/s": m["queries_per_second"],
                     **run_costs(m), **rerank_cost(m), "params": overridden_params(m), "run_id": run.run_id,
                     "created": m["created"]})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    return table.sort_values([metric, "strategy"], ascending=[False, True]).reset_index(drop=True)


COLUMNS = ("strategy", *DEFAULT_METRICS, *COVERAGE_COLUMNS, "queries", "failed", "seconds", "queries/s", "model",
           "train s", "re-index s", "rerank s", "pairs/s", "params", "backend", "run")
"""What a leaderboard can show, by the names ``--columns`` takes."""
DEFAULT_COLUMNS = ("strategy", "ndcg@10", "mrr@10", "map@10", "judged@10", "queries/s")
"""What it shows by default: the columns a relevance engineer reads first (``--wide``: all)."""
SOURCE = {"model": "models", "train s": "train_seconds", "re-index s": "reindex_seconds", "run": "run_id",
          "rerank s": "rerank_seconds", "pairs/s": "rerank_pairs_per_second"}
"""Display name → table column, where they differ."""


def choose_columns(spec: str | None = None, wide: bool = False, table: pd.DataFrame | None = None) -> list[str]:
    """The columns to show: ``spec`` (comma-separated, ``strategy`` always first) exactly, else all with ``wide``,
    else the defaults, joined by ``failed`` when a run of ``table`` has failed queries and ``params`` when one ran
    other params than its template's defaults. LabError naming an unknown column."""
    if spec:
        names = [n.strip() for n in spec.split(",") if n.strip()]
        for name in names:
            if name not in COLUMNS:
                raise LabError(f"--columns: unknown column '{name}'{did_you_mean(name, COLUMNS)} "
                               f"(known: {', '.join(COLUMNS)})")
        columns = ["strategy", *(n for n in dict.fromkeys(names) if n != "strategy")]
    else:
        columns = [c for c in (COLUMNS if wide else DEFAULT_COLUMNS) if c not in COVERAGE_COLUMNS]
    has_coverage = table is not None and COVERAGE_COLUMNS[0] in table.columns
    missing = [c for c in columns if c in COVERAGE_COLUMNS and not has_coverage]
    if missing:
        raise LabError(f"--columns: '{missing[0]}' needs --coverage")
    if has_coverage and not spec:
        at = columns.index("judged@10") + 1 if "judged@10" in columns else len(columns)
        columns[at:at] = COVERAGE_COLUMNS
    if spec or table is None or table.empty:
        return columns  # the columns asked for, exactly
    if table["failed"].any() and "failed" not in columns:
        columns.insert(columns.index("queries") + 1 if "queries" in columns else len(columns), "failed")
    if table["rerank_seconds"].notna().any():  # rows that rerank with a cross-encoder show what it cost
        columns += [c for c in ("rerank s", "pairs/s") if c not in columns]
    if table["params"].astype(bool).any() and "params" not in columns:
        columns.append("params")  # rows run with other params than their template's defaults say which
    return columns


def leaderboard_cells(table: pd.DataFrame, columns: list[str]) -> tuple[list[str], list[list[str]]]:
    """Header (``#`` first) and text cells of ``table`` for people: metrics to 4 decimals, counts with separators,
    model costs as :func:`format_seconds`."""
    rows = []
    for i, row in table.iterrows():
        cells = [str(i + 1)]
        for column in columns:
            value = row[SOURCE.get(column, column)]
            if column in DEFAULT_METRICS or column in COVERAGE_COLUMNS:
                cells.append(f"{value:.4f}")
            elif column in ("queries", "failed"):
                cells.append(f"{value:,}")
            elif column == "seconds":
                cells.append(f"{value:.1f}")
            elif column == "queries/s":
                cells.append(f"{value or 0:,.0f}")
            elif column == "rerank s":
                cells.append(format_seconds(value))
            elif column == "pairs/s":
                cells.append("" if value is None or pd.isna(value) else f"{value:,.0f}")
            elif column in ("train s", "re-index s"):
                estimated = column == "re-index s" and row["reindex_estimated"]
                cells.append(format_seconds(value, estimated) if row["models"] else "")
            else:
                cells.append(str(value))
        rows.append(cells)
    return ["#", *columns], rows


def leaderboard_records(table: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    """The rows for machines (CSV, JSON): raw values under the display names, rank first."""
    return [{"rank": i + 1, **{c: _plain(row[SOURCE.get(c, c)]) for c in columns}} for i, row in table.iterrows()]


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value
