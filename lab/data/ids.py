"""Query normalisation and the lab's query ids (first 16 hex digits of sha1 of the normalised text)."""

from __future__ import annotations

import hashlib
import re
import unicodedata

_WHITESPACE = re.compile(r"\s+")


def normalise_query(text: str) -> str:
    """NFKC, lowercase, whitespace runs collapsed to one space, stripped."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


def query_id_for(text: str) -> str:
    """The stable id of a query text: equal after :func:`normalise_query` ⇔ same id."""
    return hashlib.sha1(normalise_query(text).encode("utf-8")).hexdigest()[:16]
