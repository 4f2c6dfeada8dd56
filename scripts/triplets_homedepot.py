"""A job-matching-style triplet file from an imported Home Depot dataset (the README's real example).

    python scripts/triplets_homedepot.py DATASET_DIR OUT.csv [--negatives judged|none]

Anchors are the search terms of the dataset's judged queries, positives the titles judged 2 for
them. The triplet import splits anchors by the same query-id hash as the Home Depot import (80/10/10
against 60/10/10/20), so its train anchors are Home Depot train/val/tune queries and its val and test
anchors are Home Depot test queries: a model trained on the triplets never sees a Home Depot test query.
``judged`` (default): the negative is a title judged 0 for the same query and not also the title
of a product judged 2 for it (such titles dealt in turn; queries without one are left out). ``none``: no negative column, for
``lab data import triplets OUT.csv --mine hard``. Prints the rows written; the file is data, never
commit it.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab.data import Dataset, UNLABELED

POSITIVE_LABEL = 2
NEGATIVE_LABEL = 0


def triplet_rows(dataset: Dataset, negatives: str) -> list[dict[str, str]]:
    queries = dataset.queries[dataset.queries["split"] != UNLABELED]
    anchors = dict(zip(queries["query_id"], queries["query_text"]))
    titles = dict(zip(dataset.products["product_id"], dataset.products["product_title"]))
    qrels = dataset.qrels[dataset.qrels["query_id"].isin(anchors)
                          & dataset.qrels["product_id"].map(titles).notna()]
    pools = (qrels[qrels["relevance"] == NEGATIVE_LABEL].groupby("query_id")["product_id"]
             .apply(lambda ids: sorted({titles[p] for p in ids})).to_dict())
    positives = qrels[qrels["relevance"] == POSITIVE_LABEL]
    positive_titles = positives.groupby("query_id")["product_id"].apply(lambda ids: {titles[p] for p in ids}).to_dict()
    rows, dealt = [], {}
    for qid, pid in positives[["query_id", "product_id"]].itertuples(index=False):
        row = {"anchor": anchors[qid], "positive": titles[pid]}
        if negatives == "judged":
            pool = [t for t in pools.get(qid, []) if t not in positive_titles[qid]]
            if not pool:
                continue
            row["negative"] = pool[dealt.get(qid, 0) % len(pool)]
            dealt[qid] = dealt.get(qid, 0) + 1
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset_dir", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--negatives", choices=["judged", "none"], default="judged")
    args = parser.parse_args()
    rows = triplet_rows(Dataset.load(args.dataset_dir), args.negatives)
    with args.out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["anchor", "positive", *(["negative"] if args.negatives == "judged" else [])])
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows):,} rows, {len({r['anchor'] for r in rows}):,} anchors → {args.out}")


if __name__ == "__main__":
    main()
