"""The embedded engine and an OpenSearch cluster side by side: bulk indexing and queries per strategy.

Works on a workspace (default ./bench-opensearch-workspace) holding the Home Depot dataset (imported from
$LAB_DATA or ../shared/data/homedepot when missing) and its cached base-model vectors (encoded on the first
run, a few minutes on 2 cores; not part of any rate). Then, in one run:

* indexing: products/s of the embedded engine's build and of the cluster's (bulk load with every vector
  field, force-merge to one segment, count check, alias swap), encoding excluded;
* searching: queries/s of every strategy the cluster can run, over the test split (1,801 queries), on
  both backends (query vectors are computed once and cached, so only search time counts).

Usage: python scripts/bench_opensearch.py [--url http://127.0.0.1:9200] [--workspace DIR] [--split test]
A local cluster: export OPENSEARCH_URL=$(scripts/opensearch-local start)
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lab.backends.check import embedded_like  # noqa: E402
from lab.backends.embedded import EmbeddedBackend  # noqa: E402
from lab.backends.opensearch import OpenSearchBackend  # noqa: E402
from lab.context import Lab  # noqa: E402
from lab.data.homedepot import import_homedepot  # noqa: E402
from lab.errors import LabError  # noqa: E402
from lab.indexer import build_index  # noqa: E402
from lab.runner import execute_strategy  # noqa: E402
from lab.templates import load_templates  # noqa: E402

DATA = Path(os.environ.get("LAB_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data" / "homedepot")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=os.environ.get("OPENSEARCH_URL", "http://127.0.0.1:9200"))
    parser.add_argument("--workspace", type=Path, default=Path("bench-opensearch-workspace"))
    parser.add_argument("--split", default="test")
    args = parser.parse_args()

    cluster = OpenSearchBackend.connect(args.url)
    lab = Lab(args.workspace.resolve(), EmbeddedBackend(args.workspace.resolve()))
    if not (lab.workspace / "config.json").exists():
        print(f"importing Home Depot from {DATA}", flush=True)
        dataset = import_homedepot(DATA)
        dataset.save(lab.dataset_dir(dataset.name))
        lab.set_current_dataset(dataset.name)
    remote = dataclasses.replace(lab, backend=cluster)
    n = len(lab.dataset.products)
    print(f"OpenSearch {cluster.cluster.number} (Lucene {cluster.cluster.lucene_version}) at {args.url}; "
          f"{n:,} products, split '{args.split}'", flush=True)

    print("\nindexing (text fields + base-model vectors; encoding excluded)")
    embedded_seconds = build_index(lab).seconds
    cluster_seconds = build_index(remote).seconds
    print(f"  {'embedded':<10} {n / embedded_seconds:>9,.0f} products/s  ({embedded_seconds:.1f} s)")
    print(f"  {'cluster':<10} {n / cluster_seconds:>9,.0f} products/s  ({cluster_seconds:.1f} s)  "
          f"embedded/cluster {cluster_seconds / embedded_seconds:.1f}x")

    local = dataclasses.replace(lab, backend=embedded_like(lab.workspace, cluster))
    print(f"\n{'strategy':<32} {'embedded q/s':>12} {'cluster q/s':>12} {'ratio':>7}")
    for name, template in sorted(load_templates(lab.queries_dir).items()):
        try:
            theirs = execute_strategy(remote, template, args.split).manifest["queries_per_second"]
        except LabError as exc:
            print(f"{name:<32} not run: {str(exc)[:90]}")
            continue
        mine = execute_strategy(local, template, args.split).manifest["queries_per_second"]
        print(f"{name:<32} {mine:>12,.0f} {theirs:>12,.0f} {mine / theirs:>6.1f}x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
