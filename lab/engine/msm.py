"""``minimum_should_match`` as OpenSearch computes it (``Queries.calculateMinShouldMatch``).

Accepted specs: an integer (``3``), a negative integer (``-2``: all but two), a percentage
(``75%``, ``-25%``, truncated towards zero in float32 as Java does), and conditional
combinations (``"3<90%"``, ``"2<-25% 9<-3"``: below or at each bound, the previous result holds).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from ..errors import QueryError

_SPACE_AROUND_LT = re.compile(r"(\s+<\s*)|(\s*<\s+)")
_JAVA_INT = re.compile(r"[+-]?\d+")


def spec_string(value: Any, path: str) -> str:
    """The spec as the string OpenSearch parses (integers are accepted as JSON numbers)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise QueryError(f"{path}: must be an integer or a string such as \"75%\" or \"3<90%\", got {value!r}")
    return str(value)


def min_should_match(optional_clauses: int, spec: str, path: str) -> int:
    """How many of ``optional_clauses`` SHOULD clauses must match under ``spec`` (may exceed them)."""
    result = optional_clauses
    spec = spec.strip()
    if "<" in spec:
        spec = _SPACE_AROUND_LT.sub("<", spec)
        for part in spec.split(" "):
            pieces = [p for p in part.split("<")]
            while pieces and pieces[-1] == "":
                pieces.pop()
            if len(pieces) != 2:
                raise QueryError(f"{path}: invalid minimum_should_match {spec!r}")
            if optional_clauses <= _parse_int(pieces[0], spec, path):
                return result
            result = min_should_match(optional_clauses, pieces[1], path)
        return result
    if "%" in spec:
        percent = _parse_int(spec[:-1], spec, path)
        calc = np.float32(result * percent) * (np.float32(1) / np.float32(100))
        result = result + int(calc) if calc < 0 else int(calc)
    else:
        calc_int = _parse_int(spec, spec, path)
        result = result + calc_int if calc_int < 0 else calc_int
    return max(result, 0)


def _parse_int(text: str, spec: str, path: str) -> int:
    if not _JAVA_INT.fullmatch(text):
        raise QueryError(f"{path}: invalid minimum_should_match {spec!r}")
    return int(text)
