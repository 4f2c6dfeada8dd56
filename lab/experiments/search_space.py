"""Tuning search spaces from ``--param`` specs: value lists, inclusive ranges, and weight simplices.

Spec forms (``NAME=SPEC``):

* ``title_boost=1,2,4,8``: the listed values (each a JSON value);
* ``knn_boost=10:100:10``: ``start:stop:step``, inclusive of ``stop`` (10, 20, ..., 100);
* ``weights=0.1:0.9:0.1``: for an array param (normalization-processor weights, which must sum to 1),
  every weight vector whose components lie on that grid and sum to 1: with two sub-queries
  [0.1, 0.9], [0.2, 0.8], ..., [0.9, 0.1]; with three, every [a, b, c] on the grid with a + b + c = 1;
* ``weights=[[0.3,0.7],[0.5,0.5]]``: explicit candidates, as a JSON array.
"""

from __future__ import annotations

import itertools
import json
import math
import random
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from ..errors import LabError
from ..templates import NAME, Template

WEIGHT_SUM_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Dimension:
    """One tuned param and its candidate values, as written on the command line."""

    name: str
    spec: str
    values: tuple[Any, ...]


def parse_dimension(item: str, template: Template) -> Dimension:
    """A ``NAME=SPEC`` item for a param ``template`` declares; LabError naming the item when it is
    malformed, names an unknown param, or yields no values."""
    name, sep, spec = item.partition("=")
    name, spec = name.strip(), spec.strip()
    if not sep or not NAME.fullmatch(name) or not spec:
        raise LabError(f"--param {item!r}: expected NAME=SPEC, e.g. title_boost=1,2,4,8 or knn_boost=10:100:10")
    if name not in template.params:
        raise LabError(f"--param {item!r}: strategy '{template.name}' has no param '{name}' "
                       f"(params: {', '.join(template.params) or 'none'})")
    default = template.params[name]
    if isinstance(default, list):
        values = _array_values(item, spec, default)
    else:
        values = _scalar_values(item, spec, default)
    if not values:
        raise LabError(f"--param {item!r}: the range is empty")
    return Dimension(name, spec, tuple(values))


def _scalar_values(item: str, spec: str, default: Any) -> list[Any]:
    if spec.startswith("["):
        values = _json(item, spec)
        if not isinstance(values, list):
            raise LabError(f"--param {item!r}: expected a JSON array of values")
    elif ":" in spec:
        values = _range(item, spec)
    else:
        values = [_json_or_text(part.strip()) for part in spec.split(",") if part.strip()]
    for value in values:
        _check_kind(item, value, default)
    return list(dict.fromkeys(values))


def _array_values(item: str, spec: str, default: list[Any]) -> list[list[Any]]:
    if spec.startswith("["):
        candidates = _json(item, spec)
        if not isinstance(candidates, list) or not all(isinstance(c, list) for c in candidates):
            raise LabError(f"--param {item!r}: expected a JSON array of arrays, e.g. [[0.3,0.7],[0.5,0.5]]")
    elif ":" in spec:
        candidates = simplex(_range(item, spec), len(default))
        if not candidates:
            raise LabError(f"--param {item!r}: no {len(default)} values on the grid {spec} sum to 1")
    else:
        raise LabError(f"--param {item!r}: '{item.partition('=')[0]}' is an array param; give a grid "
                       "start:stop:step (weights summing to 1) or a JSON array of candidate arrays")
    weights = _is_weights(default)
    for candidate in candidates:
        if len(candidate) != len(default) or not all(_is_number(v) for v in candidate):
            raise LabError(f"--param {item!r}: {json.dumps(candidate)} must be {len(default)} numbers "
                           f"like the default {json.dumps(default)}")
        if weights and (abs(sum(candidate) - 1) > WEIGHT_SUM_TOLERANCE or min(candidate) < 0):
            raise LabError(f"--param {item!r}: weights {json.dumps(candidate)} must be >= 0 and sum to 1 "
                           "(normalization-processor rejects other weights)")
    unique: dict[str, list[Any]] = {json.dumps(c): c for c in candidates}
    return list(unique.values())


def simplex(grid: list[float], n: int) -> list[list[float]]:
    """Every n-vector with components from ``grid`` summing to 1 (to the grid's decimals)."""
    decimals = max(_decimals(v) for v in grid)
    scale = 10 ** decimals
    steps = sorted({round(v * scale) for v in grid})
    target = scale
    out = []
    for head in itertools.product(steps, repeat=n - 1):
        last = target - sum(head)
        if last in steps:
            out.append([round(v / scale, decimals) for v in (*head, last)])
    return out


def _range(item: str, spec: str) -> list[float | int]:
    parts = spec.split(":")
    if len(parts) != 3:
        raise LabError(f"--param {item!r}: a range is start:stop:step, e.g. 10:100:10")
    try:
        start, stop, step = (Decimal(p.strip()) for p in parts)
    except InvalidOperation:
        raise LabError(f"--param {item!r}: start, stop and step must be numbers") from None
    if step <= 0:
        raise LabError(f"--param {item!r}: the step must be positive, got {parts[2].strip()}")
    if start > stop:
        raise LabError(f"--param {item!r}: the range is empty (start {start} > stop {stop})")
    count = int((stop - start) / step) + 1
    values = [start + i * step for i in range(count)]
    integral = all(v == v.to_integral_value() for v in (start, step))
    return [int(v) if integral else float(v) for v in values]


def _decimals(value: float) -> int:
    exponent = Decimal(repr(value)).normalize().as_tuple().exponent
    return max(0, -int(exponent))


def _json(item: str, spec: str) -> Any:
    try:
        return json.loads(spec)
    except json.JSONDecodeError as exc:
        raise LabError(f"--param {item!r}: invalid JSON ({exc.msg} at column {exc.colno})") from None


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _check_kind(item: str, value: Any, default: Any) -> None:
    if _is_number(default) != _is_number(value) or isinstance(default, str) != isinstance(value, str):
        raise LabError(f"--param {item!r}: {json.dumps(value)} is not of the kind of the default {json.dumps(default)}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_weights(default: list[Any]) -> bool:
    """An array default of numbers that sums to 1 is a weight vector (normalization-processor)."""
    return bool(default) and all(_is_number(v) for v in default) and abs(sum(default) - 1) <= WEIGHT_SUM_TOLERANCE


def grid(dimensions: list[Dimension]) -> list[dict[str, Any]]:
    """Every combination of the dimensions' values, in a stable order."""
    names = [d.name for d in dimensions]
    return [dict(zip(names, combo)) for combo in itertools.product(*(d.values for d in dimensions))]


def grid_size(dimensions: list[Dimension]) -> int:
    return math.prod(len(d.values) for d in dimensions)


def random_points(dimensions: list[Dimension], n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` distinct combinations drawn uniformly from the grid (all of them if it is smaller)."""
    total = grid_size(dimensions)
    picks = range(total) if n >= total else random.Random(seed).sample(range(total), n)
    points = []
    for flat in picks:
        point = {}
        for dim in reversed(dimensions):
            flat, i = divmod(flat, len(dim.values))
            point[dim.name] = dim.values[i]
        points.append({d.name: point[d.name] for d in dimensions})
    return points
