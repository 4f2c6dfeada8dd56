"""The embedded search engine: OpenSearch's index/search/explain API, in process, scoring as Lucene does.

Known divergences
-----------------
(filled in below as the engine is verified)
"""

from __future__ import annotations

from .index import EmbeddedIndex

__all__ = ["EmbeddedIndex"]
