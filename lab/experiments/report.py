"""The HTML report: one self-contained page (inline CSS, figures as base64 PNG), viewable offline."""

from __future__ import annotations

import base64
import html
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from .. import __version__
from ..context import Lab
from ..errors import LabError
from ..evaluation.metrics import DEFAULT_METRICS, PRIMARY_METRIC
from ..finetune.card import CARD_JSON
from ..results import StoredRun, latest_runs, list_runs
from ..workspace import atomic_path, workspace_file
from . import plots
from .compare import DEFAULT_COMPARE_METRICS, compare_runs, describe_test, display_rows
from .embedding_map import latest_maps, map_caption
from .history import history_table
from .tuning import list_tunings, load_trials

MAX_TUNINGS = 6
MAX_LTR_PLOTS = 2
"""Feature-importance charts: the newest learning-to-rank models only."""
MAX_HISTORY_ROWS = 40
MAX_FINETUNE_FACTS = 80
MAX_MAPS = 4

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1240px;
       color: #1c2733; padding: 0 1rem; }
*, *::before, *::after { box-sizing: border-box; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { margin-top: 2.4rem; border-bottom: 1px solid #d0d7de; }
.meta { color: #57606a; font-size: .9rem; }
.table { max-width: 100%; overflow-x: auto; margin: .8rem 0; }
table { border-collapse: collapse; font-size: .85rem; }
th, td { border: 1px solid #d0d7de; padding: .2rem .45rem; text-align: right; white-space: nowrap; }
th { background: #f6f8fa; } td.text, th.text { text-align: left; white-space: normal; }
td.text { overflow-wrap: anywhere; }
#leaderboard table { font-size: .8rem; } #leaderboard th { white-space: normal; }
#leaderboard td:last-child { white-space: normal; min-width: 6rem; }
#leaderboard td:nth-child(2) { white-space: nowrap; } /* a strategy name is never broken */
tr.best td { background: #eef7ee; font-weight: 600; }
figure { margin: 1rem 0; } figure img { max-width: 100%; border: 1px solid #eaeef2; }
figcaption { color: #57606a; font-size: .85rem; }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(360px, 1fr)); gap: .8rem; }
.card { display: flex; flex-wrap: wrap; gap: 0 2rem; align-items: flex-start; }
details { margin: .4rem 0 1rem; } summary { cursor: pointer; color: #57606a; }
.note { background: #fff8c5; border: 1px solid #d4a72c; padding: .4rem .7rem; border-radius: 4px; }
code { background: #f6f8fa; padding: 0 .25rem; }
"""


def report_path(workspace: Path, dataset: str, split: str) -> Path:
    return workspace / "reports" / f"{dataset}-{split}.html"


def build_report(lab: Lab, split: str = "test", baseline: str | None = None, metric: str = PRIMARY_METRIC,
                 output: Path | None = None) -> Path:
    """Write the report of the dataset's latest comparable runs on ``split``; returns its path."""
    dataset = lab.dataset
    fingerprint, qrels_fingerprint = dataset.fingerprint(), dataset.qrels_fingerprint()
    candidates = latest_runs(lab.workspace, dataset.name, split, qrels_fingerprint)
    runs = [r for r in candidates if r.manifest["dataset"]["fingerprint"] == fingerprint]
    stale = [r for r in candidates if r not in runs]
    if not runs:
        raise LabError(f"no runs of dataset '{dataset.name}' on split '{split}' comparable with its current "
                       "judgments: run `lab run --all` first")
    runs.sort(key=lambda r: (-r.metrics[metric], r.strategy))
    if baseline is not None and baseline not in {r.strategy for r in runs}:
        raise LabError(f"--baseline {baseline}: no comparable run of that strategy on split '{split}' "
                       f"(strategies: {', '.join(sorted(r.strategy for r in runs))})")
    base = next(r for r in runs if r.strategy == (baseline or runs[0].strategy))
    sections = [
        _leaderboard_section(runs, metric, stale),
        _bars_section(runs),
        *(_significance_sections(runs, base, metric) if len(runs) > 1 else []),
        _tuning_section(lab, dataset.name, qrels_fingerprint),
        _finetune_section(lab.workspace),
        _ltr_section(lab.workspace, dataset.name),
        _maps_section(lab.workspace, dataset.name, fingerprint),
        _history_section(lab, dataset.name, split, fingerprint, qrels_fingerprint, metric),
    ]
    title = f"relevance-lab report · {dataset.name} · split {split}"
    created = datetime.now(timezone.utc)
    meta = (f"generated {created:%Y-%m-%d %H:%M UTC} by relevance-lab {__version__} · dataset fingerprint "
            f"<code>{fingerprint}</code> · qrels <code>{qrels_fingerprint}</code> · {runs[0].manifest['n_queries']:,} "
            f"judged queries · backend {html.escape(runs[0].manifest['backend'].get('backend', '?'))}")
    page = (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><style>{STYLE}</style></head>"
            f"<body><h1>{html.escape(title)}</h1><p class=\"meta\">{meta}</p>"
            + "".join(s for s in sections if s) + "</body></html>\n")
    path = output or report_path(lab.workspace, dataset.name, split)
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path


# --- sections ---------------------------------------------------------------------------------

def _leaderboard_section(runs: list[StoredRun], metric: str, stale: list[StoredRun]) -> str:
    from ..leaderboard import format_seconds, run_costs

    header = ["#", "strategy", *DEFAULT_METRICS, "queries/s", "model", "train s", "re-index s", "run at"]
    rows = []
    for i, run in enumerate(runs, 1):
        qps = run.manifest.get("queries_per_second")
        costs = run_costs(run.manifest)
        cost_cells = [format_seconds(costs["train_seconds"]),
                      format_seconds(costs["reindex_seconds"], costs["reindex_estimated"])] if costs["models"] else ["", ""]
        rows.append([str(i), run.strategy, *(f"{run.metrics[m]:.4f}" for m in DEFAULT_METRICS),
                     "" if qps is None else f"{qps:,.0f}", costs["models"], *cost_cells,
                     run.manifest["created"][:16].replace("T", " ")])
    notes = "".join(f"<p class=\"note\">{html.escape(r.strategy)} ({html.escape(r.run_id)}) left out: "
                    f"not comparable: dataset hash differs</p>" for r in stale)
    notes += "".join(f"<p class=\"note\">{html.escape(r.strategy)}: {len(failed):,} of {r.manifest['n_queries']:,} "
                     f"queries failed and score 0 (first, query {html.escape(failed[0]['query_id'])}: "
                     f"{html.escape(failed[0]['error'])})</p>"
                     for r in runs if (failed := r.manifest.get("failed_queries")))
    return (f"<section id=\"leaderboard\"><h2>Leaderboard</h2><p>Latest run of each strategy, by {metric}; "
            "train s / re-index s: what the models cost to train and to re-encode the catalogue (a query-side "
            "adapter needs no re-indexing; ~ an estimate from a measured rate; — unknown).</p>"
            + _table(header, rows, text_columns={1, len(DEFAULT_METRICS) + 3}, highlight=0) + notes + "</section>")


def _bars_section(runs: list[StoredRun]) -> str:
    per_query = {r.strategy: r.per_query() for r in runs}
    image = plots.metric_intervals(per_query, list(DEFAULT_METRICS))
    return ("<section id=\"metrics\"><h2>Metrics with confidence intervals</h2>"
            + _figure(image, "Mean of each metric over the judged queries (dot and value); whiskers: 95% "
                             "t-interval of the mean. Each axis spans the intervals, not from 0: overlapping "
                             "whiskers mean the difference may be noise.")
            + "</section>")


def _significance_sections(runs: list[StoredRun], base: StoredRun, metric: str) -> list[str]:
    ordered = [base, *[r for r in runs if r is not base]]
    metrics = list(dict.fromkeys([metric, *DEFAULT_COMPARE_METRICS]))
    comparison = compare_runs(ordered, metrics)
    header, rows = display_rows(comparison)
    significance = (f"<section id=\"significance\"><h2>Against the baseline {html.escape(base.strategy)}</h2>"
                    f"<p>{html.escape(describe_test(comparison))}</p>"
                    + _table(header, rows, text_columns={0, 1}) + "</section>")
    base_values = base.per_query()[metric]
    deltas = {r.strategy: (r.per_query()[metric].reindex(base_values.index) - base_values).to_numpy()
              for r in ordered[1:]}
    image = plots.win_loss(deltas, base.strategy, metric)
    wins = ("<section id=\"per-query\"><h2>Per-query wins and losses</h2>"
            + _figure(image, f"Queries where the strategy's {metric} is above (wins), equal to (ties) or below "
                             f"(losses) that of {base.strategy}; Δ: the mean difference. "
                             f"`lab queries {base.strategy} STRATEGY` lists them.")
            + "</section>")
    return [significance, wins]


def _tuning_section(lab: Lab, dataset: str, qrels_fingerprint: str) -> str:
    tunings = list_tunings(lab.workspace, dataset)[-MAX_TUNINGS:]
    if not tunings:
        return ("<section id=\"tuning\"><h2>Tuning</h2><p>No tuning yet: "
                "<code>lab tune --strategy S --param NAME=SPEC</code>.</p></section>")
    parts = ["<section id=\"tuning\"><h2>Tuning</h2>"]
    for path, manifest in reversed(tunings):
        trials = load_trials(path)
        metric = manifest["metric"]
        names = [d["name"] for d in manifest["space"]]
        best = manifest["best"]
        stale = manifest["dataset"]["qrels_fingerprint"] != qrels_fingerprint
        parts.append(f"<h3>{html.escape(manifest['strategy'])} · {manifest['created'][:19]}</h3>")
        if stale:
            parts.append("<p class=\"note\">not comparable: qrels hash differs from the current dataset</p>")
        tuned = {k: best["params"][k] for k in names}
        parts.append(f"<p>{manifest['n_trials']} trials ({manifest['method']}) on split {manifest['split']} "
                     f"({manifest['n_queries']:,} queries), {manifest['trials_per_minute']} trials/min. "
                     f"Best (trial {best['trial']}): <code>{html.escape(json.dumps(tuned))}</code>: {metric} "
                     f"{best['tune_metrics'][metric]:.4f} on {manifest['split']}, "
                     f"{best['test_metrics'][metric]:.4f} on {manifest['final_split']}.</p>")
        top = trials.sort_values([metric, "trial"], ascending=[False, True]).head(5)
        rows = [[str(r["trial"]), *(str(r[f"param.{n}"]) for n in names), f"{r[metric]:.4f}"]
                for r in top.to_dict(orient="records")]
        parts.append(_table(["trial", *names, metric], rows, text_columns=set(), highlight=0))
        parts.append(_figure(plots.tuning_effects(trials, names, metric, best["trial"]),
                             f"{metric} of every trial against each tuned param (★ = best), and in trial order."))
    return "".join(parts) + "</section>"


def _finetune_section(workspace: Path) -> str:
    models = sorted(p for p in (workspace / "models").glob("*") if p.is_dir()) if (workspace / "models").exists() else []
    parts = []
    for model in models:
        images = sorted(model.rglob("*.png"))
        documents = [workspace_file(workspace, path) for path in (*sorted(model.glob(CARD_JSON)),
                                                                   *sorted(model.rglob("report.json")))]
        if not images and not documents:
            continue
        loaded = {str(path.relative_to(workspace)): json.loads(path.read_text(encoding="utf-8")) for path in documents}
        card = next((d for p, d in loaded.items() if p.endswith(CARD_JSON)), {})
        report = next((d for p, d in loaded.items() if p.endswith("report.json")), {})
        parts.append(f"<h3>{html.escape(model.name)}</h3><div class=\"card\">"
                     + _table(["field", "value"], _model_summary(model.name, card, report), text_columns={0, 1})
                     + _before_after(card, report) + "</div>")
        facts = [(f"{name}: {key}", value) for name, data in loaded.items() for key, value in _facts(data)]
        if facts:
            parts.append(f"<details><summary>every field ({len(facts):,}, from {', '.join(map(html.escape, loaded))})"
                         "</summary>" + _table(["field", "value"], [[k, v] for k, v in facts[:MAX_FINETUNE_FACTS]],
                                               text_columns={0, 1}) + "</details>")
        if images:
            parts.append("<div class=\"figures\">" + "".join(
                _figure(workspace_file(workspace, image).read_bytes(), str(image.relative_to(workspace)))
                for image in images) + "</div>")
    if not parts:
        return ""
    return "<section id=\"finetune\"><h2>Fine-tuned models</h2>" + "".join(parts) + "</section>"


def _model_summary(name: str, card: dict[str, Any], report: dict[str, Any]) -> list[list[str]]:
    """The card's key facts (model, base, objective, data, training) as field/value rows."""
    config, training = card.get("config", {}), card.get("training", {})
    base = card.get("base_model", {}).get("key") or report.get("base_model")
    rows = [["model", card.get("name") or report.get("name") or name], ["base", base]]
    if config:
        rows.append(["objective", f"{config.get('objective', '?')}, loss {config.get('loss', '?')}"])
    for role, data in card.get("data", {}).items():
        counts = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in data.items()
                           if isinstance(v, int) and not isinstance(v, bool))
        rows.append([f"{role} data", f"split {data.get('split', '?')}: {counts}"])
    if training:
        steps = f"{training.get('steps', '?')} steps, {training.get('epochs', '?')} epochs"
        seconds = training.get("seconds")
        rows.append(["training", steps + ("" if seconds is None else f", {seconds:,.0f} s")
                     + (", stopped early" if training.get("stopped_early") else "")])
    if "queries_improved" in report:
        better = f"{report['queries_improved']:,} better, {report.get('queries_worse', 0):,} worse"
        rows.append([f"{report.get('split', 'val')} queries", better])
    return [[k, str(v)] for k, v in rows if v is not None]


def _before_after(card: dict[str, Any], report: dict[str, Any]) -> str:
    """The val metrics of the base and the fine-tuned model (report.json, else the card's) as a table."""
    metrics = report.get("metrics") or card.get("metrics", {}).get("leaderboard") or {}
    before, after = metrics.get("base", {}), metrics.get("finetuned", {})
    names = [m for m in dict.fromkeys([*DEFAULT_METRICS, *before]) if m in before and m in after]
    if not names:
        return ""
    split = report.get("split") or card.get("data", {}).get("eval", {}).get("split", "val")
    rows = [[m, f"{before[m]:.4f}", f"{after[m]:.4f}", f"{after[m] - before[m]:+.4f}"] for m in names]
    return _table([f"{split} metric", "base", "fine-tuned", "Δ"], rows, text_columns={0})


def _ltr_section(workspace: Path, dataset: str) -> str:
    """The learning-to-rank models of the dataset, newest first: what each reranks, its val gain, and the feature
    importance (gain) of the newest ones."""
    root = workspace / "ltr" / dataset / "models"
    cards = sorted((json.loads(workspace_file(workspace, p).read_text(encoding="utf-8"))
                    for p in root.glob("*/card.json")), key=lambda c: c["created"], reverse=True) if root.is_dir() else []
    if not cards:
        return ("<section id=\"ltr\"><h2>Learning to rank</h2><p>No model yet: <code>lab ltr log</code>, then "
                "<code>lab ltr train</code>.</p></section>")
    rows = [[c["name"], c["feature_set"]["name"], c["first_stage"]["path"].rsplit("/", 1)[-1].removesuffix(".json"),
             f"{c['val']['first_stage']['ndcg@10']:.4f}", f"{c['val']['reranked']['ndcg@10']:.4f}",
             f"{c['val']['reranked']['ndcg@10'] - c['val']['first_stage']['ndcg@10']:+.4f}", str(c["trees"]),
             f"{c['train_seconds']:.0f}"] for c in cards]
    parts = ["<section id=\"ltr\"><h2>Learning to rank</h2><p>LambdaMART models trained on <code>train</code>, "
             "early-stopped on <code>val</code>; val nDCG@10 of the first stage and reranked.</p>",
             _table(["model", "features", "first stage", "val first stage", "val reranked", "Δ", "trees", "train s"],
                    rows, text_columns={0, 1, 2}, highlight=None)]
    for card in cards[:MAX_LTR_PLOTS]:
        parts.append(_figure(plots.feature_importance(card["feature_importance_gain"], f"{card['name']}: feature "
                                                      "importance (gain)"),
                             f"{card['name']}: each feature's share of the gain of the trees' splits."))
    return "".join(parts) + "</section>"


def _maps_section(workspace: Path, dataset: str, fingerprint: str) -> str:
    """The dataset's latest embedding maps (`lab map`), newest first."""
    maps = latest_maps(workspace, dataset)[:MAX_MAPS]
    if not maps:
        return ""
    parts = ["<section id=\"maps\"><h2>Embedding maps</h2>"]
    for image, summary in maps:
        if summary["dataset_fingerprint"] != fingerprint:
            parts.append("<p class=\"note\">the next map was drawn from an earlier version of the dataset "
                         "(dataset hash differs)</p>")
        parts.append(_figure(image, map_caption(summary)))
    return "".join(parts) + "</section>"


def _history_section(lab: Lab, dataset: str, split: str, fingerprint: str, qrels_fingerprint: str,
                     metric: str) -> str:
    runs = [r for r in list_runs(lab.workspace, dataset) if r.manifest["split"] == split]
    frame = history_table(runs, fingerprint, qrels_fingerprint, metric)
    repeated = frame[frame["comparable"]].groupby("strategy").size()
    parts = ["<section id=\"history\"><h2>History</h2><p>Every stored run of the split, per strategy, oldest first; "
             "Δ is against the strategy's previous comparable run.</p>"]
    if (repeated > 1).any():
        parts.append(_figure(plots.history_lines(frame, metric), f"{metric} of strategies run more than once."))
    rows = []
    for row in frame.tail(MAX_HISTORY_ROWS).to_dict(orient="records"):
        delta = "" if row["delta"] is None or pd.isna(row["delta"]) else f"{row['delta']:+.4f}"
        rows.append([row["strategy"], row["created"][:19], row["template"], row["models"], row["changed"],
                     f"{row[metric]:.4f}", delta, row["note"]])
    parts.append(_table(["strategy", "created", "template", "models", "changed", metric, "Δ", "note"], rows,
                        text_columns={0, 1, 2, 3, 4, 7}))
    return "".join(parts) + "</section>"


# --- html helpers -----------------------------------------------------------------------------

def _table(header: list[str], rows: list[list[str]], text_columns: set[int], highlight: int | None = None) -> str:
    def cell(tag: str, i: int, value: str) -> str:
        klass = " class=\"text\"" if i in text_columns else ""
        return f"<{tag}{klass}>{html.escape(str(value))}</{tag}>"

    head = "<tr>" + "".join(cell("th", i, h) for i, h in enumerate(header)) + "</tr>"
    best = " class=\"best\""
    body = "".join(f"<tr{best if r == highlight else ''}>" + "".join(cell("td", i, v) for i, v in enumerate(row))
                   + "</tr>" for r, row in enumerate(rows))
    return f"<div class=\"table\"><table><thead>{head}</thead><tbody>{body}</tbody></table></div>"


def _figure(png: bytes, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f"<figure><img alt=\"{html.escape(caption)}\" src=\"data:image/png;base64,{data}\">"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _facts(data: Any, prefix: str = "", depth: int = 0) -> list[tuple[str, str]]:
    """Scalar values of a JSON report, flattened to ``a.b`` keys (two levels deep)."""
    out: list[tuple[str, str]] = []
    if isinstance(data, dict) and depth <= 2:
        for key, value in data.items():
            out.extend(_facts(value, f"{prefix}{key}.", depth + 1))
    elif isinstance(data, (int, float, str, bool)) and not isinstance(data, dict):
        text = f"{data:.4f}" if isinstance(data, float) else str(data)
        out.append((prefix.rstrip("."), text[:120]))
    return out
