"""Analysis throughput on the Home Depot product titles (standard and english analyzers).

    python scripts/bench_analysis.py [DATA_DIR]

DATA_DIR defaults to ../shared/data/homedepot (train.csv + test.csv, ISO-8859-1). Prints
fields/s and tokens/s with a cold cache (first pass: every distinct token is stemmed once) and a
warm one, and the time 300,000 such fields (100k products x 3 text fields) would take.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab.engine import analysis
from lab.engine.analysis import get_analyzer

DEFAULT_DATA = (Path(__file__).resolve().parents[2] / "shared" / "data" / "homedepot")
TARGET_FIELDS = 300_000


def load_titles(data_dir: Path) -> list[str]:
    frames = [pd.read_csv(data_dir / name, encoding="ISO-8859-1", usecols=["product_uid", "product_title"])
              for name in ("train.csv", "test.csv") if (data_dir / name).exists()]
    if not frames:
        raise SystemExit(f"no train.csv/test.csv under {data_dir}")
    return pd.concat(frames).drop_duplicates("product_uid")["product_title"].astype(str).tolist()


def timed_pass(name: str, titles: list[str]) -> tuple[float, int]:
    analyze = get_analyzer(name).analyze
    start = time.perf_counter()
    tokens = sum(len(analyze(t)) for t in titles)
    return time.perf_counter() - start, tokens


def main() -> None:
    data_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DATA
    titles = load_titles(data_dir)
    non_ascii = sum(not t.isascii() for t in titles)
    print(f"{len(titles)} distinct product titles ({non_ascii} with non-ASCII characters), "
          f"{sum(map(len, titles)) / len(titles):.0f} chars on average")
    for name in ("standard", "english"):
        analysis._ENGLISH_TERMS.clear()
        for label in ("cold", "warm"):
            seconds, tokens = timed_pass(name, titles)
            print(f"{name:9s} {label}: {len(titles) / seconds:10,.0f} fields/s  {tokens / seconds:12,.0f} tokens/s"
                  f"  ({1e6 * seconds / len(titles):.1f} us/field; {TARGET_FIELDS:,} fields in "
                  f"{TARGET_FIELDS * seconds / len(titles):.1f} s)")


if __name__ == "__main__":
    main()
