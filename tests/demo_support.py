"""A small generated-demo workspace for tests: the dataset saved, made current, and (text fields only)
indexed in the embedded engine."""

from __future__ import annotations

from pathlib import Path

from lab.backends.embedded import EmbeddedBackend
from lab.context import Lab
from lab.data import generate_demo
from lab.indexer import build_index


def demo_lab(workspace: Path, seed: int, n_products: int, n_queries: int, index: bool = True) -> Lab:
    """A Lab over a fresh workspace holding ``generate_demo(seed, n_products, n_queries)``; with
    ``index``, the BM25 fields indexed (no model vectors)."""
    lab = Lab(workspace=workspace, backend=EmbeddedBackend(workspace))
    dataset = generate_demo(seed=seed, n_products=n_products, n_queries=n_queries)
    dataset.save(lab.dataset_dir(dataset.name))
    lab.set_current_dataset(dataset.name)
    if index:
        build_index(lab, models=[])
    return lab


def logged_demo(root: Path, features: dict, name: str, seed: int, n_products: int, n_queries: int, depth: int):
    """A demo lab under ``root``, the feature set ``features`` written as ``root/<name>.json``, and its feature log
    over textsearch's top ``depth``: (lab, feature set path, log)."""
    import json

    from lab.ltr.features import load_feature_set
    from lab.ltr.logging import log_features

    lab = demo_lab(root / "ws", seed=seed, n_products=n_products, n_queries=n_queries)
    path = root / f"{name}.json"
    path.write_text(json.dumps(features), encoding="utf-8")
    log = log_features(lab, load_feature_set(path), lab.templates()["textsearch"], name, depth=depth)
    return lab, path, log
