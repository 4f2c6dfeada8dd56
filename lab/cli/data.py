"""`lab data`: import and inspect datasets."""

from __future__ import annotations


import click

from ..errors import LabError
from .render import emit, format_option
from .support import console, lab_for, progress_bars


# --- data -------------------------------------------------------------------------------------

@click.group()
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
@click.option("--replace-judgments", is_flag=True,
              help="Replace a dataset that holds grades added with `lab judge import` (they are dropped).")
@click.pass_context
def data_import(ctx: click.Context, kind: str, file: str | None, source: str | None, name: str | None,
                label_map: str, anchor: str, positive: str, negative: str | None, mine: str | None,
                mine_model: str, max_positive_similarity: float, text_column: str, label_column: str,
                id_column: str | None, store_as: str, encoding: str | None, replace_judgments: bool) -> None:
    """Import a dataset into the workspace: Home Depot Kaggle files or a BEIR/TREC folder (--from DIR),
    a triplet file (`triplets FILE`, CSV or JSONL with anchor, positive[, negative]) or labelled
    texts (`labelled FILE`, CSV or JSONL with text, label)."""
    from ..data import import_beir, import_homedepot
    from ..data.sources import forced_encoding

    lab = lab_for(ctx)
    if name is not None:
        lab.dataset_dir(name, "--name")  # a bad name is refused before the import's work
    if kind in ("triplets", "labelled") and not file:
        raise LabError(f"`lab data import {kind} FILE`: name the CSV or JSONL file")
    ctx.with_resource(forced_encoding(encoding))
    if kind == "labelled":
        from ..data.labelled import import_labelled

        dataset = import_labelled(file, name, text_column, label_column, id_column, store_as)
    elif kind == "triplets":
        from ..data.negatives import model_mining
        from ..data.triplets import import_triplets

        mining = model_mining(lab, mine, mine_model, max_positive_similarity, progress_bars()) if mine else None
        dataset = import_triplets(file, name, anchor, positive, negative, mining)
    else:
        if file or not source:
            raise LabError(f"`lab data import {kind}` reads a directory: pass --from DIR (or set LAB_DATA)")
        with console.status(f"Importing {kind} from {source}"):
            dataset = import_homedepot(source, label_map=label_map) if kind == "homedepot" else import_beir(source)
    if name is not None:
        dataset.name = name
    if not replace_judgments:
        from ..judgments.merge import refuse_dropping_grades

        refuse_dropping_grades(lab, dataset.name, "--name")
    lab.save_dataset(dataset, "--name")
    _print_dataset(dataset)


@data.command("info")
@format_option()
@click.pass_context
def data_info(ctx: click.Context, fmt: str) -> None:
    """Show the current dataset: products, queries per split, labels."""
    _print_dataset(lab_for(ctx).dataset, fmt)


def _print_dataset(dataset, fmt: str = "table") -> None:
    from ..data import UNLABELED

    info = dataset.summary()
    rows = [["products", f"{info['products']:,}"], ["queries", f"{info['queries']:,}"]]
    rows += [[f"  {split}", f"{n['queries']:,} ({n['judged']:,} judged)"] for split, n in info["splits"].items()]
    if info["unlabeled"]:
        rows.append([f"  {UNLABELED}", f"{info['unlabeled']:,} (no judgments; never used for training)"])
    rows.append(["judgments", f"{info['judgments']:,}"])
    if info["labels"]:
        rows.append(["labels", ", ".join(f"{k}: {v:,}" for k, v in info["labels"].items())])
    rows += [[name, f"{count:,}"] for name, count in info["extras"].items()]
    if "classes" in info:
        c = info["classes"]
        rows.append([f"classes ({c['column']})", f"{c['classes']:,} over {c['labelled']:,} labelled products"])
    rows.append(["fingerprint", info["fingerprint"]])
    emit(fmt, ["item", "value"], rows, info if fmt == "json" else [dict(item=r[0].strip(), value=r[1]) for r in rows],
         title=f"dataset {dataset.name}", keep=("item",))


COMMANDS = (data,)
