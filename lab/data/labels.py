"""Class labels from a product column (category, brand, ...): the labelled records and their split.

Records are the products with a label and a text. They get their own deterministic split, 80 % train
/ 10 % val / 10 % test, from a salted hash of the product id (the query split is untouched), so a
product keeps its split when the catalogue grows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import LabError
from .splits import HOLDOUT_SHARES, HOLDOUT_SPLITS, split_of

ALL_RECORDS = "all"


def label_split_of(product_id: str) -> str:
    """The label split (train/val/test, 80/10/10) of a product, fixed by its id alone."""
    return split_of(product_id, HOLDOUT_SHARES)


@dataclass(frozen=True)
class LabelledRecords:
    """Products with a class label, as parallel arrays in catalogue order."""

    column: str
    product_ids: np.ndarray
    texts: np.ndarray
    labels: np.ndarray
    splits: np.ndarray

    def __len__(self) -> int:
        return len(self.product_ids)

    def select(self, mask: np.ndarray) -> LabelledRecords:
        """The records where ``mask`` (booleans, one per record) is true."""
        return LabelledRecords(self.column, self.product_ids[mask], self.texts[mask], self.labels[mask],
                               self.splits[mask])

    def split(self, name: str) -> LabelledRecords:
        """The records of one label split, or every record for ``all``."""
        if name == ALL_RECORDS:
            return self
        if name not in HOLDOUT_SPLITS:
            raise LabError(f"unknown label split '{name}' (expected one of: {', '.join((*HOLDOUT_SPLITS, ALL_RECORDS))})")
        return self.select(self.splits == name)

    def class_counts(self) -> dict[str, int]:
        """label → number of records, largest first."""
        return {str(k): int(v) for k, v in pd.Series(self.labels).value_counts().items()}


def labelled_records(products: pd.DataFrame, column: str, texts: pd.Series, dataset_name: str = "") -> LabelledRecords:
    """The products with a non-empty ``column`` value and a text (``texts``: product id → text).

    LabError (naming the column and the available ones) when the column is missing or holds fewer
    than two classes.
    """
    where = f" of dataset '{dataset_name}'" if dataset_name else ""
    available = ", ".join(str(c) for c in products.columns if c != "product_id")
    if column not in products.columns:
        raise LabError(f"--label-column '{column}' is not a product column{where} (available: {available})")
    ids = products["product_id"].astype(str)
    values = products[column].astype(object).where(products[column].notna(), None)
    labels = pd.Series([str(v).strip() if v is not None else "" for v in values], index=ids.to_numpy())
    keep = (labels != "") & labels.index.isin(texts.index)
    labels = labels[keep]
    classes = labels.nunique()
    if classes < 2:
        raise LabError(f"--label-column '{column}'{where} has {classes} class{'es' if classes != 1 else ''} among "
                       f"{len(labels):,} labelled products with text: at least 2 are needed "
                       f"(available columns: {available})")
    product_ids = labels.index.to_numpy(dtype=object)
    return LabelledRecords(column=column, product_ids=product_ids,
                           texts=texts.reindex(product_ids).to_numpy(dtype=object),
                           labels=labels.to_numpy(dtype=object),
                           splits=np.array([label_split_of(p) for p in product_ids], dtype=object))
