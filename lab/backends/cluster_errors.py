"""One-line errors for the cluster backends (OpenSearch, Elasticsearch): each client's exception is classified
as a :data:`Failure`, and the line is written here, the same for both."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ..errors import LabError, QueryError

Failure = Literal["timeout", "tls", "unreachable", "unauthenticated", "forbidden", "missing_index", "answered"]


@dataclass(frozen=True)
class Product:
    """How error lines name a cluster product and what they tell the user to do."""

    name: str
    """``OpenSearch`` or ``Elasticsearch``."""
    backend: str
    """The ``--backend`` value (also the name of its ``scripts/<backend>-local``)."""
    credentials: str
    """Where credentials are set, for the 401 line."""


def connection_reason(text: str, fallback: str) -> str:
    """The operating system's reason in a client's connection error (``Connection refused``), else ``fallback``."""
    match = re.search(r"\[Errno -?\d+\] ([^\n)]+)", text)
    return match[1].strip().rstrip(".") if match else fallback


def overloaded(product: Product, action: str, url: str, reason: str) -> LabError:
    """The line for a request still rejected with 429 once its retries are spent."""
    return LabError(f"{action}: {product.name} at {url} is overloaded (429) even after retries: {reason}; "
                    "lower --concurrency or --batch-size")


def request_error(product: Product, failure: Failure, action: str, url: str, *, reason: str = "",
                  status: int = 0, timeout: float | None = None, index: str | None = None) -> LabError:
    """One clear line for a failed request, once the client's exception is classified as ``failure``: what was
    being done, what the cluster said (``reason``, ``status``), what to do."""
    at = f"{product.name} at {url}"
    if failure == "timeout":
        limit = f" within {timeout:g} s" if timeout else ""
        return LabError(f"{action}: {at} did not answer{limit} (raise --timeout, or lower --batch-size)")
    if failure == "tls":
        return LabError(f"{action}: TLS with {url} failed ({reason}): pass --ca-certs FILE, or --no-verify-certs "
                        "for a test cluster")
    if failure == "unreachable":
        return LabError(f"cannot reach {at} ({reason}): is it running? `scripts/{product.backend}-local start` "
                        "starts one")
    if failure == "unauthenticated":
        return LabError(f"{action}: {at} rejected the credentials (401): set {product.credentials}")
    if failure == "forbidden":
        return LabError(f"{action}: permission denied by {url} (403): {reason}")
    if failure == "missing_index":
        name = f"'{index}' " if index else ""
        return LabError(f"{action}: index {name}does not exist on {url}: run `lab --backend {product.backend} "
                        "index` first")
    if status == 429:
        return overloaded(product, action, url, reason)
    kind = QueryError if status == 400 else LabError
    return kind(f"{action}: {product.name} answered {status}: {reason}")
