"""`lab finetune`: train a fine-tuned model (default), `report NAME`, `compare-models`."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from .support import before_after_table, console, lab_for, progress_bars, training_display
from ..mapping import model_text_fields
from ..finetune.config import (DEFAULT_LABEL_COLUMN, DEFAULT_NAME, LOSSES, MINING_SOURCES, NEGATIVE_MODES, OBJECTIVES,
                              RANK_LOSSES, FinetuneConfig)


@click.group(invoke_without_command=True)
@click.option("--name", default=DEFAULT_NAME, show_default=True, help="Model name: models/<name>, `--model <name>` elsewhere.")
@click.option("--base", default="minilm", show_default=True, help="Base model key (minilm, mpnet, a model under models/).")
@click.option("--objective", type=click.Choice(OBJECTIVES), default="pairs", show_default=True,
              help="pairs: judged (query, product) pairs; labels: products sharing a --label-column value; "
                   "triplets: imported (anchor, positive, negative) rows.")
@click.option("--label-column", default=DEFAULT_LABEL_COLUMN, show_default=True,
              help="--objective labels: the product column holding the class label (category, brand, ...).")
@click.option("--min-label", type=int, default=2, show_default=True, help="Positives: pairs with relevance label ≥ this.")
@click.option("--text-fields", default=lambda: ",".join(model_text_fields()), show_default="text_vector's in mappings/products.json",
              help="Product columns the model reads, comma-separated (default: those of text_vector).")
@click.option("--negatives", type=click.Choice(NEGATIVE_MODES), default="none", show_default=True,
              help="Hard negatives from the top-k: judged irrelevant only, or unjudged too.")
@click.option("--mine-from", type=click.Choice(MINING_SOURCES), default="base", show_default=True,
              help="Where hard negatives are mined (bm25 needs `lab index`).")
@click.option("--mine-top-k", type=int, default=30, show_default=True, help="Candidates per query for mining.")
@click.option("--loss", type=click.Choice(LOSSES), default="mnrl", show_default=True,
              help="MultipleNegativesRankingLoss, or its cached variant for large batches.")
@click.option("--mini-batch-size", type=int, default=32, show_default=True, help="Chunk size of cached-mnrl.")
@click.option("--epochs", type=float, default=1.0, show_default=True)
@click.option("--max-steps", type=int, default=-1, help="Stop after this many steps (overrides --epochs).")
@click.option("--batch-size", type=int, default=64, show_default=True, help="Pairs per batch (in-batch negatives).")
@click.option("--lr", "learning_rate", type=float, default=5e-5, show_default=True, help="Peak learning rate.")
@click.option("--warmup", "warmup_ratio", type=float, default=0.1, show_default=True, help="Warm-up fraction of the steps.")
@click.option("--max-seq-length", type=int, default=64, show_default=True, help="Tokens per text.")
@click.option("--bf16/--no-bf16", default=None, help="bf16 autocast (default: where the CPU supports it natively).")
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--evals-per-epoch", type=int, default=1, show_default=True, help="Evaluations on val per epoch.")
@click.option("--eval-steps", type=int, help="Evaluate every N steps (overrides --evals-per-epoch).")
@click.option("--eval-catalogue", type=int, default=5_000, show_default=True,
              help="Evaluations during training search the val queries' judged products plus this many random others "
                   "(0: the whole catalogue; the report after training always searches it whole).")
@click.option("--patience", "early_stopping_patience", type=int, default=2, show_default=True,
              help="Early stopping: evaluations without improvement before stopping.")
@click.option("--learning-curve", help="--objective labels: train one throwaway model per number of labelled train "
                                       "records (e.g. 25,100,500,all; 'all' is registered) and plot test precision.")
@click.option("--k", "ks", type=int, multiple=True,
              help="--objective labels: neighbours per test record for same-class precision (repeatable; "
                   "default 1, 10, 100).")
@click.option("--pool", type=click.Choice(["split", "all"]), default="split", show_default=True,
              help="--objective labels: neighbours searched among the test records, or among every labelled record.")
@click.option("--first-stage", default="textsearch_boosted", show_default=True,
              help="--objective cross-encoder: the strategy whose val top hits are reranked to pick the best checkpoint.")
@click.option("--rerank-window", type=int, default=50, show_default=True,
              help="--objective cross-encoder: first-stage hits reranked per val query.")
@click.option("--negatives-per-query", type=int, default=4, show_default=True,
              help="--objective cross-encoder: mined unjudged top-k products added per training query (label 0).")
@click.option("--max-eval-queries", type=int, default=0, show_default=True,
              help="--objective cross-encoder: val queries reranked per evaluation (0: all; else a seeded sample).")
@click.option("--teacher", help="--objective cross-encoder: an LTR model (lab ltr train) whose scores, min-max scaled "
                                "within each query, label the training pairs instead of the grades (distillation).")
@click.option("--rank-loss", type=click.Choice(RANK_LOSSES), default="pointwise", show_default=True,
              help="--objective cross-encoder: binary cross-entropy per pair, or listnet over each query's pairs "
                   "(--batch-size then counts queries).")
@click.option("--layers", type=int, help="--objective cross-encoder: keep only the base model's first N transformer "
                                      "layers (default: all); a shallower reranker scores faster.")
@click.option("--adapter", type=click.Choice(["linear", "mlp"]),
              help="Train a query-side adapter on frozen base vectors instead (no re-indexing; defaults: --name adapter "
                   "--epochs 30 --batch-size 128 --lr 3e-4 --patience 3).")
@click.option("--hidden", type=int, default=1024, show_default=True, help="--adapter mlp: hidden units.")
@click.option("--overwrite", is_flag=True, help="Replace an existing model of this name.")
@click.option("--restart", is_flag=True, help="Discard an interrupted run instead of resuming it.")
@click.pass_context
def finetune(ctx: click.Context, overwrite: bool, restart: bool, text_fields: str, learning_curve: str | None,
             ks: tuple[int, ...], pool: str, **options: Any) -> None:
    """Fine-tune the base model on the `train` split — judged pairs, class labels (--objective labels) or
    triplets (--objective triplets) — or train a query-side adapter (--adapter); evaluated on `val`,
    reported before/after."""
    if ctx.invoked_subcommand is not None:
        return
    if options.pop("adapter") is not None:
        from .adapters import train_adapter_command

        return train_adapter_command(ctx)
    refuse_inapplicable_options(ctx, options["objective"])
    del options["hidden"]
    if options["objective"] == "cross-encoder":
        text_fields = cross_encoder_defaults(ctx, options, text_fields)
    config = FinetuneConfig(text_fields=tuple(f.strip() for f in text_fields.split(",") if f.strip()), **options)
    lab = lab_for(ctx)
    if config.objective == "cross-encoder":
        _finetune_cross_encoder(lab, config, overwrite, restart)
    elif config.objective == "labels":
        from .finetune_labels import run_label_objective

        run_label_objective(lab, config, overwrite, restart, learning_curve, ks, pool)
    else:
        _finetune_pairs(lab, config, overwrite, restart)


PAIR_SELECTION = ("min_label", "negatives", "mine_from", "mine_top_k")
"""Options that choose judged (query, product) pairs and their mined negatives."""
RERANKING = ("first_stage", "rerank_window", "negatives_per_query", "max_eval_queries", "teacher",
             "rank_loss", "layers")
"""Options of the cross-encoder objective alone."""
INAPPLICABLE = {
    "pairs": ("label_column", "learning_curve", "ks", "pool", "hidden", *RERANKING),
    "labels": (*PAIR_SELECTION, "hidden", "eval_catalogue", *RERANKING),
    "triplets": (*PAIR_SELECTION, "label_column", "learning_curve", "ks", "pool", "hidden", *RERANKING),
    "cross-encoder": ("min_label", "loss", "mini_batch_size", "label_column", "learning_curve", "ks", "pool",
                      "hidden", "eval_catalogue"),
}
"""Per objective, the `lab finetune` options it has no use for (--hidden belongs to --adapter mlp)."""


def refuse_inapplicable_options(ctx: click.Context, objective: str) -> None:
    """A LabError naming the first option given on the command line that ``objective`` would ignore."""
    from click.core import ParameterSource

    from ..errors import LabError

    flags = {p.name: p.opts[0] for p in ctx.command.params}
    for name in INAPPLICABLE[objective]:
        if ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None):
            needs = "--adapter mlp" if name == "hidden" else (
                "--objective labels" if name in ("label_column", "learning_curve", "ks", "pool") else
                "--objective cross-encoder" if name in RERANKING else "--objective pairs")
            raise LabError(f"{flags[name]} does not apply to --objective {objective} (it needs {needs})")


CROSS_ENCODER_DEFAULTS = {"negatives": "unjudged", "mine_from": "bm25", "text_fields": "product_title"}
"""What --objective cross-encoder uses unless the option is given: unjudged hard negatives from BM25's top-k, and
the product title (what the shipped rerank templates' document_fields read)."""


def cross_encoder_defaults(ctx: click.Context, options: dict[str, Any], text_fields: str) -> str:
    """Apply CROSS_ENCODER_DEFAULTS to ``options`` for the options left at their default; the text fields."""
    from click.core import ParameterSource

    given = lambda name: ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)
    for name in ("negatives", "mine_from"):
        if not given(name):
            options[name] = CROSS_ENCODER_DEFAULTS[name]
    return text_fields if given("text_fields") else CROSS_ENCODER_DEFAULTS["text_fields"]


def _finetune_cross_encoder(lab: Any, config: FinetuneConfig, overwrite: bool, restart: bool) -> None:
    """--objective cross-encoder: train, register, print val first stage vs reranked."""
    from ..reranker.training import train_reranker

    result = train_reranker(lab, config, display=training_display(f"Training cross-encoder {config.name}"),
                            progress=progress_bars(), overwrite=overwrite, restart=restart)
    card, training = result.card, result.card["training"]
    console.print(f"registered cross-encoder [bold]{result.name}[/] at {result.path} after {training['steps']} steps "
                  f"in {training['seconds']:.0f}s (best step {training['best_step']})")
    metrics = card["metrics"]
    console.print(before_after_table(
        metrics["first_stage"], metrics["reranked"], ("first stage", "reranked"),
        title=f"{card['data']['eval']['split']} · top {card['data']['eval']['window']} of "
              f"{card['data']['eval']['first_stage']} reranked · {card['data']['eval']['queries']:,} queries"))
    inference = card["inference"]
    changes = [f"{name} moves val nDCG@10 by {delta:+.4f}" if delta is not None else f"{name}: no native {name} here"
               for name, delta in (("int8", inference["int8_ndcg@10_delta"]), ("bf16", inference["bf16_ndcg@10_delta"]))]
    console.print(f"inference precision: {inference['precision']} ({'; '.join(changes)}; tolerance "
                  f"{inference['tolerance']})")
    console.print(f"next: `lab run --strategy rerank_cross_encoder"
                  f"{'' if result.name == 'cross-encoder' else f' --param reranker={result.name}'}`")


def _finetune_pairs(lab: Any, config: FinetuneConfig, overwrite: bool, restart: bool) -> None:
    """--objective pairs (judged query-product pairs): train, register, report."""
    from ..finetune import finetune as run_finetune

    result = run_finetune(lab, config, display=training_display(f"Fine-tuning {config.name}"), progress=progress_bars(),
                          overwrite=overwrite, restart=restart)
    training = result.card["training"]
    console.print(f"registered [bold]{result.name}[/] at {result.path} after {training['steps']} steps "
                  f"in {training['seconds']:.0f}s (best step {training['best_step']})")
    print_report(result.report, result.path)
    console.print(f"next: `lab index --model {result.name}` then `lab run --strategy rrf_finetune"
                  f"{'' if result.name == DEFAULT_NAME else f' --model {result.name}'}`")


@finetune.command("report")
@click.argument("name", default=DEFAULT_NAME)
@click.pass_context
def report(ctx: click.Context, name: str) -> None:
    """Show a fine-tuned model's (or adapter's) report again (tables; plots redrawn if missing)."""
    from ..finetune import draw_plots, load_card, load_report, model_dir, report_dir
    from ..errors import LabError

    lab = lab_for(ctx)
    path = model_dir(lab.workspace, name)
    if not path.is_dir():
        from ..adapters.store import adapter_dir, load_card as load_adapter_card

        adapter = adapter_dir(lab.workspace, name)
        if adapter.is_dir():
            from .adapters import print_adapter_card

            print_adapter_card(load_adapter_card(adapter), adapter)
            return
        raise LabError(f"no fine-tuned model or adapter '{name}' at {path}: run `lab finetune --name {name}` first")
    card = load_card(path)
    if card.get("objective") == "labels":
        from .finetune_labels import print_label_report

        print_label_report(lab, card)
        return
    data = load_report(path)
    draw_plots(report_dir(path), data, only_missing=True)
    print_report(data, path)


@finetune.command("compare-models")
@click.option("--model", "models", multiple=True, help="Candidate base model (default: every base model, minilm and mpnet).")
@click.option("--sample", type=int, help="Search the val-judged products plus N random others, not the whole catalogue.")
@click.option("--min-label", type=int, default=2, show_default=True, help="Positives of the triplets.")
@click.option("--text-fields", default=lambda: ",".join(model_text_fields()), show_default="text_vector's in mappings/products.json")
@click.pass_context
def compare_models_command(ctx: click.Context, models: tuple[str, ...], sample: int | None, min_label: int,
                           text_fields: str) -> None:
    """Evaluate candidate base models on the val split before training (exact cosine search + triplets)."""
    from ..evaluation.metrics import DEFAULT_METRICS
    from ..finetune import compare_models

    config = FinetuneConfig(min_label=min_label, text_fields=tuple(f.strip() for f in text_fields.split(",")))
    table = compare_models(lab_for(ctx), models or None, config, sample, progress=progress_bars())
    out = Table(title=f"base models · split {table.attrs['split']} · {table.attrs['queries']:,} queries · "
                      f"{table.attrs['catalogue']:,} products")
    out.add_column("model")
    for column in (*DEFAULT_METRICS, "triplet acc.", "dim", "texts/s", "precision"):
        out.add_column(column, justify="right")
    for row in table.to_dict("records"):
        out.add_row(row["model"], *(f"{row[m]:.4f}" for m in DEFAULT_METRICS), f"{row['triplet_accuracy']:.4f}",
                    str(row["dimension"]), f"{row['texts_per_second']:,.0f}", row["precision"])
    console.print(out)


def print_report(data: dict[str, Any], path) -> None:
    """The report's terminal tables: metrics before/after, similarity by label, pairs that moved."""
    from ..finetune.report import PLOTS, report_dir, similarity_summary

    base, tuned = data["metrics"]["base"], data["metrics"]["finetuned"]
    console.print(before_after_table(
        base, tuned, ("base", "fine-tuned"),
        title=f"{data['name']} vs {data['base_model']} · {data['dataset']} · split {data['split']} · "
              f"{data['queries']:,} queries · test-query overlap {data['test_query_overlap']}"))
    console.print(f"queries improved {data['queries_improved']:,}, worse {data['queries_worse']:,} (nDCG@10)")
    if "triplets" in data:
        triplets = data["triplets"]
        console.print(f"triplet accuracy on {triplets['split']} ({triplets['triplets']:,} triplets): "
                         f"base {triplets['base']:.4f} → fine-tuned {triplets['finetuned']:.4f}")
    similarity = Table(title="median cosine similarity by relevance label")
    summary = similarity_summary(data)
    for column in summary.columns:
        similarity.add_column(column, justify="right")
    for row in summary.itertuples(index=False):
        similarity.add_row(str(row[0]), f"{row[1]:,}", f"{row[2]:.3f}", f"{row[3]:.3f}")
    console.print(similarity)
    for kind in ("improved", "deteriorated"):
        pairs = Table(title=f"pairs {kind} most (relevant closer / irrelevant further = improved)")
        for column in ("query", "product", "label", "base", "fine-tuned"):
            pairs.add_column(column, justify="right" if column in ("label", "base", "fine-tuned") else "left")
        for row in data["pairs"][kind]:
            pairs.add_row(row["query"], row["product"][:70], str(row["label"]), f"{row['base']:.3f}",
                          f"{row['finetuned']:.3f}")
        console.print(pairs)
    console.print("plots: " + ", ".join(str(report_dir(path) / name) for name in PLOTS.values()))


COMMANDS = (finetune,)
