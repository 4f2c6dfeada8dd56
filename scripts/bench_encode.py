"""Encoding throughput on the Home Depot catalogue titles: fp32 vs bf16, and cached re-encoding.

    python scripts/bench_encode.py [--limit 5000] [--cache /work/cache-embeddings]

Prints titles/s for fp32 and bf16 (target: >= 300 titles/s on 2 cores), the min/mean cosine of
bf16 to fp32 vectors, and the time to re-encode everything from the cache. The precision the lab
picks by itself (``auto``) is encoded through the cache at ``--cache`` (a temporary directory
when not given), so that cache can be reused afterwards.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab.embeddings import EmbeddingCache, Encoder, encode_cached, load_encoder
from lab.embeddings.encoder import DEFAULT_BATCH_SIZE, torch_threads
from lab.embeddings.precision import cosines

DATA = Path("/work/shared/data/homedepot")


def catalogue_titles(data: Path, limit: int | None) -> list[str]:
    """One title per product_uid across train.csv and test.csv."""
    frames = [pd.read_csv(data / name, encoding="ISO-8859-1", usecols=["product_uid", "product_title"])
              for name in ("train.csv", "test.csv")]
    titles = pd.concat(frames).drop_duplicates("product_uid")["product_title"].astype(str).tolist()
    return titles[:limit] if limit else titles


def timed(label: str, count: int, run) -> np.ndarray:
    """Run and print wall time, titles/s, and CPU seconds (which show how contended the cores were)."""
    start, cpu_start = time.perf_counter(), time.process_time()
    vectors = run()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    print(f"{label:<34} {seconds:8.2f} s  {count / seconds:8.1f} titles/s  ({cpu:.1f} CPU s)")
    return vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--limit", type=int, default=None, help="encode only the first N titles")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--cache", type=Path, default=None, help="embedding cache to fill (kept)")
    args = parser.parse_args()

    titles = catalogue_titles(args.data, args.limit)
    with tempfile.TemporaryDirectory(prefix="bench-encode-") as scratch:
        run(titles, Path(scratch), args.cache or Path(scratch) / "embeddings", args.batch_size)


def run(titles: list[str], workspace: Path, cache_root: Path, batch_size: int) -> None:
    auto = load_encoder("minilm", workspace)
    other = "fp32" if auto.precision == "bf16" else "bf16"
    encoders: dict[str, Encoder] = {auto.precision: auto, other: load_encoder("minilm", workspace, other)}
    print(f"{len(titles)} titles, {torch_threads()} torch threads, batch size {batch_size}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"auto precision: {auto.precision_report}")
    print(f"fingerprint: {auto.fingerprint}")

    cache = EmbeddingCache(cache_root)
    already = cache.count(auto.cache_namespace)
    if already:
        print(f"note: {already} vectors already cached under {cache_root}; the {auto.precision} timing is not cold")
    vectors = {}
    for precision, encoder in encoders.items():
        if encoder is auto:
            vectors[precision] = timed(f"{precision} encode into cache", len(titles),
                                       lambda: encode_cached(encoder, titles, cache, batch_size=batch_size))
        else:
            vectors[precision] = timed(f"{precision} encode", len(titles),
                                       lambda: encoder.encode(titles, batch_size=batch_size))
    similarity = cosines(vectors["fp32"], vectors["bf16"])
    print(f"bf16 vs fp32 cosine: min {similarity.min():.6f}  mean {similarity.mean():.6f}")

    reopened = EmbeddingCache(cache_root)
    start = time.perf_counter()
    reopened.count(auto.cache_namespace)
    print(f"{'cache open (index ' + str(len(titles)) + ')':<34} {time.perf_counter() - start:8.3f} s")
    cached = timed(f"{auto.precision} re-encode from cache", len(titles),
                   lambda: encode_cached(auto, titles, reopened, batch_size=batch_size))
    assert np.array_equal(cached, vectors[auto.precision]), "cached vectors differ from the encoded ones"
    print(f"cache: {cache_root}  namespace {auto.cache_namespace}")


if __name__ == "__main__":
    main()
