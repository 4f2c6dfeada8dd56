"""float32 scores as a cluster's JSON shows them: the shortest decimal that reads back as the same float32
(Java's ``Float.toString``), read as a double — for whole arrays at once."""

from __future__ import annotations

import numpy as np

MAX_DIGITS = 10
"""Nine significant digits always suffice for a float32; one more absorbs an exponent estimate off by one."""
SAFE_MAGNITUDE = 12
"""Values within 10**±12 need scales 10**e with |e| <= 22, exact doubles, so m / 10**e and m * 10**e are
correctly rounded; others are printed by Python."""


def printed(values: np.ndarray) -> np.ndarray:
    """``float(str(np.float32(v)))`` for every value of a 1-D array, as float64, without formatting strings.

    With d significant digits, the decimal m·10^-e nearest to v (m = rint(v·10^e)) is read back as a
    double by one correctly rounded division or product. Reading back as v (as a float32) holds from
    some d on, so a binary search over d finds the shortest such decimal, which (nearest among the
    shortest) is what ``str`` prints.
    """
    values = np.asarray(values, dtype=np.float32)
    with np.errstate(invalid="ignore"):  # a signalling NaN stays NaN
        wide = values.astype(np.float64)
    out = wide.copy()
    finite = np.isfinite(values) & (values != 0)
    magnitude = np.floor(np.log10(np.abs(wide, where=finite, out=np.ones_like(wide))))
    exact = finite & (np.abs(magnitude) <= SAFE_MAGNITUDE)
    low = np.ones(len(values))
    high = np.full(len(values), float(MAX_DIGITS))
    wide, magnitude, low, high = wide[exact], magnitude[exact], low[exact], high[exact]
    while True:
        open_ = low < high
        if not open_.any():
            break
        middle = np.floor((low + high) / 2)
        same = _decimal(wide, magnitude, middle).astype(np.float32) == wide.astype(np.float32)
        high = np.where(open_ & same, middle, high)
        low = np.where(open_ & ~same, middle + 1, low)
    out[exact] = _decimal(wide, magnitude, high)
    for i in np.flatnonzero(finite & ~exact):  # beyond exact powers of ten: let Python print it
        out[i] = float(str(values[i]))
    return out


def _decimal(wide: np.ndarray, magnitude: np.ndarray, digits: np.ndarray) -> np.ndarray:
    """The double nearest to ``wide`` rounded to ``digits`` significant digits."""
    exponent = digits - 1 - magnitude
    scale = 10.0 ** np.abs(exponent)
    up = exponent >= 0
    mantissa = np.rint(np.where(up, wide * scale, wide / scale))
    return np.where(up, mantissa / scale, mantissa * scale)
