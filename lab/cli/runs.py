"""`lab index`, `lab strategies`, `lab run`, `lab leaderboard` and `lab demo`: the main loop."""

from __future__ import annotations

from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from ..errors import LabError
from .render import emit, format_option
from .support import console, err_console, lab_for, progress_bars


def leaderboard_options(command):
    """--columns, --wide and --format, for every command that ends with a leaderboard."""
    from ..leaderboard import COLUMNS, DEFAULT_COLUMNS

    command = click.option("--columns", help=f"Columns to show, comma-separated (default {','.join(DEFAULT_COLUMNS)}; "
                                             f"known: {', '.join(COLUMNS)}).")(command)
    command = click.option("--wide", is_flag=True, help="Every column.")(command)
    return format_option()(command)


# --- index ------------------------------------------------------------------------------------

@click.command()
@click.option("--model", "models", multiple=True,
              help="Model whose vectors to (add to) the index: minilm (default), finetuned, a fine-tuned model name.")
@click.option("--rebuild", is_flag=True, help="Rebuild the whole index, with every model it holds.")
@click.pass_context
def index(ctx: click.Context, models: tuple[str, ...], rebuild: bool) -> None:
    """Build the index from mappings/products.json (text fields + model vectors)."""
    from ..indexer import update_index

    lab = lab_for(ctx)
    update = update_index(lab, models, rebuild, progress=progress_bars())
    if update.added:
        for model, report in zip(update.models, update.reports):
            console.print(f"added {model} vectors to {report.indexed:,} documents in {report.seconds:.1f}s")
        return
    [report] = update.reports
    console.print(f"indexed {report.indexed:,} products into '{lab.index_name}' ({lab.backend.name}) "
                  f"with models {', '.join(update.models)} in {report.seconds:.1f}s")


# --- strategies and runs ----------------------------------------------------------------------

@click.group(invoke_without_command=True)
@click.option("--check", is_flag=True, help="Read every template; exit 1 if any is broken.")
@format_option()
@click.pass_context
def strategies(ctx: click.Context, check: bool, fmt: str) -> None:
    """List the strategy templates (the checkout's queries/ and, over them, <workspace>/queries/); a broken one is
    listed with its error and fails only where it is used."""
    if ctx.invoked_subcommand is not None:
        return
    templates = lab_for(ctx).templates()
    good, broken = templates.loadable()
    rows = [[t.name, templates.source(t.name), t.description, ", ".join(f"{k}={v}" for k, v in t.params.items())]
            for t in good]
    rows += [[name, templates.source(name), f"broken: {error}", ""] for name, error in broken.items()]
    rows.sort(key=lambda row: row[0])
    header = ["strategy", "from", "description", "params"]
    emit(fmt, header, rows, [dict(zip(header, row)) for row in rows], keep=("strategy",))
    if check and broken:
        raise LabError(f"{len(broken)} of {len(templates)} templates are broken: "
                       + "; ".join(f"{name}: {error}" for name, error in broken.items()))


@strategies.command("new")
@click.argument("name")
@click.option("--from", "source", required=True, help="The strategy to copy.")
@click.pass_context
def new_strategy(ctx: click.Context, name: str, source: str) -> None:
    """Copy a strategy into <workspace>/queries/NAME.json to edit (it overrides nothing: NAME must be new)."""
    from ..templates import template_named, write_template

    lab = lab_for(ctx)
    templates = lab.templates()
    if name in templates:
        raise LabError(f"strategy '{name}' exists already ({templates.paths[name]})")
    path = write_template(template_named(templates, source), lab.workspace_queries_dir / f"{name}.json")
    console.print(f"wrote {path}: edit it, then `lab run --strategy {name}`", highlight=False, soft_wrap=True)


@click.command()
@click.option("--strategy", "names", multiple=True, help="Strategy (template name in queries/); repeatable.")
@click.option("--all", "run_all", is_flag=True, help="Run every template in queries/.")
@click.option("--split", default="test", show_default=True, help="Query split: test, tune, train, val or all.")
@click.option("--param", "params", multiple=True, help="Override a template param: name=value (JSON value).")
@click.option("--model", help="Model for templates that take a `model` param (e.g. a fine-tuned model name).")
@click.option("--size", type=int, default=100, show_default=True, help="Hits per query.")
@click.option("--strict", is_flag=True,
              help="A query the backend refuses is an error (default: it scores 0 and the run records it as failed).")
@leaderboard_options
@click.pass_context
def run(ctx: click.Context, names: tuple[str, ...], run_all: bool, split: str, params: tuple[str, ...],
        model: str | None, size: int, strict: bool, **view: Any) -> None:
    """Run strategies over the split's judged queries, store the runs and show where they rank on the leaderboard
    (the new rows in bold)."""
    from ..templates import parse_param_overrides, template_named

    lab = lab_for(ctx)
    templates = lab.templates()
    if not names and not run_all:
        raise LabError("name a strategy with --strategy NAME or use --all (see `lab strategies`)")
    if run_all:
        selected, broken = templates.loadable()
    else:
        selected, broken = [template_named(templates, n) for n in names], {}
    overrides = parse_param_overrides(list(params))
    if model:
        overrides["model"] = model
    _run_and_print(lab, selected, split, overrides, size, named=not run_all, strict=strict, broken=broken, **view)


def _run_and_print(lab, templates: list, split: str, overrides: dict[str, Any], size: int, named: bool,
                   strict: bool = False, broken: dict[str, str] | None = None, **view: Any) -> None:
    """Run the templates (see :func:`lab.runner.run_strategies`), then print the split's leaderboard with the new
    runs in bold and their ranks, the skipped strategies and the failed queries."""
    from ..evaluation.metrics import PRIMARY_METRIC
    from ..results import latest_runs
    from ..runner import run_strategies

    batch = run_strategies(lab, templates, split, overrides, size, named, strict, progress_bars())
    done, skipped = batch.runs, batch.skipped
    dataset = lab.dataset
    board = latest_runs(lab.workspace, dataset.name, split, dataset.qrels_fingerprint())
    new = {run.run_id for run in done}
    table = _print_leaderboard(board, f"{dataset.name} · split {split}", new=new, **view)
    if len(done) < len(board):
        for place, row in table[table["run_id"].isin(new)].iterrows():
            err_console.print(f"{row['strategy']}: #{place + 1} of {len(table)} by {PRIMARY_METRIC} "
                              f"({row[PRIMARY_METRIC]:.4f})", highlight=False, soft_wrap=True)
    for name, why in [*(broken or {}).items(), *skipped]:
        err_console.print(f"[yellow]skipped {name}:[/] {why}", highlight=False, soft_wrap=True)
    for run in done:
        failed = run.manifest.get("failed_queries", [])
        if failed:
            first = failed[0]
            err_console.print(f"[yellow]{run.strategy}: {len(failed)} of {run.manifest['n_queries']:,} queries failed "
                              f"and score 0 (--strict makes this an error); first, query '{first['query_id']}':[/] "
                              f"{first['error']}", highlight=False, soft_wrap=True)


@click.command()
@click.option("--split", default="test", show_default=True, help="Query split whose runs to show.")
@click.option("--history", is_flag=True, help="Every stored run, not only the latest per strategy.")
@click.option("--coverage", is_flag=True, help="Beside judged@10: nDCG@10 on condensed lists (unjudged hits removed), "
                                               "with unjudged hits at the top grade, and bpref.")
@leaderboard_options
@click.pass_context
def leaderboard(ctx: click.Context, split: str, history: bool, coverage: bool, **view: Any) -> None:
    """Show the stored results again; --history: every run per strategy, what changed, and which runs are not
    comparable and why."""
    from ..results import latest_runs

    lab = lab_for(ctx)
    if history:
        _print_history(lab, split)
        return
    dataset = lab.dataset
    runs = latest_runs(lab.workspace, dataset.name, split, dataset.qrels_fingerprint())
    if not runs:
        raise LabError(f"no runs for dataset '{dataset.name}' split '{split}': run `lab run --all` first")
    _print_leaderboard(runs, f"{dataset.name} · split {split}", coverage=dataset.qrels_dict(split) if coverage else None,
                       **view)


def _print_history(lab, split: str) -> None:
    """Every run of ``split`` per strategy, oldest first: versions, what changed, metrics, delta of the
    primary metric since the previous comparable run, and which runs are not comparable and why."""
    from ..evaluation.metrics import PRIMARY_METRIC
    from ..experiments.history import history_table
    from ..results import list_runs

    dataset = lab.dataset
    runs = [r for r in list_runs(lab.workspace, dataset.name) if r.manifest["split"] == split]
    if not runs:
        raise LabError(f"no runs for dataset '{dataset.name}' split '{split}': run `lab run` first")
    frame = history_table(runs, dataset.fingerprint(), dataset.qrels_fingerprint())
    metrics = ["ndcg@10", "mrr@10", "recall@100"]
    table = Table("strategy", "run", "template", "models", "changed", *metrics, f"Δ {PRIMARY_METRIC}",
                  title=f"history · {dataset.name} · split {split}")
    for row in frame.to_dict(orient="records"):
        dim = "" if row["comparable"] else "[dim]"
        delta = "" if row["delta"] is None or row["delta"] != row["delta"] else f"{row['delta']:+.4f}"
        table.add_row(row["strategy"], row["run_id"], row["template"], row["models"], escape(row["changed"]),
                      *(f"{dim}{row[m]:.4f}" for m in metrics), delta)
    console.print(table)
    for row in frame[~frame["comparable"]].to_dict(orient="records"):
        err_console.print(f"[yellow]{row['run_id']}:[/] {row['note']}", highlight=False, soft_wrap=True)


def _print_leaderboard(runs, title: str, columns: str | None = None, wide: bool = False, fmt: str = "table",
                       new: set[str] = frozenset(), coverage: dict | None = None):
    """Print the leaderboard of ``runs`` (best first) with the chosen columns, rows of the ``new`` run ids in bold;
    with ``coverage`` (judgments), the coverage columns. Returns the leaderboard table (row i: rank i + 1)."""
    from ..leaderboard import choose_columns, leaderboard_cells, leaderboard_records, leaderboard_table

    table = leaderboard_table(runs, coverage=coverage)
    shown = choose_columns(columns, wide, table)
    header, rows = leaderboard_cells(table, shown)
    costs = {"train s", "re-index s"} & set(shown)
    caption = ("train s / re-index s: the models' training time and catalogue re-encoding time (adapter: none "
               "needed; ~ estimated from a measured rate; — unknown)") if costs else None
    emit(fmt, header, rows, leaderboard_records(table, shown), title=f"leaderboard · {title}", caption=caption,
         keep=("strategy",), bold_rows={i for i, run_id in enumerate(table["run_id"]) if run_id in new})
    return table


# --- demo -------------------------------------------------------------------------------------

@click.command()
@click.option("--seed", type=int, default=13, show_default=True, help="Generator seed.")
@click.option("--products", type=int, default=3000, show_default=True, help="Generated products.")
@click.option("--queries", type=int, default=800, show_default=True, help="Generated queries.")
@click.option("--split", default="test", show_default=True, help="Split to evaluate.")
@leaderboard_options
@click.pass_context
def demo(ctx: click.Context, seed: int, products: int, queries: int, split: str, **view: Any) -> None:
    """The whole loop on a generated catalogue, offline: data → index → every strategy → leaderboard."""
    from ..data import generate_demo
    from ..indexer import build_index
    from ..runner import RUN_DEPTH

    lab = lab_for(ctx)
    dataset = generate_demo(seed=seed, n_products=products, n_queries=queries)
    path = lab.save_dataset(dataset, current=not lab.config().get("dataset"))
    lab.use_dataset(dataset.name)
    console.print(f"generated {len(dataset.products):,} products and {len(dataset.queries):,} queries "
                  f"(seed {seed}) into {path}")
    build_index(lab, progress=progress_bars())
    selected, broken = lab.templates().loadable()
    _run_and_print(lab, selected, split, {}, RUN_DEPTH, named=False, broken=broken, **view)


COMMANDS = (index, strategies, run, leaderboard, demo)
