"""Cross-encoder reranking speed: (query, product) pairs per second and seconds for N queries x the top k of a
first stage, per batch size, precision (fp32, bf16 where the CPU computes it natively, int8 through ONNX Runtime)
and number of parallel streams the torch threads are shared between, with the score cache cold (scored and
stored) and warm (read back), and how far bf16 and int8 move the order from fp32's.

    LAB_HOME=/tmp/hd-ce python scripts/bench_rerank.py --reranker cross-encoder --queries 2000 --top 50
    python scripts/bench_rerank.py --workspace WS --queries 100 --batch-size 32 --batch-size 128 --threads 2
    python scripts/bench_rerank.py --workspace WS --threads 2 --streams 1 --streams 2 --precision bf16

It needs a trained reranker (`lab finetune --objective cross-encoder`) and the first stage's index. The cache of
the benchmark lives in a temporary directory: the workspace's own score cache is neither read nor written.
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", default=os.environ.get("LAB_HOME"), help="workspace (default $LAB_HOME)")
    parser.add_argument("--dataset", help="dataset (default: the workspace's current one)")
    parser.add_argument("--reranker", default="cross-encoder", help="reranker name (rerankers/<name>)")
    parser.add_argument("--strategy", default="textsearch_boosted", help="first stage")
    parser.add_argument("--split", default="all", help="split whose judged queries are reranked (default all)")
    parser.add_argument("--queries", type=int, default=2000, help="queries reranked (the split's first N)")
    parser.add_argument("--top", type=int, default=50, help="hits of the first stage reranked per query")
    parser.add_argument("--batch-size", type=int, action="append", help="pairs per forward pass (repeatable; 64)")
    parser.add_argument("--precision", action="append", choices=["fp32", "bf16", "int8"],
                        help="repeatable (default fp32, bf16 where the CPU has it natively, and int8)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--streams", type=int, action="append",
                        help="batches run side by side, the threads shared between them (repeatable; default one "
                             "per thread, as `lab run` scores; 1: every batch on all the threads)")
    args = parser.parse_args()

    import numpy as np
    import torch

    from lab.backends.embedded import EmbeddedBackend
    from lab.context import Lab
    from lab.embeddings.precision import cpu_has_native_bf16
    from lab.finetune.examples import product_texts
    from lab.reranker.scorer import CrossEncoderScorer, ScoringStats, card_precision, load_cross_encoder
    from lab.reranker.store import load_reranker_card
    from lab.runner import execute_strategy
    from lab.templates import load_templates
    from lab.workspace import workspace_root

    torch.set_num_threads(args.threads)
    workspace = workspace_root(args.workspace)
    lab = Lab(workspace=workspace, backend=EmbeddedBackend(workspace), dataset_name=args.dataset)
    path, card = load_reranker_card(workspace, args.reranker)
    started = time.perf_counter()
    outcome = execute_strategy(lab, load_templates(lab.queries_dir)[args.strategy], args.split, size=args.top)
    first_stage = time.perf_counter() - started
    ranking = outcome.ranking
    query_ids = list(dict.fromkeys(ranking["query_id"]))[:args.queries]
    ranking = ranking[ranking["query_id"].isin(set(query_ids))]
    text_of = dict(zip(lab.dataset.queries["query_id"], lab.dataset.queries["query_text"]))
    texts = product_texts(lab.dataset.products, tuple(card["config"]["text_fields"]))
    queries = [text_of[q] for q in ranking["query_id"]]
    products = [texts.get(p, "") for p in ranking["product_id"]]
    print(f"{args.strategy} on {args.split}: {len(query_ids):,} queries x top {args.top} = {len(queries):,} pairs "
          f"(first stage {first_stage:.1f}s); reranker {args.reranker} (max length "
          f"{card['config']['max_seq_length']}, fields {','.join(card['config']['text_fields'])}); "
          f"{args.threads} torch thread(s)")
    started = time.perf_counter()
    load_cross_encoder(path)
    print(f"model load {time.perf_counter() - started:.2f}s")

    precisions = args.precision or (["fp32", "bf16", "int8"] if cpu_has_native_bf16() else ["fp32", "int8"])
    print(f"{'batch':>6} {'precision':>9} {'streams':>7} {'cache':>6} {'seconds':>9} {'pairs/s':>9}")
    scores: dict[str, np.ndarray] = {}
    for batch_size, streams, precision in itertools.product(args.batch_size or [64], args.streams or [args.threads],
                                                            precisions):
        with tempfile.TemporaryDirectory() as cache_home:
            scorer = CrossEncoderScorer(path, card, cache_home, batch_size=batch_size, precision=precision,
                                        streams=streams)
            scorer.model()  # loaded (int8: quantized once) before the clock starts
            for cache in ("cold", "warm"):
                stats = ScoringStats()
                scores[precision] = scorer.score(queries, products, stats=stats)
                record = stats.record()
                print(f"{batch_size:>6} {scorer.precision:>9} {streams:>7} {cache:>6} {record['seconds']:>9.2f} "
                      f"{record['pairs_per_second'] or 0:>9,.0f}")
    for other in ("bf16", "int8"):
        if "fp32" not in scores or other not in scores:
            continue
        same_top10, offset = 0, 0
        for _, group in ranking.groupby("query_id", sort=False):
            n = len(group)
            a, b = scores["fp32"][offset:offset + n], scores[other][offset:offset + n]
            same_top10 += np.array_equal(np.argsort(-a, kind="stable")[:10], np.argsort(-b, kind="stable")[:10])
            offset += n
        print(f"{other} vs fp32: max |score difference| {np.abs(scores['fp32'] - scores[other]).max():.4f}, "
              f"identical top 10 for {same_top10 / len(query_ids):.1%} of the queries; val nDCG@10 delta on the "
              f"card {card['inference'].get(f'{other}_ndcg@10_delta')}")
    print(f"the card chose {card_precision(card)}")

if __name__ == "__main__":
    main()
