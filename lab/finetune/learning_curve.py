"""`lab finetune --objective labels --learning-curve 25,100,500,all`: how much labelled data helps.

One model per size is trained on that many labelled `train` records (nested seeded subsets, the same
hyper-parameters and seed), evaluated by top-k same-class precision on the held-out `test` records
and discarded; the base model is the point at 0 records. With ``all`` in the sizes, the model trained
on every train record is registered as usual. The curve is saved as JSON and PNG under
``<workspace>/reports/``.
"""

from __future__ import annotations

import io
import re
import shutil
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..data.labels import LabelledRecords
from ..errors import LabError
from ..evaluation.neighbors import (DEFAULT_KS, best_possible_precision, capped_ks, mean_precision,
                                   neighbor_precision)
from ..evaluation.neighbor_report import pool_and_anchors
from ..workspace import atomic_path, write_json
from .config import FinetuneConfig
from .labels import encode_with, load_label_records, refuse_existing, register_label_model, train_on_labels
from .monitor import TrainingDisplay

ALL = "all"
Size = int | str
DisplayFor = Callable[[str], TrainingDisplay | None]


def parse_sizes(text: str) -> list[Size]:
    """``"25,100,all"`` → [25, 100, "all"]: positive counts ascending, then ``all``."""
    sizes: set[int] = set()
    everything = False
    for token in (t.strip().lower() for t in text.split(",")):
        if token == ALL:
            everything = True
        elif token.isdigit() and int(token) > 0:
            sizes.add(int(token))
        else:
            raise LabError(f"--learning-curve: '{token}' is not a positive number of records or 'all' "
                           "(example: 25,100,500,all)")
    return [*sorted(sizes), *([ALL] if everything else [])]


def train_subset(train: LabelledRecords, n: int, seed: int) -> LabelledRecords:
    """``n`` train records, a prefix of one seeded order (a smaller size's records are among a larger's)."""
    order = np.random.default_rng(seed).permutation(len(train))
    mask = np.zeros(len(train), dtype=bool)
    mask[order[:n]] = True
    return train.select(mask)


@dataclass
class CurvePoint:
    """One model of the curve: how many labelled records it saw and its precision@k on the test records."""

    records: int
    label: str
    pairs: int
    classes: int
    steps: int
    seconds: float
    precision: dict[str, float]


@dataclass
class LearningCurve:
    dataset: str
    column: str
    split: str
    pool: str
    ks: list[int]
    anchors: int
    ceiling: dict[str, float]
    """The best precision@k the test records' labels allow (k beyond a class's size caps it)."""
    points: list[CurvePoint] = field(default_factory=list)
    registered: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "points": [asdict(p) for p in self.points]}

    def file_stem(self) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]", "_", f"learning-curve-{self.dataset}-{self.column}")


def _sizes_for(sizes: Sequence[Size], available: int) -> list[tuple[str, int]]:
    """(label, record count) per requested size, capped at the train records; a count equal to every
    record is trained once (as ``all`` when asked)."""
    everything = ALL in sizes
    out: list[tuple[str, int]] = []
    for size in sizes:
        n = available if size == ALL else min(int(size), available)
        if size != ALL and everything and n == available:
            continue
        if all(count != n for _, count in out):
            out.append((ALL if size == ALL else str(n), n))
    return out


def learning_curve(lab: Any, config: FinetuneConfig, sizes: Sequence[Size], display_for: DisplayFor | None = None,
                   overwrite: bool = False, restart: bool = False, ks: Sequence[int] = DEFAULT_KS,
                   pool: str = "split") -> LearningCurve:
    """Train one model per size, evaluate each (and the base model) on the test records; register the
    ``all`` model as ``config.name``; save the curve's JSON and PNG in ``<workspace>/reports``."""
    from ..embeddings.models import load_sentence_transformer, resolve_model_dir

    if not sizes:
        raise LabError("--learning-curve: give at least one size (example: 25,100,500,all)")
    if ALL in sizes:
        refuse_existing(lab, config, overwrite)
    records = load_label_records(lab, config)
    train, val = records.split("train"), records.split("val")
    searched, anchors = pool_and_anchors(records, "test", pool)
    capped = capped_ks(ks, len(searched))
    texts = searched.texts.tolist()

    def precision(model: Any) -> dict[str, float]:
        return mean_precision(neighbor_precision(encode_with(model)(texts), searched.labels, capped, anchors))

    curve = LearningCurve(dataset=lab.dataset.name, column=config.label_column, split="test", pool=pool, ks=capped,
                          anchors=len(anchors),
                          ceiling=mean_precision(best_possible_precision(searched.labels, capped, anchors)))
    base = load_sentence_transformer(resolve_model_dir(config.base, lab.workspace))
    curve.points.append(CurvePoint(0, config.base, 0, 0, 0, 0.0, precision(base)))
    for label, n in _sizes_for(sizes, len(train)):
        final = label == ALL
        run_config = config if final else replace(config, name=f"{config.name}.curve-{n}")
        display = display_for(f"{n:,} labelled records") if display_for else None
        run = train_on_labels(lab, run_config, train_subset(train, n, config.seed), val, display, restart)
        curve.points.append(CurvePoint(n, label, len(run.data.pairs), run.data.classes, run.trainer.state.global_step,
                                       round(run.seconds, 1), precision(run.model)))
        if final:
            register_label_model(lab, run)
            curve.registered = config.name
        else:
            shutil.rmtree(run.staging, ignore_errors=True)
    save_curve(lab.workspace / "reports", curve)
    return curve


def curve_paths(directory: Path, curve: LearningCurve) -> tuple[Path, Path]:
    """Where the curve's JSON and PNG go."""
    return directory / f"{curve.file_stem()}.json", directory / f"{curve.file_stem()}.png"


def save_curve(directory: Path, curve: LearningCurve) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    json_path, png_path = curve_paths(directory, curve)
    write_json(json_path, curve.to_dict())
    with atomic_path(png_path) as tmp:
        tmp.write_bytes(plot_curve(curve))
    return json_path, png_path


def plot_curve(curve: LearningCurve) -> bytes:
    """precision@k against labelled training records (log scale); the base model dashed, the ceiling dotted."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    base, trained = curve.points[0], curve.points[1:]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for i, k in enumerate(curve.ks):
        column, color = f"precision@{k}", f"C{i}"
        ax.axhline(base.precision[column], color=color, linestyle="--", linewidth=1)
        ax.axhline(curve.ceiling[column], color=color, linestyle=":", linewidth=1)
        ax.plot([p.records for p in trained], [p.precision[column] for p in trained], marker="o", color=color,
                label=f"precision@{k}")
    if trained:
        ax.set_xscale("log")
        ax.set_xticks([p.records for p in trained], [f"{p.records:,}" for p in trained])
        ax.minorticks_off()
    ax.set_xlabel("labelled training records")
    ax.set_ylabel("top-k same-class precision")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"{curve.dataset} · label '{curve.column}' · {curve.anchors:,} {curve.split} records "
                 f"(pool: {curve.pool})", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center right", title=f"dashed: {base.label}, dotted: best possible", title_fontsize=8)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()
