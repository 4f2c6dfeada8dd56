"""`lab finetune --adapter linear|mlp`: train a query-side adapter instead of fine-tuning the model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .support import before_after_table, console, lab_for, progress_bars
from ..errors import LabError

CONFIG_FIELDS = {"adapter": "kind", "name": "name", "base": "base", "hidden": "hidden", "epochs": "epochs",
                 "batch_size": "batch_size", "learning_rate": "learning_rate", "early_stopping_patience": "patience",
                 "seed": "seed", "min_label": "min_label", "text_fields": "text_fields", "negatives": "negatives",
                 "mine_from": "mine_from", "mine_top_k": "mine_top_k"}
"""`lab finetune` options an adapter run takes → AdapterConfig fields. An option not given keeps the
AdapterConfig default (`lab finetune`'s defaults suit a whole model, not a head); any other option is refused."""


def adapter_settings(ctx: click.Context) -> dict[str, Any]:
    """AdapterConfig keyword arguments from the options given to this `lab finetune --adapter` call."""
    from click.core import ParameterSource

    flags = {p.name: p.opts[0] for p in ctx.command.params}
    given = {name for name in ctx.params if ctx.get_parameter_source(name) != ParameterSource.DEFAULT}
    refused = sorted(given - set(CONFIG_FIELDS) - {"overwrite"})
    if refused:
        raise LabError(f"{flags[refused[0]]} does not apply to --adapter (adapters take "
                       f"{', '.join(flags[n] for n in CONFIG_FIELDS)}, --overwrite)")
    settings = {field: ctx.params[name] for name, field in CONFIG_FIELDS.items() if name in given}
    if "text_fields" in settings:
        settings["text_fields"] = tuple(f.strip() for f in settings["text_fields"].split(",") if f.strip())
    if "epochs" in settings:
        if float(settings["epochs"]) != int(settings["epochs"]):
            raise LabError(f"--epochs {settings['epochs']}: an adapter trains whole epochs")
        settings["epochs"] = int(settings["epochs"])
    return settings


def train_adapter_command(ctx: click.Context) -> None:
    """Train, save and report an adapter from the options of `lab finetune --adapter`."""
    from ..adapters.config import AdapterConfig
    from ..adapters.trainer import train_adapter

    config = AdapterConfig(**adapter_settings(ctx))
    result = train_adapter(lab_for(ctx), config, progress=progress_bars(), overwrite=ctx.params["overwrite"])
    print_adapter_card(result.card, result.path)
    base = "" if config.base == "minilm" else f" --param base={config.base}"
    console.print(f"next: `lab run --strategy vectorsearch_adapter --param adapter={result.name}{base}` "
                  f"(or rrf_adapter)")


def print_adapter_card(card: dict[str, Any], path: Path) -> None:
    """An adapter's val metrics before/after and how it was trained (after training, and for
    `lab finetune report NAME`)."""

    training, metrics = card["training"], card["metrics"]
    console.print(f"adapter {card['key']} · {card['dataset']['name']} · split {metrics['split']} · "
                  f"{card['data']['eval']['queries']:,} queries · test-query overlap {card['test_query_overlap']}")
    console.print(before_after_table(metrics["before"], metrics["after"], ("base", "adapter")))
    stop = "stopped early" if training["stopped_early"] else "all epochs"
    console.print(f"{card['kind']} adapter '{card['name']}' ({training['parameters']:,} parameters) at {path}: "
                  f"trained in {training['seconds']:.1f}s ({training['epochs_run']} epochs, {stop}, best epoch "
                  f"{training['best_epoch']}); base vectors read from the cache in {training['vectors_seconds']:.1f}s; "
                  "no re-indexing needed")
