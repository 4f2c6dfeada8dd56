"""`lab judge pool / import / stats` and `lab rescore`: the judging loop, a thin shell over ``lab.judgments``."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from .support import console, err_console, lab_for


@click.group()
def judge() -> None:
    """Pool unjudged hits for raters, import their grades, and measure the judgments."""


@judge.command("pool")
@click.option("--strategies", required=True, help="Comma-separated strategies whose latest runs to pool.")
@click.option("--depth", type=int, default=10, show_default=True, help="Top hits of each run to pool.")
@click.option("--split", default="test", show_default=True, help="Split of the runs.")
@click.option("--max", "max_pairs", type=int, help="At most this many pairs (whole queries, in query id order).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Folder to create (default: judgments/<dataset>/pool-<time> in the workspace).")
@click.pass_context
def pool(ctx: click.Context, strategies: str, depth: int, split: str, max_pairs: int | None, out: Path | None) -> None:
    """Write the unjudged (query, product) pairs in the top --depth of the runs, a query's pairs together:
    pool.csv and pool.jsonl (fill in `grade`), pool.quepid.csv (query,docid,rating) and manifest.json."""
    from ..judgments import pool_runs

    names = [s.strip() for s in strategies.split(",") if s.strip()]
    result = pool_runs(lab_for(ctx), names, depth, split, max_pairs, out)
    m = result.manifest
    console.print(f"pooled {m['pairs']:,} unjudged pairs of {m['queries']:,} queries from {len(m['runs'])} runs "
                  f"(depth {depth}) into {result.directory}", highlight=False, soft_wrap=True)


@judge.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--rater", help="Who graded the file (default: your login name).")
@click.pass_context
def import_(ctx: click.Context, file: Path, rater: str | None) -> None:
    """Merge the grades of FILE (CSV, TSV or JSONL: query_id, product_id, grade; or Quepid's query, docid,
    rating) into the dataset's judgments, with rater, time and file; conflicts are kept apart."""
    from ..judgments import import_grades

    merge = import_grades(lab_for(ctx), file, rater)
    console.print(f"{merge.rater}: {merge.added:,} new judgments, {merge.agreed:,} agreeing with existing ones, "
                  f"{len(merge.conflicts):,} conflicts, {merge.repeated:,} already imported, "
                  f"{merge.ungraded:,} rows without a grade", highlight=False)
    for c in merge.conflicts[:10]:
        err_console.print(f"[yellow]conflict[/] line {c['line']}: query {escape(c['query_id'])}, product "
                          f"{escape(c['product_id'])}: kept {c['kept']}, {merge.rater} gave {c['proposed']}",
                          highlight=False, soft_wrap=True)
    if len(merge.conflicts) > 10:
        err_console.print(f"[yellow]… {len(merge.conflicts) - 10:,} more conflicts[/] (table judgment_conflicts)")
    if merge.dataset.qrels_fingerprint() != merge.qrels_fingerprint_before:
        console.print("the judgments changed: `lab rescore` scores the stored runs against them", highlight=False)


@judge.command("stats")
@click.option("--split", default="test", show_default=True, help="Split whose latest runs to measure.")
@click.option("--k", type=int, default=10, show_default=True, help="Depth of judged@k.")
@click.pass_context
def stats(ctx: click.Context, split: str, k: int) -> None:
    """Judgments per split and grade, judged@k of each latest run, agreement between raters."""
    from ..judgments import judgment_stats

    result = judgment_stats(lab_for(ctx), split, k)
    grades = Table("split", *result.grades.columns, title="judgments")
    for name, row in result.grades.iterrows():
        grades.add_row(name, *(f"{v:,}" for v in row))
    console.print(grades)
    coverage = Table("strategy", f"judged@{k}", "as stored", "", title=f"coverage · split {split}")
    for row in result.coverage.to_dict(orient="records"):
        coverage.add_row(row["strategy"], f"{row[f'judged@{k}']:.4f}", f"{row['stored']:.4f}",
                         "stale: `lab rescore`" if row["stale"] else "")
    console.print(coverage)
    if result.agreement.empty:
        console.print("no pair graded by two raters yet", highlight=False)
    else:
        agreement = Table(*result.agreement.columns, title="agreement (Cohen's kappa; weighted: quadratic)")
        for row in result.agreement.to_dict(orient="records"):
            agreement.add_row(row["rater a"], row["rater b"], f"{row['pairs']:,}", f"{row['identical']:.3f}",
                              f"{row['kappa']:.3f}", f"{row['weighted kappa']:.3f}")
        console.print(agreement)
    if result.conflicts:
        console.print(f"{result.conflicts:,} conflicting grades kept apart (table judgment_conflicts)", highlight=False)


@click.command()
@click.option("--split", default="test", show_default=True, help="Split whose latest runs to rescore.")
@click.pass_context
def rescore(ctx: click.Context, split: str) -> None:
    """Score the latest stored runs again against the current judgments (no search), as new runs."""
    from ..judgments import rescore_runs

    done = rescore_runs(lab_for(ctx), split)
    if not done:
        console.print(f"every latest run on split '{split}' is scored on the current judgments", highlight=False)
        return
    table = Table("strategy", "ndcg@10 before", "ndcg@10 now", "judged@10 before", "judged@10 now", "run",
                  title=f"rescored · split {split}")
    for r in done:
        before, now = r.original.metrics, r.run.metrics
        table.add_row(r.run.strategy, f"{before['ndcg@10']:.4f}", f"{now['ndcg@10']:.4f}",
                      f"{before.get('judged@10', 0.0):.4f}", f"{now.get('judged@10', 0.0):.4f}", r.run.run_id)
    console.print(table)
    missing = max(r.missing_queries for r in done)
    if missing:
        err_console.print(f"[yellow]{missing:,} judged queries of split '{split}' are in no rescored run[/] "
                          "(judged after the runs): `lab run` includes them", highlight=False)


COMMANDS = (judge, rescore)
