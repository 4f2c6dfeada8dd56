"""Training examples from the dataset's fine-tuning split: (query, product) positives and
optional hard negatives, or the split's rows of the dataset's triplets table; never a `test` query."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import pandas as pd

from ..data.triplets import TRIPLETS_TABLE
from ..errors import DataError, LabError
from ..mapping import source_texts
from .config import FinetuneConfig

if TYPE_CHECKING:
    from datasets import DatasetDict

IRRELEVANT_LABEL = 0
MIN_TRAINING_PAIRS = 8

Miner = Callable[[list[str]], list[list[str]]]
"""Query texts → product ids of each query's top-k candidates (base model or BM25)."""


def product_texts(products: pd.DataFrame, text_fields: tuple[str, ...]) -> pd.Series:
    """product id → the text the model reads (the fields joined, as the index's vector field does)."""
    missing = [f for f in text_fields if f not in products.columns]
    if len(missing) == len(text_fields):
        raise DataError(f"--text-fields {','.join(text_fields)}: no such product column "
                        f"(columns: {', '.join(map(str, products.columns))})")
    texts = source_texts(products, [f for f in text_fields if f in products.columns])
    series = pd.Series(texts, index=products["product_id"].astype(str).to_numpy(), dtype=object)
    return series.dropna()


def judged_pairs(dataset: Any, split: str, texts: pd.Series) -> pd.DataFrame:
    """Every judgment of ``split``'s queries with query and product text: query_id, query,
    product_id, product, relevance (products without text are left out)."""
    queries = dataset.queries_for(split)
    queries = pd.DataFrame({"query_id": queries["query_id"].astype(str), "query": queries["query_text"].astype(str)})
    qrels = dataset.qrels
    qrels = pd.DataFrame({"query_id": qrels["query_id"].astype(str), "product_id": qrels["product_id"].astype(str),
                          "relevance": qrels["relevance"].astype(int)})
    pairs = queries.merge(qrels, on="query_id", how="inner")
    pairs = pairs[pairs["product_id"].isin(texts.index)].copy()
    pairs["product"] = texts.reindex(pairs["product_id"]).to_numpy()
    return pairs[["query_id", "query", "product_id", "product", "relevance"]].reset_index(drop=True)


def test_overlap(dataset: Any, query_ids: set[str], query_texts: set[str]) -> int:
    """How many training queries are `test` queries, by id or by (case-folded) text."""
    test = dataset.queries_for("test")
    test_ids = set(test["query_id"].astype(str))
    test_texts = {t.strip().casefold() for t in test["query_text"].astype(str)}
    return len(query_ids & test_ids) + len({t.strip().casefold() for t in query_texts} & test_texts)


def refuse_test_queries(dataset: Any, pairs: pd.DataFrame) -> int:
    """Raise if any training query is a `test` query; return the overlap count (always 0)."""
    ids = set(pairs["query_id"])
    dataset.assert_no_test_leakage(sorted(ids))
    overlap = test_overlap(dataset, ids, set(pairs["query"]))
    if overlap:
        raise LabError(f"{overlap} training queries have the text of a test query: the split leaks, "
                       "re-import the dataset so that equal query texts share a split")
    return overlap


@dataclass
class TrainingData:
    """The examples one run trains on, and what they are made of (for the model card)."""

    examples: pd.DataFrame
    """query_id, anchor, product_id, positive, negative_id, negative (None without a negative)."""
    split: str
    min_label: int
    negatives: str
    test_overlap: int
    judged_queries: int

    @property
    def n_pairs(self) -> int:
        return len(self.examples)

    @property
    def n_triplets(self) -> int:
        return int(self.examples["negative"].notna().sum())

    @property
    def n_queries(self) -> int:
        return int(self.examples["query_id"].nunique())

    def summary(self) -> dict[str, Any]:
        return {"split": self.split, "judged_queries": self.judged_queries, "queries": self.n_queries,
                "positive_pairs": self.n_pairs, "with_hard_negative": self.n_triplets,
                "min_label": self.min_label, "negatives": self.negatives,
                "test_query_overlap": self.test_overlap}

    def to_datasets(self, seed: int) -> DatasetDict:
        """Hugging Face datasets for the trainer: ``pairs`` (anchor, positive) and, where mined,
        ``triplets`` (anchor, positive, negative), each shuffled with ``seed``."""
        from datasets import Dataset, DatasetDict

        parts = {}
        plain = self.examples[self.examples["negative"].isna()]
        triplets = self.examples[self.examples["negative"].notna()]
        if len(plain):
            parts["pairs"] = Dataset.from_dict({"anchor": plain["anchor"].tolist(),
                                                "positive": plain["positive"].tolist()})
        if len(triplets):
            parts["triplets"] = Dataset.from_dict({"anchor": triplets["anchor"].tolist(),
                                                   "positive": triplets["positive"].tolist(),
                                                   "negative": triplets["negative"].tolist()})
        return DatasetDict({name: part.shuffle(seed=seed) for name, part in parts.items()})


def attach_negatives(positives: pd.DataFrame, judged: pd.DataFrame, candidates: dict[str, list[str]],
                     texts: pd.Series, mode: str) -> pd.DataFrame:
    """Give each positive pair a hard negative from its query's mined candidates.

    ``judged``: only candidates judged irrelevant (label 0); ``unjudged``: also candidates with no
    judgment for the query. Products judged relevant at any grade are never negatives. A query's
    negatives are dealt to its positives in turn; pairs whose query has none keep ``None``.
    """
    labels = {(q, p): r for q, p, r in zip(judged["query_id"], judged["product_id"], judged["relevance"])}
    negative_ids: list[str | None] = []
    dealt: dict[str, int] = {}
    for qid in positives["query_id"]:
        pool = [p for p in candidates.get(qid, []) if p in texts.index and
                (labels.get((qid, p)) == IRRELEVANT_LABEL or (mode == "unjudged" and (qid, p) not in labels))]
        if pool:
            turn = dealt.get(qid, 0)
            negative_ids.append(pool[turn % len(pool)])
            dealt[qid] = turn + 1
        else:
            negative_ids.append(None)
    out = positives.copy()
    out["negative_id"] = negative_ids
    out["negative"] = [texts[p] if p is not None else None for p in negative_ids]
    return out


def _triplets_table(dataset: Any) -> pd.DataFrame:
    table = dataset.extras.get(TRIPLETS_TABLE)
    if table is None:
        raise LabError(f"dataset '{dataset.name}' has no triplets (objective 'triplets'): import a triplet file with "
                       "`lab data import triplets FILE`")
    return table


def triplet_training_data(dataset: Any, config: FinetuneConfig, texts: pd.Series) -> TrainingData:
    """The triplets of ``config.train_split`` as training examples (anchor, positive, negative), the
    product texts being those the model reads (``texts``: product id → text)."""
    table = _triplets_table(dataset)
    rows = table[(table["split"] == config.train_split) & table["positive_id"].isin(texts.index)
                 & table["negative_id"].isin(texts.index)]
    if len(rows) < config.batch_size:
        raise DataError(f"{len(rows)} triplets in split '{config.train_split}' of dataset '{dataset.name}' is fewer "
                        f"than one batch (--batch-size {config.batch_size}): lower --batch-size")
    anchors = dict(zip(dataset.queries["query_id"], dataset.queries["query_text"]))
    examples = pd.DataFrame({"query_id": rows["anchor_id"].tolist(),
                             "anchor": [anchors[a] for a in rows["anchor_id"]],
                             "product_id": rows["positive_id"].tolist(),
                             "positive": texts.reindex(rows["positive_id"]).tolist(),
                             "negative_id": rows["negative_id"].tolist(),
                             "negative": texts.reindex(rows["negative_id"]).tolist()})
    overlap = refuse_test_queries(dataset, examples.rename(columns={"anchor": "query"}))
    sources = "+".join(sorted(set(rows["negative_source"])))
    return TrainingData(examples=examples, split=config.train_split, min_label=1, negatives=f"triplets:{sources}",
                        test_overlap=overlap, judged_queries=int(examples["query_id"].nunique()))


def build_training_data(dataset: Any, config: FinetuneConfig, texts: pd.Series,
                        miner: Miner | None = None) -> TrainingData:
    """Positives (label ≥ ``config.min_label``) of the training split, with hard negatives when asked;
    for the ``triplets`` objective, the training split's rows of the dataset's triplets table."""
    if config.objective == "triplets":
        return triplet_training_data(dataset, config, texts)
    judged = judged_pairs(dataset, config.train_split, texts)
    if judged.empty:
        raise DataError(f"split '{config.train_split}' of dataset '{dataset.name}' has no judged queries "
                        "with product text: nothing to fine-tune on")
    positives = judged[judged["relevance"] >= config.min_label]
    if len(positives) < MIN_TRAINING_PAIRS:
        top = int(judged["relevance"].max())
        hint = f"; lower --min-label (highest label in the split is {top})" if top < config.min_label else ""
        raise DataError(f"only {len(positives)} (query, product) pairs with label ≥ {config.min_label} in split "
                        f"'{config.train_split}' of dataset '{dataset.name}': at least {MIN_TRAINING_PAIRS} "
                        f"are needed{hint}")
    if len(positives) < config.batch_size:
        raise DataError(f"{len(positives)} training pairs is fewer than one batch (--batch-size "
                        f"{config.batch_size}): lower --batch-size")
    overlap = refuse_test_queries(dataset, positives)
    examples = positives.rename(columns={"query": "anchor", "product": "positive"})
    examples = examples[["query_id", "anchor", "product_id", "positive"]].reset_index(drop=True)
    if config.negatives == "none":
        examples = examples.assign(negative_id=None, negative=None)
    else:
        if miner is None:
            raise LabError("hard negatives need a miner (base model or BM25)")
        queries = examples.drop_duplicates("query_id")
        mined = miner(queries["anchor"].tolist())
        candidates = dict(zip(queries["query_id"], mined))
        examples = attach_negatives(examples, judged, candidates, texts, config.negatives)
    return TrainingData(examples=examples, split=config.train_split, min_label=config.min_label,
                        negatives=config.negatives, test_overlap=overlap,
                        judged_queries=int(judged["query_id"].nunique()))


def sample_random_pairs(queries: list[str], texts: pd.Series, n: int, seed: int,
                        exclude: set[tuple[str, str]]) -> list[tuple[str, str]]:
    """``n`` (query, product text) pairs drawn at random, none of them a judged pair."""
    rng = np.random.default_rng(seed)
    products = texts.to_numpy()
    out: list[tuple[str, str]] = []
    for _ in range(n * 3):
        if len(out) == n:
            break
        q = queries[int(rng.integers(len(queries)))]
        p = products[int(rng.integers(len(products)))]
        if (q, p) not in exclude:
            out.append((q, p))
    return out
