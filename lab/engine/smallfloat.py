"""Lucene's SmallFloat norm encoding: a field length squeezed into one byte (``intToByte4``).

Lengths up to 40 survive exactly; longer ones keep 4 significant bits. BM25 decodes the byte back
through ``LENGTH_TABLE`` (``byte4ToInt``), so a 57-token field scores as if it had 56 tokens.
"""

from __future__ import annotations

import numpy as np

_MAX_INT4 = 231
"""``longToInt4(Integer.MAX_VALUE)``: the largest 4-bit-mantissa code of a 31-bit integer."""
NUM_FREE_VALUES = 255 - _MAX_INT4
"""Byte values below this (24) encode the length itself."""


def _long_to_int4(value: int) -> int:
    bits = value.bit_length()
    if bits < 4:
        return value
    shift = bits - 4
    return ((value >> shift) & 0x07) | ((shift + 1) << 3)


def _int4_to_long(code: int) -> int:
    bits = code & 0x07
    shift = (code >> 3) - 1
    return bits if shift == -1 else (bits | 0x08) << shift


def int_to_byte4(length: int) -> int:
    """The norm byte (0..255, unsigned) Lucene stores for a field of ``length`` tokens."""
    if length < 0:
        raise ValueError(f"a field length cannot be negative, got {length}")
    if length < NUM_FREE_VALUES:
        return length
    return NUM_FREE_VALUES + _long_to_int4(length - NUM_FREE_VALUES)


def byte4_to_int(code: int) -> int:
    """The length a norm byte decodes to."""
    if code < NUM_FREE_VALUES:
        return code
    return NUM_FREE_VALUES + _int4_to_long(code - NUM_FREE_VALUES)


LENGTH_TABLE = np.array([byte4_to_int(code) for code in range(256)], dtype=np.float32)
"""BM25Similarity.LENGTH_TABLE: decoded length of every norm byte, as float."""

_EXACT_LIMIT = 1 << 16
_SMALL_CODES = np.array([int_to_byte4(n) for n in range(_EXACT_LIMIT)], dtype=np.uint8)


def encode_lengths(lengths: np.ndarray) -> np.ndarray:
    """Vectorised :func:`int_to_byte4` over an array of field lengths."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.size and lengths.max() >= _EXACT_LIMIT:
        return np.array([int_to_byte4(int(n)) for n in lengths], dtype=np.uint8)
    return _SMALL_CODES[lengths]
