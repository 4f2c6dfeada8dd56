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


def metric_intervals(per_query: dict[str, pd.DataFrame], metrics: list[str]) -> bytes:
    """One panel per metric: each strategy's mean (labelled) with its 95% confidence interval, on an
    axis fitted to the intervals (not from 0), in the given order (the first strategy on top)."""
    from matplotlib.ticker import MaxNLocator

    plt = pyplot()
    names = list(per_query)[::-1]
    columns = min(4, len(metrics))
    rows = math.ceil(len(metrics) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.4 * columns, 0.3 * len(names) * rows + 1.0 * rows),
                             squeeze=False, sharey=True)
    for ax, metric in zip(axes.flat, metrics):
        means = np.array([float(per_query[n][metric].mean()) for n in names])
        intervals = np.array([confidence_interval(per_query[n][metric].to_numpy()) for n in names])
        ax.errorbar(means, range(len(names)), xerr=[means - intervals[:, 0], intervals[:, 1] - means], fmt="o",
                    color=NEUTRAL, ecolor=NEUTRAL, markersize=4, capsize=2, linewidth=1)
        low, high = float(intervals[:, 0].min()), float(intervals[:, 1].max())
        pad = max(high - low, 1e-3) * 0.08
        ax.set_xlim(low - pad, high + pad * 4)
        for y, (mean, (_, hi)) in enumerate(zip(means, intervals)):
            ax.annotate(f"{mean:.3f}", (hi, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=7.5)
        ax.set_yticks(range(len(names)), names, fontsize=8)
        ax.set_ylim(-0.6, len(names) - 0.4)
        ax.set_title(metric, fontsize=9)
        ax.xaxis.set_major_locator(MaxNLocator(4))
        ax.tick_params(axis="x", labelsize=7.5)
        ax.grid(axis="x", alpha=0.3)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    fig.tight_layout()
    return figure_png(fig)


def win_loss(deltas: dict[str, np.ndarray], baseline: str, metric: str) -> bytes:
    """One stacked bar per candidate: how many queries it wins, ties and loses against the baseline on
    ``metric`` (counts in the bars, the mean difference beside the name)."""
    plt = pyplot()
    names = list(deltas)[::-1]
    counts = np.array([[int((d > 0).sum()), int((d == 0).sum()), int((d < 0).sum())]
                       for d in (np.asarray(deltas[n], dtype=float) for n in names)])
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(names) + 1.1))
    left = np.zeros(len(names))
    for column, (label, color) in enumerate([("wins", WIN), ("ties", "#b0bec5"), ("losses", LOSS)]):
        ax.barh(range(len(names)), counts[:, column], left=left, color=color, label=label, height=0.7)
        for y, (start, count) in enumerate(zip(left, counts[:, column])):
            if count:
                ax.text(start + count / 2, y, str(count), ha="center", va="center", fontsize=7,
                        color="black" if label == "ties" else "white")
        left += counts[:, column]
    means = [float(np.nanmean(deltas[n])) if len(deltas[n]) else 0.0 for n in names]
    ax.set_yticks(range(len(names)), [f"{n} (Δ {m:+.4f})" for n, m in zip(names, means)], fontsize=8)
    ax.set_xlim(0, max(1, int(counts.sum(axis=1).max())))
    ax.set_xlabel(f"queries: {metric} against {baseline}", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    ax.legend(fontsize=7, ncol=3, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
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
    from matplotlib.ticker import MaxNLocator

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.2))
    for strategy, runs in history[history["comparable"]].groupby("strategy"):
        if len(runs) > 1:
            ax.plot(range(1, len(runs) + 1), runs[metric], marker="o", label=strategy)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("run (oldest first)", fontsize=8)
    ax.set_ylabel(metric, fontsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return figure_png(fig)


def feature_importance(importance: dict[str, float], title: str) -> bytes:
    """Horizontal bars of each feature's share of a model's total gain, largest on top."""
    plt = pyplot()
    total = sum(importance.values()) or 1.0
    names = sorted(importance, key=lambda n: importance[n])
    fig, ax = plt.subplots(figsize=(6.4, 0.28 * len(names) + 0.9))
    shares = [importance[n] / total for n in names]
    ax.barh(names, shares, color="#0969da")
    for y, share in enumerate(shares):
        ax.text(share, y, f" {share:.0%}", va="center", fontsize=8)
    ax.set_xlabel("share of the total gain")
    ax.set_xlim(0, max(shares) * 1.18 if shares else 1)
    ax.set_title(title, fontsize=10)
    return figure_png(fig)


def _is_array(column: pd.Series) -> bool:
    return column.map(lambda v: isinstance(v, str) and v.startswith("[")).all()


def _numeric_axis(column: pd.Series) -> list[Any]:
    """Param values as x positions: arrays (JSON text) by their first component."""
    return [json.loads(v)[0] if isinstance(v, str) and v.startswith("[") else v for v in column]
