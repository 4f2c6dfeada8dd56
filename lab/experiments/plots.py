"""The report's figures (matplotlib, Agg), each returned as PNG bytes."""

from __future__ import annotations

import io
import json
import math
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

WIN, LOSS, NEUTRAL = "#2e7d32", "#c62828", "#546e7a"
DPI = 110


def pyplot() -> ModuleType:
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def figure_png(fig: Any) -> bytes:
    """``fig`` as PNG bytes; the figure is closed."""
    plt = pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def confidence_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The t-based confidence interval of the mean of ``values`` (the mean twice for < 2 values)."""
    from scipy.stats import t

    values = np.asarray(values, dtype=float)
    mean = float(values.mean()) if len(values) else 0.0
    if len(values) < 2:
        return mean, mean
    half = float(t.ppf((1 + level) / 2, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values)))
    return mean - half, mean + half


def metric_bars(per_query: dict[str, pd.DataFrame], metrics: list[str]) -> bytes:
    """One panel per metric: each strategy's mean with its 95% confidence interval, in the given order
    (the first strategy on top)."""
    plt = pyplot()
    names = list(per_query)[::-1]
    columns = min(3, len(metrics))
    rows = math.ceil(len(metrics) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.6 * columns, 0.32 * len(names) * rows + 1.3 * rows),
                             squeeze=False)
    for ax, metric in zip(axes.flat, metrics):
        means = [float(per_query[n][metric].mean()) for n in names]
        intervals = [confidence_interval(per_query[n][metric].to_numpy()) for n in names]
        errors = np.array([[m - lo for m, (lo, _) in zip(means, intervals)],
                           [hi - m for m, (_, hi) in zip(means, intervals)]])
        ax.barh(range(len(names)), means, xerr=errors, color=NEUTRAL, alpha=0.85, capsize=3)
        ax.set_yticks(range(len(names)), names, fontsize=8)
        ax.set_title(metric, fontsize=10)
        ax.set_xlim(0, max(1e-9, max(hi for _, hi in intervals)) * 1.08)
        ax.grid(axis="x", alpha=0.3)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    fig.suptitle("mean per query with 95% confidence interval", fontsize=10)
    fig.tight_layout()
    return figure_png(fig)


def win_loss(deltas: dict[str, np.ndarray], baseline: str, metric: str) -> bytes:
    """Per candidate: its per-query difference from the baseline, sorted (wins up, losses down)."""
    plt = pyplot()
    names = list(deltas)
    fig, axes = plt.subplots(len(names), 1, figsize=(8, 1.7 * len(names) + 0.6), squeeze=False)
    for ax, name in zip(axes[:, 0], names):
        values = np.sort(np.asarray(deltas[name], dtype=float))[::-1]
        colors = [WIN if v > 0 else LOSS if v < 0 else NEUTRAL for v in values]
        ax.bar(np.arange(len(values)), values, width=1.0, color=colors)
        ax.axhline(0, color="black", linewidth=0.6)
        wins, losses = int((values > 0).sum()), int((values < 0).sum())
        ax.set_title(f"{name} − {baseline}: {wins} wins, {len(values) - wins - losses} ties, {losses} losses",
                     fontsize=9)
        ax.set_xticks([])
        ax.set_ylabel(f"Δ {metric}", fontsize=8)
    fig.tight_layout()
    return figure_png(fig)


def tuning_effects(trials: pd.DataFrame, params: list[str], metric: str, best_trial: int) -> bytes:
    """Per tuned param: the metric of every trial against the param's value (best trial marked), and
    the metric in trial order."""
    plt = pyplot()
    panels = len(params) + 1
    fig, axes = plt.subplots(1, panels, figsize=(3.6 * panels, 3.0), squeeze=False)
    best = trials[trials["trial"] == best_trial]
    for ax, name in zip(axes[0], params):
        x = _numeric_axis(trials[f"param.{name}"])
        ax.scatter(x, trials[metric], s=14, color=NEUTRAL, alpha=0.7)
        ax.scatter(_numeric_axis(best[f"param.{name}"]), best[metric], s=50, color=WIN, marker="*", zorder=3)
        ax.set_xlabel(name + (" (first weight)" if _is_array(trials[f"param.{name}"]) else ""), fontsize=8)
        ax.set_ylabel(metric, fontsize=8)
        ax.grid(alpha=0.3)
    ax = axes[0][-1]
    ax.plot(trials["trial"], trials[metric], color=NEUTRAL, marker=".", linewidth=0.8)
    ax.plot(trials["trial"], trials[metric].cummax(), color=WIN, linewidth=1.2, label="best so far")
    ax.set_xlabel("trial", fontsize=8)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return figure_png(fig)


def history_lines(history: pd.DataFrame, metric: str) -> bytes:
    """The metric of each strategy's comparable runs, run after run."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.2))
    for strategy, runs in history[history["comparable"]].groupby("strategy"):
        if len(runs) > 1:
            ax.plot(range(1, len(runs) + 1), runs[metric], marker="o", label=strategy)
    ax.set_xlabel("run (oldest first)", fontsize=8)
    ax.set_ylabel(metric, fontsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return figure_png(fig)


def _is_array(column: pd.Series) -> bool:
    return column.map(lambda v: isinstance(v, str) and v.startswith("[")).all()


def _numeric_axis(column: pd.Series) -> list[Any]:
    """Param values as x positions: arrays (JSON text) by their first component."""
    return [json.loads(v)[0] if isinstance(v, str) and v.startswith("[") else v for v in column]
