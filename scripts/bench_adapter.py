"""Query-side adapters against the base model: training seconds, val nDCG@10 before/after, and the test
split's kNN and RRF runs with each adapter next to the base model's (and a fine-tuned model's, when the
workspace has one indexed).

    LAB_HOME=/tmp/ws-hd-copy python scripts/bench_adapter.py           # linear and mlp
    LAB_HOME=/tmp/ws-hd-copy python scripts/bench_adapter.py --kind linear --epochs 10

It needs a workspace with the base model's vectors indexed (`lab index`). Adapters are saved as
``bench-<kind>`` (replaced on every run) and every run is stored, so `lab leaderboard --history` shows them.
"""

from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", default=os.environ.get("LAB_HOME"), help="workspace (default $LAB_HOME)")
    parser.add_argument("--dataset", help="dataset (default: the workspace's current one)")
    parser.add_argument("--kind", action="append", choices=["linear", "mlp"], help="adapter kind (repeatable)")
    parser.add_argument("--epochs", type=int, help="maximum epochs (default: the adapter default)")
    parser.add_argument("--split", default="test", help="split of the runs")
    args = parser.parse_args()

    from lab.adapters.config import AdapterConfig
    from lab.adapters.trainer import train_adapter
    from lab.backends.embedded import EmbeddedBackend
    from lab.context import Lab
    from lab.indexer import indexed_models
    from lab.runner import execute_strategy
    from lab.templates import load_templates
    from lab.workspace import workspace_root

    workspace = workspace_root(args.workspace)
    lab = Lab(workspace=workspace, backend=EmbeddedBackend(workspace), dataset_name=args.dataset)
    templates = load_templates(lab.queries_dir)
    settings = {"epochs": args.epochs} if args.epochs else {}
    rows = []

    def run(strategy: str, label: str, **params) -> None:
        outcome = execute_strategy(lab, templates[strategy], args.split, params or None)
        metrics = outcome.manifest["metrics"]
        rows.append((strategy, label, metrics["ndcg@10"], metrics["recall@100"]))

    run("vectorsearch", "minilm")
    run("rrf", "minilm")
    for kind in args.kind or ["linear", "mlp"]:
        name = f"bench-{kind}"
        started = time.perf_counter()
        result = train_adapter(lab, AdapterConfig(kind=kind, name=name, **settings), overwrite=True)
        training, metrics = result.card["training"], result.card["metrics"]
        print(f"{kind}: {time.perf_counter() - started:.1f}s in all, {training['seconds']:.1f}s training "
              f"({training['epochs_run']} epochs, best {training['best_epoch']}), base vectors from the cache in "
              f"{training['vectors_seconds']:.1f}s; val ndcg@10 {metrics['before']['ndcg@10']:.4f} → "
              f"{metrics['after']['ndcg@10']:.4f}")
        run("vectorsearch_adapter", result.key, adapter=name)
        run("rrf_adapter", result.key, adapter=name)
    if "finetuned" in indexed_models(lab):
        run("vectorsearch_finetune", "finetuned")
        run("rrf_finetune", "finetuned")
    print(f"\n{'strategy':<22} {'model':<28} {'ndcg@10':>8} {'recall@100':>10}")
    for strategy, label, ndcg, recall in sorted(rows, key=lambda r: (r[0].split("_")[0], r[2])):
        print(f"{strategy:<22} {label:<28} {ndcg:>8.4f} {recall:>10.4f}")


if __name__ == "__main__":
    main()
