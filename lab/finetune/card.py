"""The model card of a fine-tuned model: ``finetune.json`` (machine-readable) and ``README.md``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import LabError
from ..workspace import read_json, write_json

CARD_JSON = "finetune.json"
CARD_MD = "README.md"


def load_card(model_dir: Path) -> dict[str, Any]:
    """The card of the fine-tuned model in ``model_dir``."""
    path = model_dir / CARD_JSON
    if not path.is_file():
        raise LabError(f"{model_dir} has no {CARD_JSON}: it was not made by `lab finetune`")
    return read_json(path)


def _table(rows: dict[str, Any]) -> list[str]:
    lines = ["| | |", "|---|---|"]
    lines += [f"| {key} | {json.dumps(value) if isinstance(value, (list, dict)) else value} |" for key, value in rows.items()]
    return lines


def _metrics_table(before: dict[str, float], after: dict[str, float]) -> list[str]:
    lines = ["| metric | base | fine-tuned | change |", "|---|---:|---:|---:|"]
    for metric in before:
        b, a = before[metric], after.get(metric)
        change = f"{(a - b) / b:+.1%}" if a is not None and b else ""
        lines.append(f"| {metric} | {b:.4f} | {a:.4f} | {change} |" if a is not None else f"| {metric} | {b:.4f} | | |")
    return lines


def render_markdown(card: dict[str, Any]) -> str:
    """The card as a human-readable model card."""
    base, dataset, training = card["base_model"], card["dataset"], card["training"]
    lines = [f"# {card['name']}", "",
             f"A fine-tune of `{base['key']}` for the catalogue of dataset `{dataset['name']}`, made by "
             f"relevance-lab {card['lab_version']} on {card['created']}. It keeps the base model's pooling and "
             "normalisation; load it with `lab.embeddings.load_encoder` or sentence-transformers.", "",
             "## Provenance", "", *_table({"base model": base["key"], "base model fingerprint": base["fingerprint"],
                                            "dataset": dataset["name"], "dataset fingerprint": dataset["fingerprint"],
                                            "pipeline": card["pipeline"]}), "",
             "## Training data", "", *_table(card["data"]["train"]), "",
             "## Evaluation data", "", *_table(card["data"]["eval"]), "",
             "## Hyper-parameters", "", *_table(card["config"]), "",
             "## Training", "", *_table(training), ""]
    metrics = card.get("metrics", {})
    if metrics.get("evaluator"):
        evaluation = card["data"]["eval"]
        catalogue = evaluation.get("catalogue_products")
        searched = evaluation.get("products_searched_during_training", catalogue)
        scope = "" if searched is None or searched >= catalogue else \
            f", {searched:,} of {catalogue:,} products searched: the judged ones and random others"
        lines += [f"## Metrics on `{evaluation['split']}` during training (sentence-transformers evaluators{scope})",
                  "",
                  *_metrics_table(metrics["evaluator"]["base"], metrics["evaluator"]["finetuned"]), ""]
    if metrics.get("leaderboard"):
        lines += [f"## Leaderboard metrics on `{card['data']['eval']['split']}` (exact cosine search, graded)", "",
                  *_metrics_table(metrics["leaderboard"]["base"], metrics["leaderboard"]["finetuned"]), ""]
    return "\n".join(lines)


def write_card(model_dir: Path, card: dict[str, Any]) -> None:
    """Write both card files into ``model_dir``."""
    write_json(model_dir / CARD_JSON, card)
    (model_dir / CARD_MD).write_text(render_markdown(card), encoding="utf-8")
