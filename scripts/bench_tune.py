"""Tuning throughput: trials per minute on a workspace's tune split, memoized clause scores vs a plain
backend search per trial (what `lab tune` would do without sharing), and a check that both rank alike.

    LAB_HOME=/work/ws-hd python scripts/bench_tune.py                 # 45 text-boost trials
    LAB_HOME=/work/ws-hd python scripts/bench_tune.py --strategy hybrid_minmax \\
        --param weights=0.1:0.9:0.1 --param title_boost=1,8

Nothing is stored: this times the trial loop of `lab tune` (search + ranx evaluation per trial).
"""

from __future__ import annotations

import argparse
import os
import time

from lab.evaluation.metrics import DEFAULT_METRICS, evaluate_ranking
from lab.progress import silent

DEFAULT_PARAMS = ["title_boost=1,2,4,8,16", "description_boost=1,2,4", "attributes_boost=1,2,4"]
"""45 combinations, as many as the reference study tuned."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", default=os.environ.get("LAB_HOME"), help="workspace (default $LAB_HOME)")
    parser.add_argument("--dataset", help="dataset (default: the workspace's current one)")
    parser.add_argument("--strategy", default="textsearch_boosted")
    parser.add_argument("--param", action="append", help="NAME=SPEC as for `lab tune` (repeatable)")
    parser.add_argument("--split", default="tune")
    parser.add_argument("--plain-trials", type=int, default=5, help="trials timed with a plain search each")
    args = parser.parse_args()

    from lab.backends.embedded import EmbeddedBackend
    from lab.context import Lab
    from lab.experiments.search_space import grid, parse_dimension
    from lab.backends.base import BatchSearcher
    from lab.experiments.trial_search import TrialSearch
    from lab.runner import query_vectors
    from lab.templates import load_templates
    from lab.workspace import workspace_root

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    workspace = workspace_root(args.workspace)
    lab = Lab(workspace=workspace, backend=EmbeddedBackend(workspace), dataset_name=args.dataset)
    template = load_templates(lab.queries_dir)[args.strategy]
    dimensions = [parse_dimension(spec, template) for spec in args.param or DEFAULT_PARAMS]
    points = grid(dimensions)
    dataset = lab.dataset
    qrels = dataset.qrels_dict(args.split)
    queries = dataset.queries_for(args.split)
    queries = queries[queries["query_id"].isin(qrels.keys())]
    ids, texts = queries["query_id"].tolist(), queries["query_text"].tolist()
    models = template.models(template.params)
    vectors = query_vectors(lab, models[0], texts, silent()) if models else None
    started = time.perf_counter()
    memoized = lab.backend.trial_searcher(lab.index_name)  # loads the index
    print(f"{dataset.name}: {len(dataset.products):,} products, {len(ids):,} judged {args.split} queries; "
          f"index loaded in {time.perf_counter() - started:.1f}s")
    evaluate_ranking(qrels, {ids[0]: list(qrels[ids[0]])}, DEFAULT_METRICS)  # ranx's one-off compilation

    def timed(searcher, chosen):
        search = evaluation = 0.0
        rankings = []
        for point in chosen:
            t0 = time.perf_counter()
            ranked = searcher.rankings({**template.params, **point})
            t1 = time.perf_counter()
            evaluate_ranking(qrels, dict(zip(ids, ranked)), DEFAULT_METRICS)
            evaluation += time.perf_counter() - t1
            search += t1 - t0
            rankings.append(ranked)
        return search, evaluation, rankings

    search, evaluation, memo_rankings = timed(TrialSearch(memoized, template, texts, vectors, 100), points)
    total = search + evaluation
    print(f"memoized clause scores: {len(points)} trials in {total:.1f}s = {60 * len(points) / total:.1f} trials/min "
          f"(search {search / len(points):.2f}s + evaluation {evaluation / len(points):.2f}s per trial; "
          f"memo {memoized.memo.bytes / 2**20:.0f} MiB)")

    plain_points = points[:args.plain_trials]
    plain = TrialSearch(BatchSearcher(lab.backend, lab.index_name, template.name), template, texts, vectors, 100)
    search, evaluation, plain_rankings = timed(plain, plain_points)
    total = search + evaluation
    print(f"plain search per trial: {len(plain_points)} trials in {total:.1f}s = "
          f"{60 * len(plain_points) / total:.1f} trials/min (search {search / len(plain_points):.2f}s + "
          f"evaluation {evaluation / len(plain_points):.2f}s per trial)")
    same = plain_rankings == memo_rankings[:len(plain_points)]
    print(f"rankings identical for the {len(plain_points)} trials run both ways: {same}")
    print(f"load average: {', '.join(f'{v:.1f}' for v in os.getloadavg())} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
