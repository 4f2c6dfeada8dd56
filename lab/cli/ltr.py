"""`lab ltr`: learning to rank — `lab ltr log` (feature values of a first stage's candidates), `lab ltr train`
(LambdaMART, early stopping on val) and `lab ltr export` (the OpenSearch LTR plugin's formats)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from .support import console, lab_for, progress_bars


@click.group("ltr")
def ltr() -> None:
    """Learning to rank: log features, train a LambdaMART reranker, export it to OpenSearch."""


@ltr.command("log")
@click.option("--features", "feature_set", default="homedepot", show_default=True,
              help="Feature set: features/NAME.json.")
@click.option("--strategy", default="textsearch_boosted", show_default=True, help="First-stage strategy.")
@click.option("--depth", type=int, default=100, show_default=True, help="Candidates per query.")
@click.option("--split", "splits", multiple=True, type=click.Choice(["train", "val", "test"]),
              help="Splits to log (repeatable; default train, val and test).")
@click.option("--name", help="Log name (default FEATURES-STRATEGY).")
@click.option("--overwrite", is_flag=True, help="Replace a log of that name.")
@click.pass_context
def log(ctx: click.Context, feature_set: str, strategy: str, depth: int, splits: tuple[str, ...], name: str | None,
        overwrite: bool) -> None:
    """Log feature values for the top candidates of a first-stage strategy, with their labels."""
    from ..ltr.features import FEATURES_DIR, feature_set_named
    from ..ltr.logging import LOG_SPLITS, log_features
    from ..templates import template_named

    lab = lab_for(ctx)
    features = feature_set_named(feature_set, (FEATURES_DIR, lab.workspace / "features"))
    template = template_named(lab.templates(), strategy)
    result = log_features(lab, features, template, name or f"{feature_set}-{strategy}", tuple(splits) or LOG_SPLITS,
                          depth, overwrite, progress_bars())
    table = Table(title=f"feature log '{result.name}' · {len(features.features)} features · top {depth} of {strategy}")
    for column in ("split", "queries", "rows", "judged rows", "first stage s", "seconds"):
        table.add_column(column, justify="left" if column == "split" else "right")
    for split, counts in result.manifest["splits"].items():
        table.add_row(split, f"{counts['queries']:,}", f"{counts['rows']:,}", f"{counts['judged_rows']:,}",
                      f"{counts['first_stage_seconds']:.1f}", f"{counts['seconds']:.1f}")
    console.print(table)
    console.print(f"stored at {result.path} in {result.manifest['seconds']:.1f}s; next: "
                  f"`lab ltr train --log {result.name} --name NAME`")


@ltr.command("train")
@click.option("--log", "log_name", required=True, help="Feature log to train on (`lab ltr log`).")
@click.option("--name", required=True, help="Model name (a strategy names it in \"rerank\": {\"ltr\": NAME}).")
@click.option("--unjudged", type=click.Choice(["zero", "drop"]), default="zero", show_default=True,
              help="Unjudged candidates train as label 0, or are left out (val counts them as 0 either way).")
@click.option("--rounds", type=int, default=1000, show_default=True, help="Most boosting rounds.")
@click.option("--early-stopping", type=int, default=50, show_default=True, help="Rounds without val gain to stop.")
@click.option("--param", "params", multiple=True, help="XGBoost param name=value (e.g. max_depth=4), repeatable.")
@click.option("--overwrite", is_flag=True, help="Replace a model of that name.")
@click.pass_context
def train(ctx: click.Context, log_name: str, name: str, unjudged: str, rounds: int, early_stopping: int,
          params: tuple[str, ...], overwrite: bool) -> None:
    """Train LambdaMART (XGBoost rank:ndcg) on the log's train split, stopping early on val."""
    from ..ltr.store import load_log
    from ..ltr.training import train_model
    from ..templates import parse_param_overrides

    lab = lab_for(ctx)
    model = train_model(lab, load_log(lab, log_name), name, unjudged, rounds, early_stopping,
                        parse_param_overrides(list(params)), overwrite)
    card = model.card
    table = Table(title=f"LTR model '{name}' · val ({card['val']['queries']:,} queries, {card['depth']} candidates)")
    for column in ("metric", "first stage", "reranked", "change"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for metric, before in card["val"]["first_stage"].items():
        after = card["val"]["reranked"][metric]
        table.add_row(metric, f"{before:.4f}", f"{after:.4f}", f"{after - before:+.4f}")
    console.print(table)
    gains = sorted(card["feature_importance_gain"].items(), key=lambda item: -item[1])
    console.print("feature importance (gain): " + ", ".join(f"{n} {g:.2f}" for n, g in gains))
    console.print(f"{card['trees']} trees (best iteration {card['best_iteration']}), trained on "
                  f"{card['train']['queries']:,} train queries ({card['train']['rows']:,} rows, unjudged: "
                  f"{unjudged}) in {card['train_seconds']:.1f}s; stored at {model.path}")


@ltr.command("export")
@click.argument("name")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the files (default ltr/<dataset>/export/NAME in the workspace).")
@click.pass_context
def export(ctx: click.Context, name: str, out: Path | None) -> None:
    """The feature set, model and sltr rescore query in the OpenSearch LTR plugin's formats."""
    from ..ltr.export import export_model

    exported = export_model(lab_for(ctx), name, out)
    for path in exported.files:
        console.print(f"wrote {path}")
    for line in exported.notes:
        console.print(f"note: {line}")


COMMANDS = (ltr,)
