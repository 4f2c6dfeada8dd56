"""Fine-tuning on Home Depot: one epoch's time and memory on 2 cores, re-indexing only the fine-tuned
fields, and the test-split leaderboard (vectorsearch_finetune vs vectorsearch, rrf_finetune rank).

    python scripts/bench_finetune.py --workspace /work/ws-hd [--data /work/shared/data/homedepot]
        [--stages import,index,train,add,runs] [--name finetuned] [--strategies a,b]
        [-- extra `lab finetune` options]

Stages: ``import`` the dataset (skipped when present), ``index`` the base model (skipped when the
index exists), ``train`` one epoch in a child process pinned to 2 cores (wall time, peak RSS),
``add`` the fine-tuned vector fields to the index (texts encoded per model), ``runs`` every template
on the ``test`` split. Targets: epoch ≤ 15 min and ≤ 4 GB; vectorsearch_finetune ≥ 1.16 ×
vectorsearch (nDCG@10); rrf_finetune first on the leaderboard. Prints a JSON summary last.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DATA = Path("/work/shared/data/homedepot")
STAGES = ("import", "index", "train", "add", "runs")
CORES = 2


def make_lab(workspace: Path):
    from lab.backends.embedded import EmbeddedBackend
    from lab.context import Lab

    return Lab(workspace=workspace, backend=EmbeddedBackend(workspace))


def stage_import(workspace: Path, data: Path) -> dict:
    from lab.data import import_homedepot

    lab = make_lab(workspace)
    if lab.config().get("dataset") == "homedepot" and lab.dataset_dir("homedepot").exists():
        return {"skipped": "dataset present"}
    started = time.perf_counter()
    dataset = import_homedepot(str(data))
    dataset.save(lab.dataset_dir(dataset.name))
    lab.set_current_dataset(dataset.name)
    return {"seconds": round(time.perf_counter() - started, 1), "products": len(dataset.products)}


def stage_index(workspace: Path) -> dict:
    from lab.indexer import build_index, indexed_models

    lab = make_lab(workspace)
    if indexed_models(lab):
        return {"skipped": f"index holds {indexed_models(lab)}"}
    started = time.perf_counter()
    report = build_index(lab)
    return {"seconds": round(time.perf_counter() - started, 1), "indexed": report.indexed}


def stage_train(workspace: Path, name: str, extra: list[str]) -> dict:
    """One epoch in a child process on ``CORES`` cores: the CLI's own code path."""
    code = ("import os, sys; os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:%d]));"
            "from lab.cli import cli; from lab.cli.finetune import finetune;"
            "cli.commands.get('finetune') or cli.add_command(finetune);"
            "cli(sys.argv[1:], obj={})" % CORES)
    command = [sys.executable, "-c", code, "--workspace", str(workspace), "finetune", "--name", name,
               "--overwrite", "--restart", *extra]
    env = {**os.environ, "LAB_TORCH_THREADS": str(CORES), "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    completed = subprocess.run(command, env=env)
    seconds = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if completed.returncode:
        raise SystemExit(f"fine-tuning failed (exit {completed.returncode})")
    card = json.loads((workspace / "models" / name / "finetune.json").read_text())
    return {"wall_seconds": round(seconds, 1), "training_seconds": card["training"]["seconds"],
            "steps": card["training"]["steps"], "epochs": card["training"]["epochs"],
            "peak_rss_gb": round(peak_kb / 2**20, 2), "bf16": card["training"]["bf16"],
            "cores": CORES, "train": card["data"]["train"], "val_leaderboard_metrics": card["metrics"]["leaderboard"]}


def stage_add(workspace: Path, name: str) -> dict:
    """Add the fine-tuned fields; count what each model had to encode (the base model: nothing)."""
    from lab.embeddings.cache import EmbeddingCache
    from lab.indexer import add_model

    lab = make_lab(workspace)
    cache: EmbeddingCache = lab.embedding_cache
    namespaces = {m: lab.encoder(m).cache_namespace for m in ("minilm", name)}
    before = {m: cache.count(ns) for m, ns in namespaces.items()}
    started = time.perf_counter()
    report = add_model(lab, name)
    after = {m: cache.count(ns) for m, ns in namespaces.items()}
    return {"seconds": round(time.perf_counter() - started, 1), "documents": report.indexed,
            "texts_encoded": {m: after[m] - before[m] for m in namespaces},
            "texts_already_cached": before}


def stage_runs(workspace: Path, name: str, strategies: list[str] | None) -> dict:
    """Run the templates (all, or ``strategies``) on `test`; the leaderboard is the latest stored run
    of every strategy, so strategies can be run in several goes."""
    from lab.errors import LabError
    from lab.results import latest_runs
    from lab.runner import run_strategy
    from lab.templates import load_templates

    lab = make_lab(workspace)
    skipped = {}
    for strategy, template in sorted(load_templates(lab.queries_dir).items()):
        if strategies and strategy not in strategies:
            continue
        overrides = {"model": name} if "finetune" in strategy and "model" in template.params else {}
        try:
            run = run_strategy(lab, template, "test", overrides)
        except LabError as exc:
            skipped[strategy] = str(exc)
            continue
        print(f"{strategy:34s} ndcg@10 {run.metrics['ndcg@10']:.4f}", flush=True)
    dataset = lab.dataset
    runs = latest_runs(lab.workspace, dataset.name, "test", dataset.qrels_fingerprint())
    scores = {run.strategy: {m: round(v, 4) for m, v in run.metrics.items()} for run in runs}
    board = sorted(scores, key=lambda s: scores[s]["ndcg@10"], reverse=True)
    out = {"leaderboard": [(s, scores[s]["ndcg@10"]) for s in board], "skipped": skipped, "metrics": scores}
    if "vectorsearch" in scores and "vectorsearch_finetune" in scores:
        out["vectorsearch_uplift"] = round(scores["vectorsearch_finetune"]["ndcg@10"] / scores["vectorsearch"]["ndcg@10"], 4)
    if "rrf" in scores and "rrf_finetune" in scores:
        out["rrf_uplift"] = round(scores["rrf_finetune"]["ndcg@10"] / scores["rrf"]["ndcg@10"], 4)
    out["rrf_finetune_rank"] = board.index("rrf_finetune") + 1 if "rrf_finetune" in board else None
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--stages", default=",".join(STAGES))
    parser.add_argument("--name", default="finetuned")
    parser.add_argument("--strategies", help="runs stage: only these templates (comma-separated)")
    parser.add_argument("extra", nargs="*", help="extra `lab finetune` options (after --)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    workspace = args.workspace.resolve()
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        parser.error(f"unknown stage {unknown[0]} (stages: {', '.join(STAGES)})")
    summary = {}
    for stage in stages:
        print(f"== {stage}", flush=True)
        if stage == "import":
            summary[stage] = stage_import(workspace, args.data)
        elif stage == "index":
            summary[stage] = stage_index(workspace)
        elif stage == "train":
            summary[stage] = stage_train(workspace, args.name, args.extra)
        elif stage == "add":
            summary[stage] = stage_add(workspace, args.name)
        else:
            summary[stage] = stage_runs(workspace, args.name,
                                        [x for x in (args.strategies or "").split(",") if x] or None)
        print(json.dumps(summary[stage], indent=1, default=str), flush=True)
    print(json.dumps(summary, default=str))


if __name__ == "__main__":
    main()
