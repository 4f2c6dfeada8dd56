"""Embedded engine throughput: indexing, BM25 multi_match, exact kNN and hybrid search.

Builds 100k product-like documents from the Home Depot titles (title = a real title, lightly
perturbed; description = words of several titles, 30-90 tokens so lengths above 40 go through
SmallFloat; attributes = a few short phrases) and random unit vectors (384-d), then prints:

* indexing time for the 3 text fields (``add`` in 10k batches as the embedded backend does), the size
  of the index's arrays and peak RSS;
* BM25 queries/s: multi_match best_fields over the 3 fields, Home Depot search terms, one ``search`` at
  a time and through ``msearch`` batches of 256;
* exact kNN queries/s (k=10) through msearch batches of 256;
* hybrid queries/s (multi_match + knn, min_max + arithmetic_mean pipeline) through msearch.

Each rate is given per wall-clock second and per CPU-second of this process: on a machine shared
with other jobs the second is the steadier measure (it still counts BLAS threads' CPU time).

Usage: python scripts/bench_engine.py [--docs 100000] [--queries 2000] [--dim 384] [--data DIR]
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lab.engine import Documents, EmbeddedIndex  # noqa: E402

DATA = (Path(__file__).resolve().parents[2] / "shared" / "data" / "homedepot")
BATCH = 256
FIELDS = ("product_title", "product_description", "attributes")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_titles_and_terms(data: Path = DATA) -> tuple[list[str], list[str]]:
    titles: dict[str, None] = {}
    terms: dict[str, None] = {}
    for name in ("train.csv", "test.csv"):
        with open(data / name, encoding="ISO-8859-1", newline="") as handle:
            for row in csv.DictReader(handle):
                titles[row["product_title"]] = None
                terms[row["search_term"]] = None
    return list(titles), list(terms)


def make_documents(n: int, titles: list[str], rng: random.Random) -> Documents:
    words = [w for t in titles[:5000] for w in t.split()]
    extras = ["new", "pro", "2-pack", "white", "black", "heavy duty", "outdoor", "16 in.", "LED", "steel"]
    ids, title_col, desc_col, attr_col = [], [], [], []
    for i in range(n):
        title = titles[i % len(titles)]
        if i >= len(titles):
            title = f"{title} {rng.choice(extras)}"
        ids.append(str(100000 + i))
        title_col.append(title)
        desc_col.append(" ".join(rng.choice(words) for _ in range(rng.randint(30, 90))))
        attr_col.append(None if rng.random() < 0.1 else
                        "; ".join(" ".join(rng.choice(words) for _ in range(3)) for _ in range(rng.randint(1, 4))))
    return Documents(ids, {"product_title": title_col, "product_description": desc_col, "attributes": attr_col})


def index_body(dim: int) -> dict:
    text = {"type": "text", "analyzer": "english"}
    return {"settings": {"index": {"number_of_shards": 1, "knn": True}},
            "mappings": {"properties": {**{f: dict(text) for f in FIELDS},
                                        "text_vector": {"type": "knn_vector", "dimension": dim,
                                                        "method": {"name": "hnsw", "engine": "lucene",
                                                                   "space_type": "cosinesimil"}}}}}


def unit_vectors(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((n, dim), dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


class Timer:
    """Wall-clock and process CPU seconds (CPU time is less disturbed by other jobs on a shared machine)."""

    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def rate(label: str, count: int, timer: Timer) -> None:
    print(f"{label}: {count} queries in {timer.wall:.2f} s wall = {count / timer.wall:,.0f} queries/s "
          f"({timer.cpu:.2f} s CPU = {count / timer.cpu:,.0f} queries per CPU-second)")


def index_megabytes(index: EmbeddedIndex) -> float:
    """Bytes held by the index's arrays (postings, norms, values; vectors excluded)."""
    total = 0
    for storage in [*index.inverted.values(), *index.numeric.values()]:
        total += sum(a.nbytes for a in storage.arrays().values())
    return total / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--data", type=Path, default=DATA, help="folder with the Home Depot train.csv and test.csv")
    args = parser.parse_args()
    rng = random.Random(7)

    titles, terms = load_titles_and_terms(args.data)
    docs = make_documents(args.docs, titles, rng)
    print(f"documents: {len(docs)} x {len(FIELDS)} text fields; RSS before indexing {rss_mb():.0f} MB; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    with Timer() as timer:
        index = EmbeddedIndex.create(index_body(args.dim))
        for lo in range(0, len(docs), 10_000):
            hi = min(lo + 10_000, len(docs))
            index.add(Documents(docs.ids[lo:hi], {f: v[lo:hi] for f, v in docs.fields.items()}))
        index.search({"query": {"match_all": {}}, "size": 0})  # merges pending postings, as the first search does
    print(f"indexing: {timer.wall:.2f} s wall ({timer.cpu:.2f} s CPU); index arrays {index_megabytes(index):.0f} MB; "
          f"peak RSS {rss_mb():.0f} MB")

    queries = [terms[i % len(terms)] for i in range(args.queries)]
    bm25 = [{"size": 10, "query": {"multi_match": {"query": q, "fields": ["product_title^3", "product_description",
                                                                           "attributes^1.5"]}}} for q in queries]
    with Timer() as timer:
        for body in bm25:
            index.search(body)
    rate("BM25 multi_match best_fields, one search() at a time", len(bm25), timer)
    with Timer() as timer:
        for lo in range(0, len(bm25), BATCH):
            index.msearch(bm25[lo:lo + BATCH])
    rate(f"BM25 multi_match best_fields, msearch batches of {BATCH}", len(bm25), timer)

    vectors = unit_vectors(len(docs), args.dim, 1)
    with Timer() as timer:
        index.put_vectors({"text_vector": index_body(args.dim)["mappings"]["properties"]["text_vector"]}, docs.ids,
                          {"text_vector": vectors})
    print(f"put_vectors {vectors.shape}: {timer.wall:.2f} s; peak RSS {rss_mb():.0f} MB")
    query_vectors = unit_vectors(len(queries), args.dim, 2).tolist()
    knn = [{"size": 10, "query": {"knn": {"text_vector": {"vector": v, "k": 10}}}} for v in query_vectors]
    with Timer() as timer:
        for lo in range(0, len(knn), BATCH):
            index.msearch(knn[lo:lo + BATCH])
    rate(f"exact kNN k=10 over {len(docs)}x{args.dim}, msearch batches of {BATCH}", len(knn), timer)

    pipeline = {"phase_results_processors": [{"normalization-processor": {
        "normalization": {"technique": "min_max"}, "combination": {"technique": "arithmetic_mean"}}}]}
    hybrid = [{"size": 10, "query": {"hybrid": {"queries": [b["query"], k["query"]]}}} for b, k in zip(bm25, knn)]
    with Timer() as timer:
        for lo in range(0, len(hybrid), BATCH):
            index.msearch(hybrid[lo:lo + BATCH], pipeline=pipeline)
    rate(f"hybrid (multi_match + kNN, min_max), msearch batches of {BATCH}", len(hybrid), timer)
    print(f"peak RSS {rss_mb():.0f} MB (the benchmark's own copy of the vectors: {vectors.nbytes / 2**20:.0f} MB, "
          f"the index's: as much again); load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
