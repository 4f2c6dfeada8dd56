"""`lab backend check`: two backends' results side by side."""

from __future__ import annotations


import click
from rich.table import Table

from ..backends.factory import BACKENDS
from ..errors import LabError
from .support import console, lab_for, make_backend, progress_bars


# --- backends ---------------------------------------------------------------------------------

@click.group()
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
@click.option("--against", type=click.Choice(BACKENDS), default="embedded",
              show_default=True, help="What --backend is compared with: the embedded engine (scoring as that "
                                      "cluster does) or another cluster holding the same index.")
@click.option("--against-url", help="URL of the --against cluster (default $OPENSEARCH_URL or $ELASTICSEARCH_URL).")
@click.pass_context
def backend_check(ctx: click.Context, strategy: str, n_queries: int, size: int, all_strategies: bool,
                  split: str, against: str, against_url: str | None) -> None:
    """Two backends' results side by side: a handful of queries rank by rank, or --all strategies."""
    from ..backends.check import TABLE_COLUMNS, embedded_like
    from ..experiments.backend_check import check_queries
    from ..templates import template_named

    lab = lab_for(ctx)
    if lab.backend.name == "embedded":
        raise LabError("`lab backend check` compares a cluster with the embedded engine or another cluster: add "
                       "--backend opensearch or --backend elasticsearch")
    templates = lab.templates()
    if against == "embedded":
        embedded = embedded_like(lab.workspace, lab.backend)  # the engine scoring as the cluster's version does
    else:
        options = {**ctx.obj["options"], "backend": against, "url": against_url, "user": None, "password": None,
                   "server_fusion": False}
        embedded = make_backend(options, lab.workspace)
    if all_strategies:
        _print_strategy_checks(lab, embedded, list(templates.values()), split)
        return
    result = check_queries(lab, embedded, template_named(templates, strategy), n_queries, size, progress_bars())
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
    from ..experiments.backend_check import check_strategies

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


COMMANDS = (backend,)
