"""The whole leaderboard's speed: every strategy over a split, per strategy and in total, in one run.

Prints, for each strategy that can run on the workspace's index: queries, seconds (query encoding, search and
scoring, as `lab run` spends them; nothing stored), queries/s; then the total against the reference study's
15,978 s for the same work on Elasticsearch, and the wall time of `lab run --strategy textsearch` on `test` in a
fresh process (start-up and ranx included). With --url, the same strategies on an OpenSearch cluster holding
the same index (built here when missing: `lab --backend opensearch index`).

With --lucene, also BM25 `match` on product_title, top 100, over the split's queries, in real Lucene (the
oracle harness in tests/oracle/: Lucene 8 from Debian's liblucene8-java, one thread, full JIT, same titles in
the engine's document order; a cold first pass, then the best of two warm passes) side by side with the
embedded engine's `search_batch` on the same bodies, their ratio, and how many top-100 id lists are identical.
--only-lucene runs that comparison alone (no strategies, no fresh-process run).

Usage: python scripts/bench_leaderboard.py --workspace DIR [--split all] [--url http://127.0.0.1:9200]
                                           [--lucene | --only-lucene]
The workspace must hold an imported, indexed dataset (Home Depot: `lab data import homedepot`, `lab index`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lab.backends.embedded import EmbeddedBackend  # noqa: E402
from lab.context import Lab  # noqa: E402
from lab.errors import LabError  # noqa: E402
from lab.runner import execute_strategy  # noqa: E402

REFERENCE_SECONDS = 15_978
"""The reference study: the same ten strategies over every Home Depot query on Elasticsearch 8."""


Timing = tuple[str, int, float | None, float | None, str]
"""(strategy, queries, seconds end to end or None, the run's search-only queries/s, why not run)."""


def time_strategies(lab: Lab, split: str) -> list[Timing]:
    """A :data:`Timing` for every template, in name order."""
    rows: list[Timing] = []
    templates = lab.templates()
    for name in templates:
        try:
            started = time.perf_counter()
            outcome = execute_strategy(lab, templates[name], split)
            rows.append((name, outcome.manifest["n_queries"], time.perf_counter() - started,
                         outcome.manifest["queries_per_second"], ""))
        except LabError as exc:
            rows.append((name, 0, None, None, str(exc)[:100]))
    return rows


def fresh_run_seconds(workspace: Path) -> float:
    """Wall seconds of `lab run --strategy textsearch` on `test` in a new process."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import sys; from lab.cli import main; sys.argv[0] = 'lab'; main()",
                    "--workspace", str(workspace), "run", "--strategy", "textsearch", "--format", "csv"],
                   check=True, capture_output=True)
    return time.perf_counter() - started


LUCENE_FIELD, LUCENE_TOP, LUCENE_PASSES, WARMUP_QUERIES = "product_title", 100, 3, 500


def compare_lucene(lab: Lab, split: str) -> None:
    """BM25 `match` on the title, top 100, every query of ``split``: real Lucene (cold pass, best warm pass)
    and the embedded engine on the same documents and bodies; prints throughputs, ratio and agreement."""
    sys.path.insert(0, str(ROOT / "tests"))
    from oracle.lucene import _find_jar, _version, lucene_available, lucene_search_timed

    if not lucene_available():
        raise SystemExit("--lucene needs java, javac and Debian's liblucene8-java jars")
    mapping = json.loads(lab.mapping_path.read_text())
    analyzer = mapping["mappings"]["properties"][LUCENE_FIELD].get("analyzer", "standard")
    dataset = lab.dataset
    titles = dict(zip(dataset.products["product_id"].tolist(), dataset.products[LUCENE_FIELD].tolist()))
    order = list(lab.backend.engine_index(lab.index_name).ids)  # Lucene doc ids in the engine's order: same ties
    docs = [{"id": doc_id, LUCENE_FIELD: titles.get(doc_id)} for doc_id in order]
    texts = dataset.queries_for(split)["query_text"].tolist()
    queries = [{"match": {LUCENE_FIELD: text}} for text in texts]

    lucene, seconds = lucene_search_timed(docs, {LUCENE_FIELD: analyzer}, queries, LUCENE_TOP, LUCENE_PASSES)
    bodies = [{"query": query, "size": LUCENE_TOP} for query in queries]
    lab.backend.search_batch(lab.index_name, bodies[:WARMUP_QUERIES])  # loads the index, warms caches
    ours, best = [], float("inf")
    for _ in range(2):
        started = time.perf_counter()
        ours = lab.backend.search_batch(lab.index_name, bodies)
        best = min(best, time.perf_counter() - started)

    n = len(queries)
    cold, warm = seconds[0], min(seconds[1:])
    identical = sum(list(o.doc_ids) == [doc_id for doc_id, _ in lc["hits"]] for o, lc in zip(ours, lucene))
    same_sets = sum(set(o.doc_ids) == {doc_id for doc_id, _ in lc["hits"]} for o, lc in zip(ours, lucene))
    same_totals = sum(o.total == lc["total"] for o, lc in zip(ours, lucene))
    version = ".".join(map(str, _version(_find_jar("core") or ""))) or "8"
    print(f"BM25 match on {LUCENE_FIELD} ({analyzer} analyzer), top {LUCENE_TOP}, {n:,} queries "
          f"(split {split}, {len(docs):,} documents):")
    rows = [(f"Lucene {version} cold pass", cold), (f"Lucene {version} warm (best of {LUCENE_PASSES - 1})", warm),
            ("embedded (best of 2)", best)]
    for label, secs in rows:
        print(f"  {label:<32}{secs:7.2f} s {n / secs:9,.0f} q/s")
    print(f"  embedded / Lucene warm: {warm / best:.2f}   embedded / Lucene cold: {cold / best:.2f}")
    print(f"  identical top-{LUCENE_TOP} id lists: {identical:,}/{n:,} (same id sets: {same_sets:,}, "
          f"same totals: {same_totals:,})")
    for text, o, lc in zip(texts, ours, lucene):
        if list(o.doc_ids) != [doc_id for doc_id, _ in lc["hits"]]:
            at = next((i for i, (a, (b, _)) in enumerate(zip(o.doc_ids, lc["hits"])) if a != b),
                      min(len(o.doc_ids), len(lc["hits"])))
            print(f"  first difference: {text!r} at rank {at} of {len(o.doc_ids)}/{len(lc['hits'])} hits")
            break


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--split", default="all")
    parser.add_argument("--url", help="An OpenSearch cluster to time side by side.")
    parser.add_argument("--lucene", action="store_true",
                        help="Also time BM25 match on product_title in real Lucene and the embedded engine.")
    parser.add_argument("--only-lucene", action="store_true", help="Only the Lucene comparison (no strategies).")
    args = parser.parse_args()
    workspace = args.workspace.resolve()
    lab = Lab(workspace, EmbeddedBackend(workspace))
    if args.only_lucene:
        compare_lucene(lab, args.split)
        return 0
    backends = [("embedded", lab)]
    if args.url:
        from lab.backends.opensearch import OpenSearchBackend
        from lab.indexer import build_index, indexed_models

        remote = dataclasses.replace(lab, backend=OpenSearchBackend.connect(args.url))
        try:
            remote.backend.count(remote.index_name)
        except LabError:
            build_index(remote, list(indexed_models(lab)))
        backends.append((f"OpenSearch {remote.backend.cluster.number}", remote))
    timings = {label: time_strategies(each, args.split) for label, each in backends}
    print(f"dataset {lab.dataset.name}, split {args.split}")
    print("end to end: rendering, query vectors, search, scoring, as `lab run` spends them (nothing stored); "
          "search q/s: the search alone, the leaderboard's queries/s column")
    print(f"{'strategy':<32}" + "".join(f"{label + ' end to end':>24}{'search':>12}" for label, _ in backends))
    for i, (name, *_rest) in enumerate(timings["embedded"]):
        cells = []
        for label, _ in backends:
            _name, n, seconds, search_rate, _why = timings[label][i]
            cells.append(f"{seconds:8.1f} s {n / seconds:7,.0f} q/s{search_rate:8,.0f} q/s" if seconds
                         else f"{'not run':>36}")
        print(f"{name:<32}" + "".join(f"{c:>36}" for c in cells))
    for label, _ in backends:
        done = [t for t in timings[label] if t[2]]
        total = sum(t[2] for t in done)
        print(f"{label}: {len(done)} strategies, {sum(t[1] for t in done):,} query runs in {total:.1f} s; "
              f"the reference study took {REFERENCE_SECONDS:,} s ({REFERENCE_SECONDS / total:.0f}x)")
        for name, _n, seconds, _rate, why in timings[label]:
            if seconds is None:
                print(f"  {name} not run: {why}")
    print(f"fresh process, lab run --strategy textsearch on test: {fresh_run_seconds(workspace):.1f} s wall")
    if args.lucene:
        compare_lucene(lab, args.split)
    return 0


if __name__ == "__main__":
    sys.exit(main())
