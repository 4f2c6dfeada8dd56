"""The documents the engine indexes: columns of source values and vector matrices."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Documents:
    """Documents in columns: ids, source fields by name (None = field absent) and knn_vector fields.

    ``vectors[field]`` is a float32 matrix with one row per document; a row of NaN means the
    document has no vector for that field.
    """

    ids: list[str]
    fields: dict[str, list[Any]] = field(default_factory=dict)
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
