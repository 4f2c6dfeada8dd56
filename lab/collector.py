"""Python's cyclic garbage collector, paused around allocation-heavy work."""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def paused() -> Iterator[None]:
    """The cyclic collector off (reference counting still frees memory), as it was after: a run allocates
    millions of short-lived acyclic objects (query nodes, hits), and every full collection would walk all
    the lab holds (dataset, index ids)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
