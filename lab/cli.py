"""The `lab` command: a thin shell over the library (lab.indexer, lab.runner, lab.results...)."""

from __future__ import annotations

import os
import sys
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from . import cli_eval, cli_experiments
from .cli_finetune import finetune
from .cli_support import console, err_console, lab_for, make_backend, progress_bars
from .errors import ENVIRONMENT_ERRORS, LabError, environment_error_line


class LabGroup(click.Group):
    """Prints a LabError, and an environmental error (OSError, RecursionError, MemoryError), as one line
    and exits 1, instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LabError as exc:
            _exit_with_error(str(exc))
        except ENVIRONMENT_ERRORS as exc:
            _exit_with_error(environment_error_line(exc))


def _exit_with_error(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(1)


@click.group(cls=LabGroup)
@click.option("--workspace", envvar="LAB_HOME", type=click.Path(file_okay=False),
              help="Workspace directory (default ./lab-workspace, env LAB_HOME).")
@click.option("--dataset", help="Dataset to work on (default: the last imported).")
@click.option("--backend", type=click.Choice(["embedded", "opensearch", "elasticsearch"]), default="embedded",
              envvar="LAB_BACKEND", show_default=True, help="Search backend.")
@click.option("--url", help="Cluster URL (default $OPENSEARCH_URL or $ELASTICSEARCH_URL, as the backend, else "
                            "http://localhost:9200).")
@click.option("--user", help="Cluster user (default $OPENSEARCH_USER or $ELASTICSEARCH_USER).")
@click.option("--password", help="Cluster password (prefer $OPENSEARCH_PASSWORD or $ELASTICSEARCH_PASSWORD).")
@click.option("--ca-certs", type=click.Path(exists=True, dir_okay=False), help="CA bundle for TLS.")
@click.option("--no-verify-certs", "verify_certs", flag_value=False, default=True,
              help="Do not verify TLS certificates (insecure).")
@click.option("--shards", type=int, default=1, show_default=True,
              help="Primary shards for a new OpenSearch index (>1 changes BM25 statistics).")
@click.option("--batch-size", type=int, default=100, show_default=True, help="Queries per _msearch request.")
@click.option("--concurrency", type=int, default=1, show_default=True, help="Parallel _msearch requests.")
@click.option("--timeout", type=float, default=30.0, show_default=True, help="OpenSearch request timeout (s).")
@click.pass_context
def cli(ctx: click.Context, **options: Any) -> None:
    """relevance-lab: measure search strategies on graded judgments."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    ctx.ensure_object(dict)
    ctx.obj["options"] = options


def main() -> None:
    cli(obj={})


# --- data -------------------------------------------------------------------------------------

@cli.group()
def data() -> None:
    """Import and inspect datasets."""


@data.command("import")
@click.argument("kind", type=click.Choice(["homedepot", "beir", "triplets", "labelled"]))
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--from", "source", type=click.Path(exists=True, file_okay=False),
              envvar="LAB_DATA", help="Directory with the source files (env LAB_DATA; homedepot, beir).")
@click.option("--name", help="Dataset name in the workspace (default: the kind, the BEIR folder or the file name).")
@click.option("--label-map", type=click.Choice(["reference", "fine"]), default="reference", show_default=True,
              help="Home Depot relevance → label: reference = round(r)-1 (0/1/2), fine = 0..6.")
@click.option("--anchor", default="anchor", show_default=True, help="Triplets: column/field of the anchors.")
@click.option("--positive", default="positive", show_default=True, help="Triplets: column/field of the positives.")
@click.option("--negative", help="Triplets: column/field of the negatives (default: 'negative' if present).")
@click.option("--mine", type=click.Choice(["lowest", "hard"]),
              help="Triplets: mine negatives among the positive texts (needed without a negative column).")
@click.option("--mine-model", default="minilm", show_default=True, help="Triplets: model that mines negatives.")
@click.option("--max-positive-similarity", type=float, default=0.95, show_default=True,
              help="Triplets, --mine hard: skip candidates this similar (cosine) to one of the anchor's positives.")
@click.option("--text", "text_column", default="text", show_default=True, help="Labelled: column/field of the texts.")
@click.option("--label", "label_column", default="label", show_default=True,
              help="Labelled: column/field of the class labels.")
@click.option("--id", "id_column", help="Labelled: column/field of record ids (default: a hash of the text).")
@click.option("--as", "store_as", default="category", show_default=True,
              help="Labelled: the product column the labels are stored in (what --label-column reads).")
@click.option("--encoding", help="Read every source file in this encoding (e.g. utf-8, cp1252, utf-16-le) instead "
                                 "of detecting it (UTF-8/UTF-16 byte-order mark, UTF-8, else Windows-1252).")
@click.pass_context
def data_import(ctx: click.Context, kind: str, file: str | None, source: str | None, name: str | None,
                label_map: str, anchor: str, positive: str, negative: str | None, mine: str | None,
                mine_model: str, max_positive_similarity: float, text_column: str, label_column: str,
                id_column: str | None, store_as: str, encoding: str | None) -> None:
    """Import a dataset into the workspace: Home Depot Kaggle files or a BEIR/TREC folder (--from DIR),
    a triplet file (`triplets FILE`, CSV or JSONL with anchor, positive[, negative]) or labelled
    texts (`labelled FILE`, CSV or JSONL with text, label)."""
    from .data import import_beir, import_homedepot
    from .data.sources import forced_encoding

    lab = lab_for(ctx)
    if name is not None:
        lab.dataset_dir(name, "--name")  # a bad name is refused before the import's work
    if kind in ("triplets", "labelled") and not file:
        raise LabError(f"`lab data import {kind} FILE`: name the CSV or JSONL file")
    ctx.with_resource(forced_encoding(encoding))
    if kind == "labelled":
        from .data.labelled import import_labelled

        dataset = import_labelled(file, name, text_column, label_column, id_column, store_as)
    elif kind == "triplets":
        from .data.negatives import model_mining
        from .data.triplets import import_triplets

        mining = model_mining(lab, mine, mine_model, max_positive_similarity, progress_bars()) if mine else None
        dataset = import_triplets(file, name, anchor, positive, negative, mining)
    else:
        if file or not source:
            raise LabError(f"`lab data import {kind}` reads a directory: pass --from DIR (or set LAB_DATA)")
        with console.status(f"Importing {kind} from {source}"):
            dataset = import_homedepot(source, label_map=label_map) if kind == "homedepot" else import_beir(source)
    if name is not None:
        dataset.name = name
    dataset.save(lab.dataset_dir(dataset.name, "--name"))
    lab.set_current_dataset(dataset.name)
    _print_dataset(dataset)


@data.command("info")
@click.pass_context
def data_info(ctx: click.Context) -> None:
    """Show the current dataset: products, queries per split, labels."""
    _print_dataset(lab_for(ctx).dataset)


def _print_dataset(dataset) -> None:
    from .data import SPLITS, UNLABELED

    table = Table(title=f"dataset {dataset.name}", show_header=False)
    table.add_row("products", f"{len(dataset.products):,}")
    table.add_row("queries", f"{len(dataset.queries):,}")
    judged = set(dataset.qrels["query_id"])
    for split in SPLITS:
        ids = dataset.queries_for(split)["query_id"]
        table.add_row(f"  {split}", f"{len(ids):,} ({int(ids.isin(judged).sum()):,} judged)")
    unlabeled = int((dataset.queries["split"] == UNLABELED).sum())
    if unlabeled:
        table.add_row(f"  {UNLABELED}", f"{unlabeled:,} (no judgments; never used for training)")
    table.add_row("judgments", f"{len(dataset.qrels):,}")
    labels = dataset.qrels["relevance"].value_counts().sort_index()
    if len(labels):
        table.add_row("labels", ", ".join(f"{k}: {v:,}" for k, v in labels.items()))
    for extra, frame in sorted(dataset.extras.items()):
        table.add_row(extra, f"{len(frame):,}")
    column = dataset.meta.get("label_column")
    if column in dataset.products.columns:
        values = dataset.products[column].dropna()
        table.add_row(f"classes ({column})", f"{values.nunique():,} over {len(values):,} labelled products")
    table.add_row("fingerprint", dataset.fingerprint())
    console.print(table)


# --- index ------------------------------------------------------------------------------------

@cli.command()
@click.option("--model", "models", multiple=True,
              help="Model whose vectors to (add to) the index: minilm (default), finetuned, a fine-tuned model name.")
@click.option("--rebuild", is_flag=True, help="Rebuild the whole index, with every model it holds.")
@click.pass_context
def index(ctx: click.Context, models: tuple[str, ...], rebuild: bool) -> None:
    """Build the index from mappings/products.json (text fields + model vectors)."""
    from .indexer import BASE_MODEL, add_model, build_index, indexed_models

    lab = lab_for(ctx)
    present = indexed_models(lab)
    if present and not rebuild and models:
        for model in models:
            report = add_model(lab, model, progress=progress_bars())
            console.print(f"added {model} vectors to {report.indexed:,} documents in {report.seconds:.1f}s")
        return
    wanted = list(dict.fromkeys([BASE_MODEL, *present, *models]))
    report = build_index(lab, wanted, progress=progress_bars())
    console.print(f"indexed {report.indexed:,} products into '{lab.index_name}' ({lab.backend.name}) "
                  f"with models {', '.join(wanted)} in {report.seconds:.1f}s")


# --- strategies and runs ----------------------------------------------------------------------

@cli.command()
@click.pass_context
def strategies(ctx: click.Context) -> None:
    """List the strategy templates in queries/."""
    from .templates import load_templates

    table = Table("strategy", "description", "params")
    for name, template in sorted(load_templates(lab_for(ctx).queries_dir).items()):
        table.add_row(name, template.description, ", ".join(f"{k}={v}" for k, v in template.params.items()))
    console.print(table)


@cli.command()
@click.option("--strategy", "names", multiple=True, help="Strategy (template name in queries/); repeatable.")
@click.option("--all", "run_all", is_flag=True, help="Run every template in queries/.")
@click.option("--split", default="test", show_default=True, help="Query split: test, tune, train, val or all.")
@click.option("--param", "params", multiple=True, help="Override a template param: name=value (JSON value).")
@click.option("--model", help="Model for templates that take a `model` param (e.g. a fine-tuned model name).")
@click.option("--size", type=int, default=100, show_default=True, help="Hits per query.")
@click.option("--strict", is_flag=True,
              help="A query the backend refuses is an error (default: it scores 0 and the run records it as failed).")
@click.pass_context
def run(ctx: click.Context, names: tuple[str, ...], run_all: bool, split: str, params: tuple[str, ...],
        model: str | None, size: int, strict: bool) -> None:
    """Run strategies over the split's judged queries and print the leaderboard."""
    from .templates import load_templates, parse_param_overrides

    lab = lab_for(ctx)
    templates = load_templates(lab.queries_dir)
    if not names and not run_all:
        raise LabError("name a strategy with --strategy NAME or use --all (see `lab strategies`)")
    unknown = [n for n in names if n not in templates]
    if unknown:
        raise LabError(f"unknown strategy '{unknown[0]}' (known: {', '.join(sorted(templates))})")
    selected = sorted(templates) if run_all else list(names)
    overrides = parse_param_overrides(list(params))
    if model:
        overrides["model"] = model
    _run_and_print(lab, [templates[n] for n in selected], split, overrides, size, named=not run_all,
                   strict=strict)


def _run_and_print(lab, templates: list, split: str, overrides: dict[str, Any], size: int, named: bool,
                   strict: bool = False) -> None:
    """Run each template and print the leaderboard. ``named`` (strategies the user named): every override
    must be a param of the template and any failure stops; otherwise templates take the overrides they
    declare and a strategy that cannot run (e.g. no fine-tuned model yet) is skipped with its reason.
    ``strict``: a query the backend refuses is an error, not a failed query of the run."""
    from .runner import run_strategy

    done, skipped = [], []
    for template in templates:
        if named:
            done.append(run_strategy(lab, template, split, overrides, size, progress_bars(), strict))
            continue
        accepted = {k: v for k, v in overrides.items() if k in template.params}
        try:
            done.append(run_strategy(lab, template, split, accepted, size, progress_bars(), strict))
        except LabError as exc:
            skipped.append((template.name, str(exc)))
    _print_leaderboard(done, f"{lab.current_dataset_name} · split {split}")
    for name, why in skipped:
        err_console.print(f"[yellow]skipped {name}:[/] {why}", highlight=False, soft_wrap=True)
    for run in done:
        failed = run.manifest.get("failed_queries", [])
        if failed:
            first = failed[0]
            err_console.print(f"[yellow]{run.strategy}: {len(failed)} of {run.manifest['n_queries']:,} queries failed "
                              f"and score 0 (--strict makes this an error); first, query '{first['query_id']}':[/] "
                              f"{first['error']}", highlight=False, soft_wrap=True)


@cli.command()
@click.option("--split", default="test", show_default=True, help="Query split whose runs to show.")
@click.option("--history", is_flag=True, help="Every stored run, not only the latest per strategy.")
@click.pass_context
def leaderboard(ctx: click.Context, split: str, history: bool) -> None:
    """Show the stored results again."""
    from .results import latest_runs, list_runs

    lab = lab_for(ctx)
    dataset = lab.dataset
    if history:
        runs = [r for r in list_runs(lab.workspace, dataset.name) if r.manifest["split"] == split]
    else:
        runs = latest_runs(lab.workspace, dataset.name, split, dataset.qrels_fingerprint())
    if not runs:
        raise LabError(f"no runs for dataset '{dataset.name}' split '{split}': run `lab run --all` first")
    _print_leaderboard(runs, f"{dataset.name} · split {split}", history=history)


def _print_leaderboard(runs, title: str, history: bool = False) -> None:
    from .evaluation import DEFAULT_METRICS
    from .leaderboard import format_seconds, leaderboard_table

    table = leaderboard_table(runs)
    if history:
        table = table.sort_values(["strategy", "created"]).reset_index(drop=True)
    out = Table(title=f"leaderboard · {title}",
                caption="train s / re-index s: the models' training time and catalogue re-encoding time "
                        "(adapter: none needed; ~ estimated from a measured rate; — unknown)")
    out.add_column("#", justify="right")
    out.add_column("strategy")
    for metric in DEFAULT_METRICS:
        out.add_column(metric, justify="right")
    out.add_column("queries", justify="right")
    out.add_column("seconds", justify="right")
    out.add_column("queries/s", justify="right")
    out.add_column("model")
    out.add_column("train s", justify="right")
    out.add_column("re-index s", justify="right")
    if history:
        out.add_column("run")
    for i, row in table.iterrows():
        costs = [format_seconds(row["train_seconds"]), format_seconds(row["reindex_seconds"], row["reindex_estimated"])]
        cells = [str(i + 1), row["strategy"], *(f"{row[m]:.4f}" for m in DEFAULT_METRICS),
                 f"{row['queries']:,}" + (f" ({row['failed']:,} failed)" if row["failed"] else ""), f"{row['seconds']:.1f}", f"{row['queries/s'] or 0:,.0f}",
                 row["models"], *(costs if row["models"] else ["", ""])]
        out.add_row(*cells, *([row["run_id"]] if history else []))
    console.print(out)


# --- demo -------------------------------------------------------------------------------------

@cli.command()
@click.option("--seed", type=int, default=13, show_default=True, help="Generator seed.")
@click.option("--products", type=int, default=3000, show_default=True, help="Generated products.")
@click.option("--queries", type=int, default=800, show_default=True, help="Generated queries.")
@click.option("--split", default="test", show_default=True, help="Split to evaluate.")
@click.pass_context
def demo(ctx: click.Context, seed: int, products: int, queries: int, split: str) -> None:
    """The whole loop on a generated catalogue, offline: data → index → every strategy → leaderboard."""
    from .data import generate_demo
    from .indexer import build_index
    from .runner import RUN_DEPTH
    from .templates import load_templates

    lab = lab_for(ctx)
    dataset = generate_demo(seed=seed, n_products=products, n_queries=queries)
    dataset.save(lab.dataset_dir(dataset.name))
    if not lab.config().get("dataset"):
        lab.set_current_dataset(dataset.name)
    lab.dataset_name = dataset.name
    lab.__dict__.pop("dataset", None)
    console.print(f"generated {len(dataset.products):,} products and {len(dataset.queries):,} queries "
                  f"(seed {seed}) into {lab.dataset_dir(dataset.name)}")
    build_index(lab, progress=progress_bars())
    templates = load_templates(lab.queries_dir)
    _run_and_print(lab, [templates[n] for n in sorted(templates)], split, {}, RUN_DEPTH, named=False)


# --- map --------------------------------------------------------------------------------------

@cli.command("map")
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
    from .experiments.embedding_map import build_map, check_output, save_map

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


# --- backends ---------------------------------------------------------------------------------

@cli.group()
def backend() -> None:
    """Inspect the search backends."""


@backend.command("check")
@click.option("--strategy", default="textsearch_boosted", show_default=True, help="Strategy to compare.")
@click.option("--queries", "n_queries", type=int, default=5, show_default=True, help="Queries (from the test split).")
@click.option("--size", type=int, default=10, show_default=True, help="Hits per query.")
@click.option("--all", "all_strategies", is_flag=True,
              help="Every strategy over a whole split: nDCG@10 and queries/s on both, identical top 10s, "
                   "top-100 overlap (HNSW recall for kNN), largest score difference.")
@click.option("--split", default="test", show_default=True, help="Split for --all.")
@click.option("--against", type=click.Choice(["embedded", "opensearch", "elasticsearch"]), default="embedded",
              show_default=True, help="What --backend is compared with: the embedded engine (scoring as that "
                                      "cluster does) or another cluster holding the same index.")
@click.option("--against-url", help="URL of the --against cluster (default $OPENSEARCH_URL or $ELASTICSEARCH_URL).")
@click.pass_context
def backend_check(ctx: click.Context, strategy: str, n_queries: int, size: int, all_strategies: bool,
                  split: str, against: str, against_url: str | None) -> None:
    """Two backends' results side by side: a handful of queries rank by rank, or --all strategies."""
    from .backends.check import TABLE_COLUMNS, check_backends, embedded_like
    from .runner import query_vectors, render_bodies
    from .templates import load_templates

    lab = lab_for(ctx)
    if lab.backend.name == "embedded":
        raise LabError("`lab backend check` compares a cluster with the embedded engine or another cluster: add "
                       "--backend opensearch or --backend elasticsearch")
    templates = load_templates(lab.queries_dir)
    if against == "embedded":
        embedded = embedded_like(lab.workspace, lab.backend)  # the engine scoring as the cluster's version does
    else:
        options = {**ctx.obj["options"], "backend": against, "url": against_url, "user": None, "password": None}
        embedded = make_backend(options, lab.workspace)
    if all_strategies:
        _print_strategy_checks(lab, embedded, list(templates.values()), split)
        return
    if strategy not in templates:
        raise LabError(f"unknown strategy '{strategy}' (known: {', '.join(sorted(templates))})")
    template = templates[strategy]
    params = template.resolve_params()
    texts = lab.dataset.queries_for("test")["query_text"].head(n_queries).tolist()
    models = template.models(params)
    vectors = query_vectors(lab, models[0], texts, progress_bars()) if models else None
    bodies, pipeline = render_bodies(template, params, texts, vectors, size)
    result = check_backends(embedded, lab.backend, lab.index_name, bodies, pipeline, labels=texts, strategy=strategy)
    names = {"embedded": embedded.name, "cluster": lab.backend.name}
    columns = [" ".join(names.get(word, word) for word in column.split()) for column in TABLE_COLUMNS]
    for query in result.queries:
        table = Table(*columns, title=f"'{query.label}' · hits {query.embedded_total:,} {embedded.name}, "
                                      f"{query.cluster_total:,} {lab.backend.name}")
        for row in query.table_rows():
            table.add_row(*row)
        console.print(table)
    console.print(result.summary())


def _backend_label(backend) -> str:
    """``embedded engine`` or ``<distribution> <version>`` of a cluster backend."""
    described = backend.describe()
    if backend.name == "embedded":
        return "embedded engine"
    return f"{described.get('distribution', backend.name)} {described.get('cluster_version', '')}".strip()


def _print_strategy_checks(lab, embedded, templates, split: str) -> None:
    from .experiments.backend_check import check_strategies

    checks = check_strategies(lab, embedded, templates, split, progress=progress_bars())
    ours, theirs = _backend_label(embedded), _backend_label(lab.backend)
    short, other = ("emb", "cluster") if embedded.name == "embedded" else (embedded.name, lab.backend.name)
    table = Table("strategy", f"nDCG@10 {short}", f"nDCG@10 {other}", "Δ", "identical top 10", "overlap@100",
                  "max Δ score", f"q/s {short}", f"q/s {other}", title=f"{ours} vs {theirs} · split {split}")
    refused = []
    for check in checks:
        if check.refused:
            refused.append(f"{check.strategy}: {check.refused}")
            continue
        a = check.agreement
        table.add_row(check.strategy, f"{check.embedded_ndcg:.4f}", f"{check.cluster_ndcg:.4f}",
                      f"{check.cluster_ndcg - check.embedded_ndcg:+.4f}", f"{a.identical_top10:.1%}",
                      f"{a.overlap_at_100:.1%}", f"{a.max_relative_delta:.1e}", f"{check.embedded_qps:,.0f}",
                      f"{check.cluster_qps:,.0f}")
    console.print(table)
    for line in refused:
        console.print(f"not run on the cluster: {line}", highlight=False, soft_wrap=True)


cli_experiments.register(cli)  # compare, queries, explain, tune, report
cli.add_command(finetune)
cli_eval.register(cli)  # eval neighbors, eval triplets
