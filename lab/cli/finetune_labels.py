"""`lab finetune --objective labels [--learning-curve 25,100,all]`: training on class labels, its terminal output."""

from __future__ import annotations

from typing import Any, Sequence

from rich.table import Table

from .support import console, progress_bars, training_display

from ..evaluation.neighbors import DEFAULT_KS
from ..finetune.config import FinetuneConfig


def run_label_objective(lab: Any, config: FinetuneConfig, overwrite: bool, restart: bool,
                        learning_curve: str | None, ks: Sequence[int] = (), pool: str = "split") -> None:
    """Train on labels and show base vs fine-tuned test precision (at ``ks``, neighbours from ``pool``), or
    run the learning curve."""
    from .eval import print_neighbors
    from ..finetune.labels import finetune_labels
    from ..finetune.learning_curve import learning_curve as run_curve, parse_sizes

    metric_label = "val precision@k"
    if learning_curve is not None:
        curve = run_curve(lab, config, parse_sizes(learning_curve),
                          display_for=lambda what: training_display(f"{config.name} · {what}", metric_label),
                          overwrite=overwrite, restart=restart, ks=ks or DEFAULT_KS, pool=pool)
        print_curve(curve, lab.workspace / "reports")
        return
    result = finetune_labels(lab, config, display=training_display(f"Fine-tuning {config.name}", metric_label),
                             progress=progress_bars(), overwrite=overwrite, restart=restart, ks=ks or DEFAULT_KS,
                             pool=pool)
    training, data = result.card["training"], result.card["data"]["train"]
    console.print(f"registered [bold]{result.name}[/] at {result.path}: {data['pairs']:,} pairs of "
                  f"{data['records']:,} records in {data['classes']} classes ('{data['label_column']}', "
                  f"{data['pairs_per_batch']} pairs a batch), {training['steps']} steps in {training['seconds']:.0f}s "
                  f"(best step {training['best_step']})")
    print_neighbors(result.evaluation)
    console.print(f"next: `lab eval neighbors --model {config.base} --model {result.name} --label-column "
                  f"{config.label_column} --by-label`")


def print_label_report(lab: Any, card: dict[str, Any]) -> None:
    """`lab finetune report NAME` for a model trained on labels: its training, val precision during training,
    and base vs fine-tuned precision on the test records (recomputed; vectors from the cache)."""
    from .eval import print_neighbors
    from ..finetune.labels import load_label_records
    from ..evaluation.neighbor_report import evaluate_models

    config = FinetuneConfig.from_dict(card["config"])
    training, data = card["training"], card["data"]["train"]
    console.print(f"{card['name']}: {config.base} fine-tuned on label '{data['label_column']}' of dataset "
                  f"'{card['dataset']['name']}' ({data['pairs']:,} pairs of {data['records']:,} train records in "
                  f"{data['classes']} classes), {training['steps']} steps in {training['seconds']:.0f}s")
    evaluator = card["metrics"]["evaluator"]
    val = Table(title=f"during training · {card['data']['eval']['records']:,} val records")
    for column in ("metric", "base", "fine-tuned"):
        val.add_column(column, justify="left" if column == "metric" else "right")
    for metric, before in evaluator["base"].items():
        val.add_row(metric.removeprefix("eval_"), f"{before:.4f}", f"{evaluator['finetuned'][metric]:.4f}")
    console.print(val)
    if lab.dataset.fingerprint() != card["dataset"]["fingerprint"]:
        console.print(f"[yellow]the current dataset '{lab.dataset.name}' is not the one the model was trained on: "
                      "the test records below are the current dataset's[/]")
    records = load_label_records(lab, config)
    print_neighbors(evaluate_models(lab, [config.base, card["name"]], records, "test", "split",
                                    DEFAULT_KS, progress_bars()))


def print_curve(curve: Any, reports: Any) -> None:
    """The learning curve as a table, and where its JSON and PNG are."""
    from ..finetune.learning_curve import curve_paths

    table = Table(title=f"learning curve · {curve.dataset} · label '{curve.column}' · {curve.anchors:,} "
                        f"{curve.split} records (neighbours: {curve.pool})")
    for column in ("records", "model", "pairs", "classes", "steps", "seconds"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for k in curve.ks:
        table.add_column(f"precision@{k}", justify="right")
    for point in curve.points:
        table.add_row(f"{point.records:,}", point.label, f"{point.pairs:,}", str(point.classes), str(point.steps),
                      f"{point.seconds:.0f}", *(f"{point.precision[f'precision@{k}']:.4f}" for k in curve.ks))
    console.print(table)
    json_path, png_path = curve_paths(reports, curve)
    console.print(f"curve: {json_path}, {png_path}")
    if curve.registered:
        console.print(f"registered [bold]{curve.registered}[/] (trained on every labelled train record)")
