"""`lab ltr log`: the top candidates of a first-stage strategy for each judged query of the chosen splits, their
feature values and labels, stored as one parquet table with a manifest (``ltr/<dataset>/logs/<name>/``).

A candidate with a judgment has its label; an unjudged one has none (``label`` NaN, ``judged`` false): whether
it trains as 0 or is left out is chosen when training (``lab ltr train --unjudged zero|drop``)."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from ..context import Lab
from ..errors import LabError
from ..progress import ProgressFactory, silent
from ..runner import judged_queries, render_queries, search_isolating
from ..templates import Template
from ..workspace import atomic_path, refuse_overwrite, write_json
from .features import FeatureSet
from .store import KEY_COLUMNS, LOG_MANIFEST, LOG_TABLE, FeatureLog, ltr_dir
from .values import feature_values, model_fingerprints

LOG_SPLITS = ("train", "val", "test")
DEFAULT_DEPTH = 100


def log_features(lab: Lab, feature_set: FeatureSet, first_stage: Template, name: str,
                 splits: tuple[str, ...] = LOG_SPLITS, depth: int = DEFAULT_DEPTH, overwrite: bool = False,
                 progress: ProgressFactory | None = None) -> FeatureLog:
    """Log ``feature_set`` for the top ``depth`` candidates of ``first_stage`` per judged query of each split
    and store it as log ``name`` (replaced whole, only once complete)."""
    progress = progress or silent()
    if depth < 1:
        raise LabError(f"--depth {depth}: must be at least 1")
    target = ltr_dir(lab, "logs", name, option="--name")
    refuse_overwrite(target, f"feature log '{name}'", overwrite)
    dataset = lab.dataset
    models = model_fingerprints(lab, feature_set)
    params = first_stage.resolve_params()
    frames, counts, started = [], {}, time.perf_counter()
    for split in splits:
        split_started = time.perf_counter()
        queries, qrels = judged_queries(dataset, split)
        texts, ids = queries["query_text"].tolist(), queries["query_id"].tolist()
        bodies, pipeline = render_queries(lab, first_stage, params, texts, depth, progress)
        with progress(f"First stage {first_stage.name} ({split})", len(bodies)) as advance:
            results, failures = search_isolating(lab, first_stage, bodies, pipeline, ids, advance)
        candidates = [[hit.doc_id for hit in result.hits[:depth]] for result in results]
        first_stage_seconds = time.perf_counter() - split_started
        values = feature_values(lab, feature_set, texts, candidates, progress)
        rows = [(split, qid, rank, hit.doc_id, hit.score, qrels[qid].get(hit.doc_id, np.nan),
                 hit.doc_id in qrels[qid])
                for qid, result in zip(ids, results) for rank, hit in enumerate(result.hits[:depth], start=1)]
        frame = pd.DataFrame(rows, columns=KEY_COLUMNS).astype({"label": "float64", "judged": bool,
                                                                 "first_stage_score": "float64"})
        frames.append(pd.concat([frame, pd.DataFrame(values, columns=feature_set.names)], axis=1))
        counts[split] = {"queries": len(ids), "rows": len(frame), "judged_rows": int(frame["judged"].sum()),
                         "failed_queries": [f.query_id for f in failures],
                         "first_stage_seconds": round(first_stage_seconds, 2),
                         "seconds": round(time.perf_counter() - split_started, 2)}
    table = pd.concat(frames, ignore_index=True)
    manifest = {"name": name, "created": datetime.now(timezone.utc).isoformat(),
                "feature_set": feature_set.record(), "model_fingerprints": models,
                "first_stage": first_stage.manifest_entry(params) | {"name": first_stage.name}, "depth": depth,
                "dataset": dataset.run_record(judgments=True),
                "backend": lab.backend.describe(), "splits": counts,
                "unjudged": "label NaN, judged false (train decides: 0 or left out)",
                "seconds": round(time.perf_counter() - started, 2)}
    with atomic_path(target) as staged:
        staged.mkdir()
        table.to_parquet(staged / LOG_TABLE, index=False)
        write_json(staged / LOG_MANIFEST, manifest)
    return FeatureLog(name, target, manifest, table)

