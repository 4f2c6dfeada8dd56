"""Validating JSON request bodies: each error is a QueryError naming the clause path, e.g.
``query.bool.should[1].match.title: unknown parameter "fuzziness"``."""

from __future__ import annotations

import math
from typing import Any, NoReturn, Sequence

from ..errors import QueryError

_UNSUPPORTED = {"fuzziness", "prefix_length", "max_expansions", "fuzzy_transpositions", "fuzzy_rewrite",
                "cutoff_frequency", "slop", "rewrite", "case_insensitive", "time_zone", "format", "relation",
                "rescore", "expand_nested_docs", "max_distance", "min_score", "method_parameters"}


def fail(path: str, message: str) -> NoReturn:
    """Raise the QueryError ``<path>: <message>``."""
    raise QueryError(f"{path}: {message}")


def obj(value: Any, path: str) -> dict[str, Any]:
    """``value`` if it is a JSON object."""
    if not isinstance(value, dict):
        fail(path, f"must be an object, got {json_type(value)}")
    return value


def json_type(value: Any) -> str:
    """How a JSON value's type is named in error messages."""
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array",
             dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def check_params(params: dict[str, Any], allowed: Sequence[str], path: str) -> None:
    """Refuse any key of ``params`` not in ``allowed`` (saying so when the engine does not support it)."""
    for key in params:
        if key not in allowed:
            hint = " (the embedded engine does not support it)" if key in _UNSUPPORTED else ""
            fail(path, f"unknown parameter \"{key}\"{hint}")


def number(value: Any, path: str) -> float:
    """A JSON number, or a string holding one (OpenSearch coerces numeric strings)."""
    if isinstance(value, bool):
        fail(path, f"must be a number, got {value!r}")
    if isinstance(value, (int, float)):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            fail(path, f"must be a number, got {value!r}")
    else:
        fail(path, f"must be a number, got {json_type(value)}")
    if not math.isfinite(result):
        fail(path, f"must be a finite number, got {value!r}")
    return result


def integer(value: Any, path: str, minimum: int = 0) -> int:
    """A JSON integer (or a numeric string holding one) of at least ``minimum``."""
    result = number(value, path)
    if result != int(result):
        fail(path, f"must be an integer, got {value!r}")
    if result < minimum:
        fail(path, f"must be >= {minimum}, got {value!r}")
    return int(result)


def boolean(value: Any, path: str) -> bool:
    """A JSON boolean, or the string "true" or "false"."""
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    fail(path, f"must be true or false, got {value!r}")
