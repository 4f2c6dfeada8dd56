"""What loading a model found (fingerprint, dimension, precision), remembered so later processes skip loading it.

A memo entry is keyed by the model files' content, the requested precision and the CPU's bf16 ability, which
decide all three; writing it is optional (a read-only workspace just loads the model each time).
"""

from __future__ import annotations

import hashlib
import json
import platform
from pathlib import Path
from typing import Any

from ..workspace import write_json

CPU_FLAGS = ("avx512_bf16", "amx_tile", "amx_bf16")
"""The /proc/cpuinfo flags that decide whether bf16 runs natively (see precision.cpu_has_native_bf16)."""


def cpu_signature() -> str:
    """The machine's architecture and its bf16-related CPU flags, as a short digest."""
    try:
        info = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        info = platform.processor()
    flags = sorted({flag for line in info.splitlines() if line.startswith(("flags", "Features"))
                    for flag in line.split(":", 1)[-1].split() if flag in CPU_FLAGS})
    return hashlib.sha256(f"{platform.machine()}:{','.join(flags)}".encode()).hexdigest()[:16]


def read_memo(path: Path) -> dict[str, Any]:
    """The memo's entries; empty when it is missing or unreadable (it is only a cache)."""
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return entries if isinstance(entries, dict) else {}


def remember(path: Path, entry: str, value: dict[str, Any]) -> None:
    """Add an entry to the memo, atomically; silently skipped where the workspace cannot be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, {**read_memo(path), entry: value})
    except OSError:
        pass
