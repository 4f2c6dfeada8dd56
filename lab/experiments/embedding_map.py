"""`lab map`: a 2-D PCA map of product embeddings, one panel per model, coloured by a product column.

Every model maps the same seeded sample of products (those with a text and a value in the colour
column), encodes the text a vector field of the index encodes (vectors from the embedding cache),
and gets its own PCA. Beside the PNG, a JSON file keeps the numbers that help read the picture.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..context import Lab
from ..errors import LabError
from ..indexer import BASE_MODEL
from ..mapping import load_mapping, source_texts, vector_sources
from ..progress import ProgressFactory, silent
from ..workspace import atomic_path, read_json, workspace_file, write_json
from .plots import figure_png, pyplot
from .projection import (Colouring, Projection, chance_agreement, colour_labels, neighbour_agreement, pca_2d,
                         within_between_ratio)

DEFAULT_FIELD = "text_vector"
DEFAULT_COLOR_BY = "brand"
DEFAULT_SAMPLE = 3000
DEFAULT_TOP = 10
MAX_TOP = 18
"""Distinct colours: tab20 without its greys (its nine dark hues first, then the light ones)."""
DEFAULT_SEED = 42
NEIGHBOURS = 10
MIN_POINTS = 3
OTHER_COLOUR = "#b8b8b8"
LEGEND_CHARS = 28


def maps_dir(workspace: Path) -> Path:
    return workspace / "reports" / "maps"


def map_path(workspace: Path, dataset: str, color_by: str) -> Path:
    """Where a dataset's latest map coloured by ``color_by`` is written (the JSON beside it)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in color_by)
    return maps_dir(workspace) / f"{dataset}-{safe}.png"


def finetuned_models(workspace: Path) -> list[str]:
    """Names of the sentence-transformers models under ``<workspace>/models`` (staging dirs left out)."""
    root = workspace / "models"
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and (p / "modules.json").is_file())


def default_models(workspace: Path) -> list[str]:
    """The base model and every fine-tuned model of the workspace."""
    return [BASE_MODEL, *(m for m in finetuned_models(workspace) if m != BASE_MODEL)]


def check_models(workspace: Path, models: list[str]) -> None:
    """LabError for a model key that is neither a base model, a model under models/, nor a path."""
    from ..embeddings.models import base_models

    from ..adapters import is_adapter_key, parse_adapter_key

    known = [*base_models(), *finetuned_models(workspace)]
    for model in models:
        if is_adapter_key(model):
            base = parse_adapter_key(model)[0]
            raise LabError(f"'{model}' is a query-side adapter: products keep the vectors of '{base}', so map "
                           f"--model {base}")
        if model not in known and "/" not in model and not model.startswith((".", "~")):
            raise LabError(f"unknown model '{model}' (known: {', '.join(known)})")
    if len(set(models)) != len(models):
        raise LabError(f"--model: a model is named twice ({', '.join(models)})")


def field_sources(mapping_path: Path, field: str) -> list[str]:
    """The product columns a vector field kind (``text_vector``, ``title_vector``...) encodes."""
    sources = vector_sources(load_mapping(mapping_path))
    if field not in sources:
        raise LabError(f"--field {field}: not a vector field of {mapping_path.name} (known: {', '.join(sources)})")
    return list(sources[field])


def _has_value(column: pd.Series) -> pd.Series:
    return column.notna() & (column.astype(str).str.strip() != "")


def colour_values(products: pd.DataFrame, column: str, dataset: str) -> pd.Series:
    """The colour column as text, only for products that have a value; one-line LabError when the
    column is missing or empty."""
    columns = [str(c) for c in products.columns]
    if column not in products.columns:
        raise LabError(f"--color-by {column}: no such product column in dataset '{dataset}' "
                       f"(columns: {', '.join(columns)})")
    present = _has_value(products[column])
    if not present.any():
        others = [c for c in columns if c != column and _has_value(products[c]).any()]
        raise LabError(f"--color-by {column}: no product of dataset '{dataset}' has a value in this column; "
                       f"colour by another one with --color-by (columns with values: {', '.join(others)})")
    return products.loc[present, column].astype(str).str.strip()


@dataclass(frozen=True)
class ModelMap:
    """One model's panel: its projection and how well the colour column separates its vectors."""

    model: str
    fingerprint: str
    projection: Projection
    knn_same_label: float
    """Share of each product's 10 nearest neighbours (cosine, full space) with the same value."""
    within_between: float
    """Mean 2-D distance within a value over the mean between values (1 = no structure)."""


@dataclass(frozen=True)
class EmbeddingMap:
    """The sampled products, their colouring, and one ModelMap per model."""

    dataset: str
    dataset_fingerprint: str
    field: str
    sources: list[str]
    color_by: str
    seed: int
    product_ids: list[str]
    values: list[str]
    colouring: Colouring
    models: list[ModelMap]
    catalogue: int
    without_value: int
    """Products with a text but no value in the colour column (left out of the map)."""
    chance: float
    """The neighbour agreement expected from random neighbours."""

    def summary(self, png_name: str) -> dict[str, Any]:
        """What the JSON file beside the PNG holds."""
        return {
            "dataset": self.dataset, "dataset_fingerprint": self.dataset_fingerprint,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "png": png_name, "field": self.field, "sources": self.sources, "color_by": self.color_by,
            "seed": self.seed, "points": len(self.product_ids), "catalogue_products": self.catalogue,
            "without_value": self.without_value, "distinct_values": len(set(self.values)),
            "labels": self.colouring.counts,
            "other": {"values": self.colouring.other_values, "points": self.colouring.other_points},
            "neighbours": NEIGHBOURS, "chance_knn_same_label": self.chance,
            "models": [{"model": m.model, "fingerprint": m.fingerprint,
                        "explained_variance_ratio": [float(v) for v in m.projection.explained_variance_ratio],
                        "knn_same_label": m.knn_same_label, "within_between_2d": m.within_between}
                       for m in self.models],
        }


def sample_rows(n: int, size: int, seed: int) -> np.ndarray:
    """``size`` of ``n`` row positions drawn without replacement by ``seed``, in ascending order."""
    if size >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def build_map(lab: Lab, models: list[str] | None = None, color_by: str = DEFAULT_COLOR_BY,
              field: str = DEFAULT_FIELD, sample: int = DEFAULT_SAMPLE, top: int = DEFAULT_TOP,
              seed: int = DEFAULT_SEED, progress: ProgressFactory | None = None) -> EmbeddingMap:
    """Sample the products, encode them with each model (cached) and project each model's vectors."""
    from ..embeddings import encode_cached

    progress = progress or silent()
    models = list(models) if models else default_models(lab.workspace)
    if not 1 <= top <= MAX_TOP:
        raise LabError(f"--top {top}: expected 1 to {MAX_TOP} coloured values")
    if sample < MIN_POINTS:
        raise LabError(f"--sample {sample}: a map needs at least {MIN_POINTS} products")
    check_models(lab.workspace, models)
    dataset = lab.dataset
    sources = field_sources(lab.mapping_path, field)
    products = dataset.products
    values = colour_values(products, color_by, dataset.name)
    texts = pd.Series(source_texts(products, sources), index=products.index, dtype=object)
    with_text = texts.notna()
    usable = with_text & products.index.isin(values.index)
    if usable.sum() < MIN_POINTS:
        raise LabError(f"only {int(usable.sum())} products of dataset '{dataset.name}' have both a {field} "
                       f"text ({', '.join(sources)}) and a {color_by} value: a map needs at least {MIN_POINTS}")
    rows = products.index[usable][sample_rows(int(usable.sum()), sample, seed)]
    chosen_texts = texts.loc[rows].tolist()
    chosen_values = values.loc[rows].tolist()
    maps = []
    for model in models:
        encoder = lab.encoder(model)
        with progress(f"Encoding {field} ({model})", len(set(chosen_texts))) as advance:
            vectors = encode_cached(encoder, chosen_texts, lab.embedding_cache, progress=advance)
        projection = pca_2d(vectors)
        maps.append(ModelMap(model=model, fingerprint=encoder.fingerprint, projection=projection,
                             knn_same_label=neighbour_agreement(vectors, chosen_values, NEIGHBOURS),
                             within_between=within_between_ratio(projection.points, chosen_values)))
    return EmbeddingMap(
        dataset=dataset.name, dataset_fingerprint=dataset.fingerprint(), field=field, sources=sources,
        color_by=color_by, seed=seed, product_ids=products.loc[rows, "product_id"].astype(str).tolist(),
        values=chosen_values, colouring=colour_labels(chosen_values, top), models=maps,
        catalogue=len(products), without_value=int((with_text & ~usable).sum()),
        chance=chance_agreement(chosen_values))


def _palette(plt: Any) -> list[tuple[float, ...]]:
    colours = plt.get_cmap("tab20").colors
    greys = {14, 15}
    return [colours[i] for i in [*range(0, 20, 2), *range(1, 20, 2)] if i not in greys]


def _short(value: str) -> str:
    return value if len(value) <= LEGEND_CHARS else value[:LEGEND_CHARS - 1] + "…"


def draw_map(result: EmbeddingMap) -> bytes:
    """One scatter panel per model (coloured values on top of the grey "other"), a shared legend; PNG."""
    from matplotlib.lines import Line2D

    plt = pyplot()
    palette = _palette(plt)
    colour_of = {value: palette[i] for i, value in enumerate(result.colouring.top)}
    labels = result.colouring.labels
    order = np.random.default_rng(result.seed).permutation(len(labels))  # no value drawn over all the others
    coloured = np.array([labels[i] is not None for i in order], dtype=bool)
    front, back = order[coloured], order[~coloured]
    size = float(np.clip(15000 / len(labels), 4, 30))
    panels = len(result.models)
    fig, axes = plt.subplots(1, panels, figsize=(4.6 * panels, 4.8), squeeze=False)
    for ax, model_map in zip(axes[0], result.models):
        points = model_map.projection.points
        ax.scatter(points[back, 0], points[back, 1], s=size * 0.7, color=OTHER_COLOUR, alpha=0.5, linewidths=0)
        ax.scatter(points[front, 0], points[front, 1], s=size, c=[colour_of[labels[i]] for i in front],
                   alpha=0.8, linewidths=0)
        ratio = model_map.projection.explained_variance_ratio
        ax.set_xlabel(f"PC1 ({ratio[0]:.1%} of the variance)", fontsize=8)
        ax.set_ylabel(f"PC2 ({ratio[1]:.1%})", fontsize=8)
        ax.set_title(f"{model_map.model}\n{NEIGHBOURS}-NN same {result.color_by}: {model_map.knn_same_label:.0%} "
                     f"(chance {result.chance:.0%})", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.2)
    handles = [Line2D([], [], marker="o", linestyle="", color=colour_of[value], label=f"{_short(value)} ({count:,})")
               for value, count in result.colouring.counts.items()]
    if result.colouring.other_points:
        handles.append(Line2D([], [], marker="o", linestyle="", color=OTHER_COLOUR,
                              label=f"other: {result.colouring.other_values:,} values ({result.colouring.other_points:,})"))
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False,
               title=result.color_by, title_fontsize=9)
    fig.suptitle(f"{result.dataset} · {result.field} of {len(labels):,} products · PCA per model", fontsize=10)
    fig.tight_layout()
    return figure_png(fig)


def check_output(output: str | Path) -> Path:
    """The PNG path asked for, refused unless it ends in .png."""
    path = Path(output)
    if path.suffix.lower() != ".png":
        raise LabError(f"--output {path}: the map is a PNG, name the file *.png")
    return path


def save_map(workspace: Path, result: EmbeddingMap, output: str | Path | None = None) -> tuple[Path, Path]:
    """Write the PNG (default: ``reports/maps/<dataset>-<column>.png``) and its JSON beside it, atomically."""
    png = check_output(output) if output else map_path(workspace, result.dataset, result.color_by)
    image = draw_map(result)
    with atomic_path(png) as staged:
        staged.write_bytes(image)
    summary = png.with_suffix(".json")
    write_json(summary, result.summary(png.name))
    return png, summary


def latest_maps(workspace: Path, dataset: str) -> list[tuple[bytes, dict[str, Any]]]:
    """The saved maps of ``dataset`` (PNG bytes and summary), newest first."""
    found = []
    for path in maps_dir(workspace).glob("*.json"):
        summary = read_json(workspace_file(workspace, path))
        png = workspace_file(workspace, path.parent / str(summary.get("png", "")))
        if summary.get("dataset") == dataset and png.is_file():
            found.append((png.read_bytes(), summary))
    return sorted(found, key=lambda item: item[1]["created"], reverse=True)


def map_caption(summary: dict[str, Any]) -> str:
    """One sentence naming what a saved map shows: field, colour column, models, variance, separation."""
    column = summary["color_by"]
    other = summary["other"]
    greys = f"; {other['values']:,} other values grey" if other["values"] else ""
    models = "; ".join(
        f"{m['model']}: PC1 {m['explained_variance_ratio'][0]:.1%} + PC2 {m['explained_variance_ratio'][1]:.1%} "
        f"of the variance, {summary['neighbours']}-NN same {column} {m['knn_same_label']:.0%}"
        for m in summary["models"])
    return (f"{summary['field']} of {summary['points']:,} products coloured by {column} "
            f"({len(summary['labels'])} most frequent values{greys}). {models}. Chance of a same-{column} "
            f"neighbour: {summary['chance_knn_same_label']:.0%}. Each model has its own PCA.")
