"""Lucene-style score explanations: a value, a description and the explanations it is made of."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Explanation:
    """One node of an explanation tree; ``match`` says whether the document matched this part."""

    match: bool
    value: float
    description: str
    details: list[Explanation] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The OpenSearch ``_explain`` shape: ``{"value", "description", "details"}``."""
        return {"value": self.value, "description": self.description,
                "details": [d.to_dict() for d in self.details]}


def match(value: Any, description: str, details: list[Explanation] | None = None) -> Explanation:
    """A matching part; ``value`` is rounded to float32 and kept as its shortest decimal, as Java prints it."""
    return Explanation(True, float(str(np.float32(value))), description, list(details or []))


def no_match(description: str, details: list[Explanation] | None = None) -> Explanation:
    return Explanation(False, 0.0, description, list(details or []))
