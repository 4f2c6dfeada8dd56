"""The whole leaderboard's speed: every strategy over a split, per strategy and in total, in one run.

Prints, for each strategy that can run on the workspace's index: queries, seconds (query encoding, search and
scoring, as `lab run` spends them; nothing stored), queries/s; then the total against the reference study's
15,978 s for the same work on Elasticsearch, and the wall time of `lab run --strategy textsearch` on `test` in a
fresh process (start-up and ranx included). With --url, the same strategies on an OpenSearch cluster holding
the same index (built here when missing: `lab --backend opensearch index`).

Usage: python scripts/bench_leaderboard.py --workspace DIR [--split all] [--url http://127.0.0.1:9200]
The workspace must hold an imported, indexed dataset (Home Depot: `lab data import homedepot`, `lab index`).
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lab.backends.embedded import EmbeddedBackend  # noqa: E402
from lab.context import Lab  # noqa: E402
from lab.errors import LabError  # noqa: E402
from lab.runner import execute_strategy  # noqa: E402

REFERENCE_SECONDS = 15_978
"""The reference study: the same ten strategies over every Home Depot query on Elasticsearch 8."""


def time_strategies(lab: Lab, split: str) -> list[tuple[str, int, float | None, str]]:
    """(strategy, queries, seconds or None, why not) for every template, in name order."""
    rows = []
    templates = lab.templates()
    for name in templates:
        try:
            started = time.perf_counter()
            outcome = execute_strategy(lab, templates[name], split)
            rows.append((name, outcome.manifest["n_queries"], time.perf_counter() - started, ""))
        except LabError as exc:
            rows.append((name, 0, None, str(exc)[:100]))
    return rows


def fresh_run_seconds(workspace: Path) -> float:
    """Wall seconds of `lab run --strategy textsearch` on `test` in a new process."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import sys; from lab.cli import main; sys.argv[0] = 'lab'; main()",
                    "--workspace", str(workspace), "run", "--strategy", "textsearch", "--format", "csv"],
                   check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--split", default="all")
    parser.add_argument("--url", help="An OpenSearch cluster to time side by side.")
    args = parser.parse_args()
    workspace = args.workspace.resolve()
    lab = Lab(workspace, EmbeddedBackend(workspace))
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
    print(f"{'strategy':<32}" + "".join(f"{label:>26}" for label, _ in backends))
    for i, (name, *_rest) in enumerate(timings["embedded"]):
        cells = []
        for label, _ in backends:
            _name, n, seconds, why = timings[label][i]
            cells.append(f"{seconds:8.1f} s {n / seconds:8,.0f} q/s" if seconds else f"{'not run':>21}")
        print(f"{name:<32}" + "".join(f"{c:>26}" for c in cells))
    for label, _ in backends:
        done = [t for t in timings[label] if t[2]]
        total = sum(t[2] for t in done)
        print(f"{label}: {len(done)} strategies, {sum(t[1] for t in done):,} query runs in {total:.1f} s; "
              f"the reference study took {REFERENCE_SECONDS:,} s ({REFERENCE_SECONDS / total:.0f}x)")
        for name, _n, seconds, why in timings[label]:
            if seconds is None:
                print(f"  {name} not run: {why}")
    print(f"fresh process, lab run --strategy textsearch on test: {fresh_run_seconds(workspace):.1f} s wall")
    return 0


if __name__ == "__main__":
    sys.exit(main())
