"""Choosing fp32 or bf16 inference: bf16 only where the CPU runs it natively and it stays faithful."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np

from ..errors import LabError

PRECISION_ENV = "LAB_EMBED_PRECISION"
PRECISIONS = ("auto", "fp32", "bf16")
MIN_BF16_COSINE = 0.999

CALIBRATION_TEXTS: tuple[str, ...] = (
    "Simpson Strong-Tie 12-Gauge Angle",
    "BEHR Premium Textured DeckOver 1-gal. #SC-141 Tugboat Wood and Concrete Coating",
    "Delta Vero 1-Handle Shower Only Faucet Trim Kit in Chrome (Valve Not Included)",
    "Whirlpool 1.9 cu. ft. Over the Range Convection Microwave in Stainless Steel with Sensor Cooking",
    "Hampton Bay 52 in. Ceiling Fan with Light Kit, Brushed Nickel",
    "2 in. x 4 in. x 8 ft. #2 Prime Kiln-Dried Southern Yellow Pine Lumber",
    "RIDGID 18-Volt Lithium-Ion Cordless Drill/Driver Kit",
    "Philips 60W Equivalent Soft White A19 LED Light Bulb (4-Pack)",
    "Rust-Oleum Stops Rust 12 oz. Flat Black Protective Enamel Spray Paint",
    "GE 30 in. 5.0 cu. ft. Gas Range with Self-Cleaning Oven in White",
    "1/2 in. x 10 ft. Copper Type M Pipe",
    "Pergo XP Hand Scraped Oak Laminate Flooring (13.10 sq. ft. / case)",
    "angle bracket",
    "deck over",
    "shower only faucet",
    "convection otr",
    "microwaves",
    "cordless drill",
    "led bulbs 60 watt",
    "toilet",
    "paint",
    "x",
    "2x4",
    "3/4\" plywood",
    "",
    "   ",
    "!!!",
    "12345 67890",
    "SKU#A1-B2-C3 (ref. 4411/XZ)",
    "l bracket for shelf that holds 50 lbs",
    "where can i find a replacement handle for my old moen kitchen faucet",
    "Werkzeugkasten mit Schraubendrehern und Zangen",
    "ensemble de robinetterie pour salle de bains",
    "Ñandú café résumé naïve façade",
    "电钻 工具箱",
    "Ice-maker kit — fits most refrigerators · 1/4\" tubing ✓",
    "the",
    "STAINLESS STEEL CABINET PULLS 5 PACK",
    "A durable, weather-resistant outdoor storage shed with double doors, a reinforced floor, "
    "skylights and ventilation, ideal for lawn mowers, bicycles, garden tools and seasonal items. " * 12,
    "Outdoor patio furniture set: 4 chairs, 1 table, cushions included, rust-resistant aluminium frame",
)


@dataclass(frozen=True)
class PrecisionReport:
    """The inference precision in use and the evidence for it."""

    precision: str
    reason: str
    min_cosine: float | None = None
    mean_cosine: float | None = None
    calibration_texts: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def requested_precision(option: str | None = None) -> str:
    """``option``, else $LAB_EMBED_PRECISION, else ``auto``; one of auto, fp32, bf16."""
    value = (option or os.environ.get(PRECISION_ENV) or "auto").strip().lower()
    if value not in PRECISIONS:
        source = "precision option" if option else PRECISION_ENV
        raise LabError(f"{source}: '{value}' is not one of {', '.join(PRECISIONS)}")
    return value


def cpu_has_native_bf16() -> bool:
    """True where the CPU computes bf16 in hardware (AVX512-BF16 or AMX); elsewhere bf16 is emulated."""
    import torch

    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity."""
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.einsum("ij,ij->i", a, b) / np.maximum(norms, np.finfo(np.float32).tiny)


def decide_precision(requested: str, encode: Callable[[list[str], bool], np.ndarray]) -> PrecisionReport:
    """fp32 or bf16 for ``requested``; ``encode(texts, bf16)`` encodes the calibration set.

    ``auto`` picks bf16 only on a CPU with native bf16 and when every calibration text keeps a
    cosine of at least 0.999 to its fp32 vector.
    """
    if requested == "fp32":
        return PrecisionReport("fp32", f"fp32 requested ({PRECISION_ENV} or option)")
    if requested == "auto" and not cpu_has_native_bf16():
        return PrecisionReport("fp32", "CPU has no native bf16 (AVX512-BF16/AMX)")
    texts = list(CALIBRATION_TEXTS)
    similarity = cosines(encode(texts, False), encode(texts, True))
    lowest, mean = float(similarity.min()), float(similarity.mean())
    measured = {"min_cosine": lowest, "mean_cosine": mean, "calibration_texts": len(texts)}
    if requested == "bf16":
        return PrecisionReport("bf16", f"bf16 requested ({PRECISION_ENV} or option)", **measured)
    if lowest >= MIN_BF16_COSINE:
        return PrecisionReport("bf16", f"bf16 min cosine {lowest:.5f} >= {MIN_BF16_COSINE} to fp32", **measured)
    return PrecisionReport("fp32", f"bf16 min cosine {lowest:.5f} < {MIN_BF16_COSINE} to fp32", **measured)
