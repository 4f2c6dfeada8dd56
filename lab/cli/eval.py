"""`lab eval`: model evaluations outside the leaderboard — `lab eval neighbors` (top-k same-class precision),
`lab eval triplets` (triplet accuracy)."""

from __future__ import annotations

import click
from rich.table import Table

from .support import console, lab_for, progress_bars

from ..data.labels import ALL_RECORDS
from ..data.splits import HOLDOUT_SPLITS
from ..evaluation.neighbors import DEFAULT_KS
from ..mapping import model_text_fields
from ..finetune.config import DEFAULT_LABEL_COLUMN
from ..evaluation.neighbor_report import CEILING, POOLS, NeighborEvaluation


@click.group("eval")
def eval_group() -> None:
    """Evaluate embedding models beyond the search leaderboard."""


@eval_group.command("neighbors")
@click.option("--model", "models", multiple=True, help="Model to compare (repeatable; default: minilm).")
@click.option("--label-column", default=DEFAULT_LABEL_COLUMN, show_default=True,
              help="Product column holding the class label (category, brand, ...).")
@click.option("--k", "ks", type=int, multiple=True, help="Neighbours per record (repeatable; default 1, 10, 100).")
@click.option("--split", type=click.Choice([*HOLDOUT_SPLITS, ALL_RECORDS]), default="test", show_default=True,
              help="Anchor records: a label split (80/10/10 by product id) or all.")
@click.option("--pool", type=click.Choice(POOLS), default="split", show_default=True,
              help="Neighbours searched among the split's records, or among every labelled record.")
@click.option("--text-fields", default=lambda: ",".join(model_text_fields()), show_default="text_vector's in mappings/products.json",
              help="Product columns the models read, comma-separated.")
@click.option("--by-label", is_flag=True, help="Also show precision per label (at the middle k).")
@click.pass_context
def neighbors(ctx: click.Context, models: tuple[str, ...], label_column: str, ks: tuple[int, ...], split: str,
              pool: str, text_fields: str, by_label: bool) -> None:
    """Top-k same-class precision: the share of each record's k nearest neighbours with its label."""
    from ..data.labels import labelled_records
    from ..finetune.examples import product_texts
    from ..evaluation.neighbor_report import evaluate_models

    lab = lab_for(ctx)
    dataset = lab.dataset
    texts = product_texts(dataset.products, tuple(f.strip() for f in text_fields.split(",") if f.strip()))
    records = labelled_records(dataset.products, label_column, texts, dataset.name)
    evaluation = evaluate_models(lab, models or ("minilm",), records, split, pool, ks or DEFAULT_KS, progress_bars())
    print_neighbors(evaluation, by_label)


def print_neighbors(evaluation: NeighborEvaluation, by_label: bool = False) -> None:
    """The precision table (models, then the best the labels allow) and optionally the per-label one."""

    title = (f"top-k same-class precision · label '{evaluation.column}' · {evaluation.anchors:,} {evaluation.split} "
             f"records, {evaluation.classes} classes · neighbours from {evaluation.pool_size:,} "
             f"({'the split' if evaluation.pool == 'split' else 'all labelled records'})")
    table = Table(title=title)
    table.add_column("model")
    summary = evaluation.summary()
    for column in summary.columns:
        table.add_column(column, justify="right")
    for name, row in summary.iterrows():
        style = "dim" if name == CEILING else None
        table.add_row(str(name), *(f"{v:.4f}" for v in row), style=style)
    console.print(table)
    if by_label:
        k = evaluation.ks[len(evaluation.ks) // 2]
        frame = evaluation.by_label(k)
        labels = Table(title=f"precision@{k} per label")
        labels.add_column(evaluation.column)
        for column in frame.columns:
            labels.add_column(str(column), justify="right")
        for name, row in frame.iterrows():
            labels.add_row(str(name), f"{int(row['anchors']):,}", *(f"{v:.4f}" for v in row.iloc[1:]))
        console.print(labels)


@eval_group.command("triplets")
@click.option("--model", "models", multiple=True, help="Model to evaluate (repeatable; default: minilm).")
@click.option("--split", type=click.Choice(HOLDOUT_SPLITS), default="test", show_default=True,
              help="Triplets of this split (80/10/10 by anchor).")
@click.pass_context
def triplets(ctx: click.Context, models: tuple[str, ...], split: str) -> None:
    """Triplet accuracy: the share of (anchor, positive, negative) triplets whose anchor is closer
    (cosine) to the positive than to the negative."""
    from ..finetune.triplets import compare_triplet_accuracy

    lab = lab_for(ctx)
    table = compare_triplet_accuracy(lab, models or ("minilm",), split, progress_bars())
    first = table.iloc[0]
    out = Table(title=f"triplet accuracy · {lab.dataset.name} · split {split} · {first['triplets']:,} triplets, "
                      f"{first['anchors']:,} anchors")
    for column in ("model", "accuracy", "fingerprint"):
        out.add_column(column, justify="right" if column == "accuracy" else "left")
    for row in table.itertuples(index=False):
        out.add_row(row.model, f"{row.accuracy:.4f}", row.fingerprint)
    console.print(out)


COMMANDS = (eval_group,)
