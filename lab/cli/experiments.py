"""The experiment commands: compare, queries, explain, tune, report, and the leaderboard's history view.

A thin shell over ``lab.experiments``; ``register(cli)`` adds the commands to the ``lab`` group.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from .render import emit, format_option
from .support import console, err_console, lab_for, progress_bars
from ..errors import LabError
from ..evaluation.coverage import DEFAULT_JUDGED_MARGIN
from ..evaluation.metrics import PRIMARY_METRIC, check_metric
from ..experiments.formats import FORMATS, csv_text, json_text, latex_table, markdown_table

REGRESSION_EXIT_CODE = 3
"""`lab compare --fail-if-worse` exit status when a candidate is significantly worse (1 = an error)."""


# --- compare ----------------------------------------------------------------------------------

@click.command()
@click.argument("runs", nargs=-1, required=True)
@click.option("--metric", "metrics", multiple=True,
              help="Metric to compare; repeatable (default: ndcg@10, mrr@10, recall@100).")
@click.option("--test", type=click.Choice(["t-test", "fisher"]), default="t-test", show_default=True,
              help="Paired test: Student's t-test, or Fisher's randomization test.")
@click.option("--permutations", type=int, default=10_000, show_default=True,
              help="Random sign flips for --test fisher.")
@click.option("--seed", type=int, default=42, show_default=True, help="Seed of --test fisher.")
@click.option("--alpha", type=float, default=0.05, show_default=True, help="Significance level.")
@click.option("--split", default="test", show_default=True,
              help="For strategy names: compare their latest runs on this split.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--fail-if-worse", "gate", metavar="METRIC",
              help=f"Exit {REGRESSION_EXIT_CODE} if a candidate is significantly worse than the baseline on "
                   "METRIC (CI regression gate).")
@click.option("--coverage", is_flag=True, help="Also each run's judged@k, the metric on condensed lists and with "
                                               "unjudged hits at the top grade, and bpref.")
@click.option("--judged-margin", type=float, default=DEFAULT_JUDGED_MARGIN, show_default=True,
              help="Warn when two runs' judged@10 differ by more than this.")
@click.pass_context
def compare(ctx: click.Context, runs: tuple[str, ...], metrics: tuple[str, ...], test: str, permutations: int,
            seed: int, alpha: float, split: str, fmt: str, gate: str | None, coverage: bool,
            judged_margin: float) -> None:
    """Compare runs against the first (the baseline): mean, delta, paired p-value, wins/ties/losses.

    RUNS are strategy names (their latest run on --split) or run ids. With more than two runs the
    p-values are Holm-corrected over the comparisons of each metric. A p-value below --alpha is marked *.
    """
    from ..experiments.compare import (DEFAULT_COMPARE_METRICS, compare_runs, coverage_rows, describe_test,
                                       display_rows)
    from ..experiments.selection import resolve_runs

    lab = lab_for(ctx)
    chosen = list(metrics) or list(DEFAULT_COMPARE_METRICS)
    if gate:
        check_metric(gate)
        if gate not in chosen:
            chosen.append(gate)
    for metric in chosen:
        check_metric(metric)
    stored = resolve_runs(lab.workspace, lab.dataset, list(runs), split)
    comparison = compare_runs(stored, chosen, test=test, alpha=alpha, permutations=permutations, seed=seed,
                              judged_margin=judged_margin)
    header, rows = display_rows(comparison)
    note = describe_test(comparison)
    if fmt == "table":
        table = Table(*header, title=f"compare · {lab.current_dataset_name} · split {comparison.split}")
        for row in rows:
            table.add_row(*(escape(c) for c in row))
        console.print(table)
        console.print(note, highlight=False, soft_wrap=True)
    elif fmt == "markdown":
        click.echo(markdown_table(header, rows) + f"\n{note}")
    elif fmt == "latex":
        click.echo(latex_table(header, rows, caption=note), nl=False)
    elif fmt == "csv":
        click.echo(csv_text(comparison.table), nl=False)
    else:
        click.echo(json_text(comparison.to_dict()), nl=False)
    if coverage:
        _print_coverage(coverage_rows(stored, lab.dataset.qrels_dict(comparison.split), chosen), fmt)
    for a, b, gap in comparison.judged_gaps if fmt not in ("csv", "json") else ():  # json has them as judged_gaps
        err_console.print(f"[yellow]judged@10 of {a} and {b} differ by {gap:+.3f}[/] (margin {judged_margin:g}): their "
                          "metrics rest on different shares of judged hits; see --coverage, `lab judge pool`",
                          highlight=False, soft_wrap=True)
    if gate:
        worse = comparison.worse(gate)
        if worse:
            err_console.print(f"[bold red]regression:[/] {', '.join(worse)} significantly worse than "
                              f"{comparison.baseline} on {gate} (α = {alpha:g})", highlight=False, soft_wrap=True)
            sys.exit(REGRESSION_EXIT_CODE)


def _print_coverage(frame, fmt: str) -> None:
    """The coverage rows of `lab compare --coverage` in ``fmt``."""
    if fmt == "csv":
        click.echo(csv_text(frame), nl=False)
    elif fmt == "json":
        click.echo(json_text(frame.to_dict(orient="records")), nl=False)
    else:
        header = [str(c) for c in frame.columns]
        rows = [[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row] for row in frame.itertuples(index=False)]
        if fmt == "table":
            table = Table(*header, title="coverage")
            for row in rows:
                table.add_row(*(escape(c) for c in row))
            console.print(table)
        elif fmt == "markdown":
            click.echo(markdown_table(header, rows))
        else:
            click.echo(latex_table(header, rows, caption="coverage"), nl=False)


# --- queries ----------------------------------------------------------------------------------

@click.command()
@click.argument("a")
@click.argument("b")
@click.option("--metric", default=PRIMARY_METRIC, show_default=True, help="Per-query metric.")
@click.option("--top", "n", type=int, default=5, show_default=True, help="Queries shown in each direction.")
@click.option("--depth", type=int, default=10, show_default=True, help="Hits shown per side, and Jaccard@depth.")
@click.option("--rbo-p", type=float, default=0.9, show_default=True, help="RBO persistence.")
@click.option("--split", default="test", show_default=True, help="For strategy names: their latest run on it.")
@click.option("--format", "fmt", type=click.Choice(["table", "markdown", "csv", "json"]), default="table",
              show_default=True, help="csv/json give every query.")
@click.pass_context
def queries(ctx: click.Context, a: str, b: str, metric: str, n: int, depth: int, rbo_p: float, split: str,
            fmt: str) -> None:
    """The queries B helps and hurts most compared with A, with the top hits of both sides
    (judged label in brackets, [?] = unjudged) and how much the two rankings overlap."""
    from ..experiments.per_query import query_differences
    from ..experiments.selection import resolve_runs

    lab = lab_for(ctx)
    check_metric(metric)
    if n < 0:
        raise LabError(f"--top must be 0 or more, got {n}")
    run_a, run_b = resolve_runs(lab.workspace, lab.dataset, [a, b], split)
    diff = query_differences(run_a, run_b, lab.dataset, metric, depth, rbo_p)
    summary = diff.summary()
    if fmt == "csv":
        same = run_a.strategy == run_b.strategy
        names = {"a": run_a.run_id if same else run_a.strategy, "b": run_b.run_id if same else run_b.strategy}
        click.echo(csv_text(diff.table.rename(columns={k: f"{metric} {v}" for k, v in names.items()})), nl=False)
        return
    if fmt == "json":
        chosen = [*diff.helped(n)["query_id"], *diff.hurt(n)["query_id"]]
        hits = {q: {side: [vars(h) for h in diff.top_hits(side, q)] for side in ("a", "b")} for q in chosen}
        click.echo(json_text({"a": run_a.run_id, "b": run_b.run_id, "summary": summary,
                              "queries": diff.table.to_dict(orient="records"), "top_hits": hits}), nl=False)
        return
    overview = (f"{run_b.strategy} vs {run_a.strategy} on {metric}: {summary['helped']} queries helped, "
                f"{summary['hurt']} hurt, {summary['unchanged']} unchanged of {summary['queries']}; "
                f"mean Jaccard@{depth} {summary[f'mean_jaccard@{depth}']:.3f}, mean RBO(p={rbo_p:g}) "
                f"{summary['mean_rbo']:.3f}")
    sections = [(f"B helps most ({run_b.strategy} better)", diff.helped(n)),
                (f"B hurts most ({run_b.strategy} worse)", diff.hurt(n))]
    if fmt == "markdown":
        out = [overview, ""]
        for title, rows in sections:
            out.append(f"## {title}\n")
            out.append(markdown_table(["query", "A", "B", "Δ", f"Jaccard@{depth}", "RBO"],
                                      [_query_cells(r, depth) for r in rows.to_dict(orient="records")]))
        click.echo("\n".join(out))
        return
    console.print(overview, highlight=False, soft_wrap=True)
    for title, rows in sections:
        table = Table("query", f"{metric} A", f"{metric} B", "Δ", f"Jaccard@{depth}", "RBO", title=title)
        for row in rows.to_dict(orient="records"):
            table.add_row(*(escape(c) for c in _query_cells(row, depth)))
        console.print(table)
        for row in rows.to_dict(orient="records"):
            _print_side_by_side(diff, row["query_id"], row["query"], run_a.strategy, run_b.strategy)


def _query_cells(values: dict[str, Any], depth: int) -> list[str]:
    return [f"{values['query']} ({values['query_id']})", f"{values['a']:.3f}", f"{values['b']:.3f}",
            f"{values['delta']:+.3f}", f"{values[f'jaccard@{depth}']:.2f}", f"{values['rbo']:.2f}"]


def _print_side_by_side(diff, query_id: str, text: str, name_a: str, name_b: str) -> None:
    hits_a, hits_b = diff.top_hits("a", query_id), diff.top_hits("b", query_id)
    table = Table("#", f"A: {name_a}", f"B: {name_b}", title=f"“{text}” ({query_id})", title_justify="left")
    for i in range(max(len(hits_a), len(hits_b))):
        cells = [_hit_cell(hits[i]) if i < len(hits) else "" for hits in (hits_a, hits_b)]
        table.add_row(str(i + 1), *cells)
    console.print(table)


def _hit_cell(hit) -> str:
    label = "?" if hit.label is None else str(hit.label)
    return f"[{label}] {escape(hit.title[:60])} ({escape(hit.product_id)})"


# --- explain ----------------------------------------------------------------------------------

@click.command()
@click.option("--strategy", required=True, help="Strategy (template name in queries/).")
@click.option("--query", "query_text", required=True, help="Query text.")
@click.option("--param", "params", multiple=True, help="Override a template param: name=value (JSON value).")
@click.option("--top", type=int, default=3, show_default=True, help="Top hits to explain.")
@click.option("--doc", "docs", multiple=True, help="Also explain this product id (ranked or not); repeatable.")
@click.option("--full", is_flag=True, help="Show every node (BM25 idf/tf inputs included).")
@click.option("--format", "fmt", type=click.Choice(["tree", "json"]), default="tree", show_default=True)
@click.pass_context
def explain(ctx: click.Context, strategy: str, query_text: str, params: tuple[str, ...], top: int,
            docs: tuple[str, ...], full: bool, fmt: str) -> None:
    """Why the strategy ranks its hits: each hit's score broken down per clause (BM25 per field and
    term, k-NN similarity, normalisation and fusion), from the engine's or OpenSearch's explain."""
    from ..experiments.explain import explain_query
    from ..templates import parse_param_overrides, template_named

    lab = lab_for(ctx)
    template = template_named(lab.templates(), strategy)
    hits = explain_query(lab, template, query_text, parse_param_overrides(list(params)), top, list(docs))
    if fmt == "json":
        click.echo(json_text({"strategy": strategy, "query": query_text, "backend": lab.backend.name,
                              "hits": [h.to_dict() for h in hits]}), nl=False)
        return
    console.print(f"{strategy} · “{escape(query_text)}” · {lab.backend.name} backend", highlight=False)
    for hit in hits:
        rank = f"#{hit.rank}" if hit.rank else "not in the top 100"
        label = "" if hit.label is None else f" · judged {hit.label}"
        score = "" if hit.score is None else f" · score {hit.score:.6g}"
        tree = Tree(f"[bold]{rank}[/] {escape(hit.title[:80])} ({escape(hit.product_id)}){score}{label}")
        _add_explanation(tree, hit.explanation, full)
        console.print(tree)


def _add_explanation(parent: Tree, node: dict[str, Any], full: bool) -> None:
    from ..experiments.explain import BM25_TERM

    description = str(node.get("description", ""))
    value = float(node.get("value", 0.0))
    details = node.get("details") or []
    if not full and BM25_TERM.match(description):
        parent.add(f"[cyan]{value:.6g}[/] {escape(description.split(' [')[0])}{escape(_bm25_inputs(node))}")
        return
    branch = parent.add(f"[cyan]{value:.6g}[/] {escape(description)}")
    for child in details:
        _add_explanation(branch, child, full)


def _bm25_inputs(node: dict[str, Any]) -> str:
    """`` = boost × idf × tf`` with the values, read from a BM25 term explanation."""
    found: dict[str, float] = {}
    stack = list(node.get("details") or [])
    while stack:
        child = stack.pop()
        head = str(child.get("description", "")).split(",")[0].split(" ")[0]
        if head in ("boost", "idf", "tf") and head not in found:
            found[head] = float(child["value"])
        stack.extend(child.get("details") or [])
    parts = [f"{k} {found[k]:.6g}" for k in ("boost", "idf", "tf") if k in found]
    return f" = {' × '.join(parts)}" if parts else ""


# --- tune -------------------------------------------------------------------------------------

TUNE_HELP = """Search template params on the tune split; report the best on the test split.

\b
Each --param NAME=SPEC adds a dimension:
  title_boost=1,2,4,8        the listed values
  knn_boost=10:100:10        start:stop:step, stop included (10, 20, ..., 100)
  rank_constant=20:80:20     RRF's rank_constant (rrf templates)
  weights=0.1:0.9:0.1        weights of normalization-processor, which must sum to 1: every weight
                             vector on that grid summing to 1, i.e. [w, 1-w] for two sub-queries
                             ([0.1,0.9] ... [0.9,0.1]); with three sub-queries every [a, b, c] on it
  weights=[[0.3,0.7],[0.5,0.5]]   explicit candidates (JSON)

\b
--method grid tries every combination; --method random draws --trials of them (seeded).
Trials are scored on the judged queries of --tune-split only; the best (by --metric, earliest on
ties) is re-run on --tune-split as a check and on the test split, stored as a run of the strategy.
Every trial is stored under <workspace>/tuning/<dataset>/<strategy>-<time>/ (trials.parquet,
manifest.json). On the embedded backend trials share clause scores, so only what changes is searched.
"""


@click.command(help=TUNE_HELP)
@click.option("--strategy", required=True, help="Strategy (template name in queries/).")
@click.option("--param", "specs", multiple=True, required=True, help="NAME=SPEC to search; repeatable.")
@click.option("--fix", "fixed", multiple=True, help="Hold a param at a value: name=value (JSON), e.g. model=ft1.")
@click.option("--method", type=click.Choice(["grid", "random"]), default="grid", show_default=True)
@click.option("--trials", type=int, help="Trials drawn by --method random (default 20).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of --method random.")
@click.option("--metric", default=PRIMARY_METRIC, show_default=True, help="Metric to maximise.")
@click.option("--tune-split", default="tune", show_default=True, help="Split the trials are scored on.")
@click.option("--show", type=int, default=10, show_default=True, help="Top trials printed.")
@click.option("--save", "save_as", metavar="NAME",
              help="Also write the winner as a new strategy, <workspace>/queries/NAME.json (its params as defaults).")
@format_option("The top trials: a table, or Markdown, CSV or JSON.")
@click.pass_context
def tune(ctx: click.Context, strategy: str, specs: tuple[str, ...], fixed: tuple[str, ...], method: str,
         trials: int | None, seed: int, metric: str, tune_split: str, show: int, save_as: str | None, fmt: str) -> None:
    from ..experiments.search_space import parse_dimension
    from ..experiments.tuning import tune_strategy, tuned_strategy
    from ..templates import param_arguments, parse_param_overrides, template_named, write_template

    lab = lab_for(ctx)
    check_metric(metric)
    templates = lab.templates()
    template = template_named(templates, strategy)
    target = lab.workspace_queries_dir / f"{save_as}.json" if save_as else None
    if save_as and save_as in templates:  # before the tuning's work; write_template checks again
        raise LabError(f"--save {save_as}: a strategy of that name exists already")
    dimensions = [parse_dimension(spec, template) for spec in specs]
    result = tune_strategy(lab, template, dimensions, method=method, trials=trials, seed=seed, metric=metric,
                           fixed=parse_param_overrides(list(fixed)), tune_split=tune_split, progress=progress_bars())
    m = result.manifest
    names = [d.name for d in dimensions]
    top = result.trials.sort_values([metric, "trial"], ascending=[False, True]).head(show)
    shown_metrics = list(dict.fromkeys([metric, "ndcg@10", "mrr@10", "recall@100"]))
    header = ["trial", *names, *shown_metrics]
    records = [{"trial": int(v["trial"]), **{n: v[f"param.{n}"] for n in names}, **{k: v[k] for k in shown_metrics}}
               for v in top.to_dict(orient="records")]
    rows = [[str(r["trial"]), *(str(r[n]) for n in names), *(f"{r[k]:.4f}" for k in shown_metrics)] for r in records]
    emit(fmt, header, rows, records, title=f"top trials · {strategy} · {m['n_trials']} trials on {tune_split} "
         f"({m['n_queries']:,} queries) · {m['trials_per_minute']:,} trials/min")
    best = m["best"]
    tuned = {k: v for k, v in best["params"].items() if k in names}
    say = err_console if fmt != "table" else console
    say.print(f"best (trial {best['trial']}): {tuned} · {metric} {best['tune_metrics'][metric]:.4f} on "
              f"{tune_split} → {best['test_metrics'][metric]:.4f} on test, stored as strategy "
              f"{tuned_strategy(strategy)} (run {best['test_run_id']})", highlight=False, soft_wrap=True)
    say.print(f"run it again: lab run --strategy {strategy} {param_arguments(best['params'])}", highlight=False,
              soft_wrap=True)
    if result.trials[metric].nunique() == 1:
        say.print(f"note: every trial scored the same {metric} on {tune_split}: these params do not change "
                  "the ranking of its queries", highlight=False, soft_wrap=True)
    if target is not None:
        write_template(template, target, best["params"], f"{template.description} — tuned on {tune_split} "
                       f"({metric} {best['tune_metrics'][metric]:.4f}): {param_arguments(tuned)}")
        say.print(f"saved as strategy {save_as}: {target}", highlight=False, soft_wrap=True)
    say.print(f"trials stored in {result.path}", highlight=False, soft_wrap=True)


# --- report -----------------------------------------------------------------------------------

@click.command()
@click.option("--split", default="test", show_default=True, help="Split whose runs the report shows.")
@click.option("--baseline", help="Strategy the others are tested against (default: the best one).")
@click.option("--metric", default=PRIMARY_METRIC, show_default=True, help="Metric for ranking and win/loss plots.")
@click.option("--output", type=click.Path(dir_okay=False), help="HTML file (default <workspace>/reports/...).")
@click.pass_context
def report(ctx: click.Context, split: str, baseline: str | None, metric: str, output: str | None) -> None:
    """Write a self-contained HTML report (viewable offline): leaderboard, metric bars with 95% confidence
    intervals, significance against a baseline, per-query wins/losses, tuning and fine-tuning plots, history."""
    from ..experiments.report import build_report

    lab = lab_for(ctx)
    check_metric(metric)
    path = build_report(lab, split=split, baseline=baseline, metric=metric,
                        output=Path(output) if output else None)
    console.print(f"report written to {path}", highlight=False, soft_wrap=True)


# --- history ----------------------------------------------------------------------------------

# --- map --------------------------------------------------------------------------------------

@click.command("map")
@click.option("--model", "models", multiple=True,
              help="Model to map; repeatable (default: minilm and every fine-tuned model under models/).")
@click.option("--color-by", default="brand", show_default=True, help="Product column whose values colour the points.")
@click.option("--field", default="text_vector", show_default=True,
              help="Vector field whose text is encoded (a vector_sources kind of mappings/products.json).")
@click.option("--sample", type=int, default=3000, show_default=True,
              help="Products drawn (seeded) from those with a text and a value.")
@click.option("--top", type=int, default=10, show_default=True,
              help="Most frequent values with their own colour (at most 18); the rest grey.")
@click.option("--seed", type=int, default=42, show_default=True, help="Sampling seed.")
@click.option("--output", type=click.Path(dir_okay=False),
              help="PNG to write (default <workspace>/reports/maps/<dataset>-<column>.png); its JSON goes beside it.")
@click.pass_context
def embedding_map(ctx: click.Context, models: tuple[str, ...], color_by: str, field: str, sample: int, top: int,
                  seed: int, output: str | None) -> None:
    """A 2-D PCA map of product embeddings, one panel per model, coloured by a product column."""
    from ..experiments.embedding_map import build_map, check_output, save_map

    lab = lab_for(ctx)
    if output:
        check_output(output)
    result = build_map(lab, list(models), color_by=color_by, field=field, sample=sample, top=top, seed=seed,
                       progress=progress_bars())
    png, summary = save_map(lab.workspace, result, output)
    table = Table("model", "PC1", "PC2", f"10-NN same {color_by}", "within/between (2-D)",
                  title=f"map · {result.dataset} · {result.field} · {len(result.values):,} products")
    for model_map in result.models:
        ratio = model_map.projection.explained_variance_ratio
        table.add_row(model_map.model, f"{ratio[0]:.1%}", f"{ratio[1]:.1%}", f"{model_map.knn_same_label:.1%}",
                      f"{model_map.within_between:.2f}")
    console.print(table)
    console.print(f"chance of a same-{color_by} neighbour: {result.chance:.1%}; map written to {png} "
                  f"(numbers in {summary.name})", highlight=False, soft_wrap=True)


COMMANDS = (compare, queries, explain, tune, report, embedding_map)
