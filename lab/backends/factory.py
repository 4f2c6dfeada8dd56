"""One function that opens any backend by name, with the cluster settings the CLI and notebooks share."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import LabError
from .base import Backend

BACKENDS = ("embedded", "opensearch", "elasticsearch")
DEFAULT_URL = "http://localhost:9200"


def open_backend(kind: str, workspace: Path, *, url: str | None = None, user: str | None = None,
                 password: str | None = None, ca_certs: str | None = None, verify_certs: bool = True,
                 timeout: float = 30.0, shards: int = 1, batch_size: int = 100, concurrency: int = 1,
                 server_fusion: bool = False) -> Backend:
    """The ``kind`` backend: the embedded engine over ``workspace``, or a cluster at ``url`` (default
    ``$OPENSEARCH_URL`` / ``$ELASTICSEARCH_URL`` as the kind, else localhost:9200), with ``user`` and
    ``password`` defaulting to ``$<KIND>_USER`` / ``$<KIND>_PASSWORD``. ``server_fusion``: Elasticsearch fuses
    hybrid strategies with its ``rrf`` / ``linear`` retrievers instead of the lab fusing their sub-queries."""
    if kind not in BACKENDS:
        raise LabError(f"unknown backend '{kind}' (known: {', '.join(BACKENDS)})")
    if server_fusion and kind != "elasticsearch":
        raise LabError(f"--server-fusion: only the elasticsearch backend fuses on the server (retrievers); "
                       f"{kind} runs hybrid strategies as {'its search pipelines' if kind == 'opensearch' else 'the engine does'}")
    if kind == "embedded":
        from .embedded import EmbeddedBackend

        return EmbeddedBackend(workspace)
    prefix = kind.upper()
    settings = {"user": user or os.environ.get(f"{prefix}_USER"),
                "password": password or os.environ.get(f"{prefix}_PASSWORD"),
                "ca_certs": ca_certs, "verify_certs": verify_certs, "timeout": timeout, "shards": shards,
                "batch_size": batch_size, "concurrency": concurrency}
    url = url or os.environ.get(f"{prefix}_URL") or DEFAULT_URL
    if kind == "elasticsearch":
        from .elasticsearch import ElasticsearchBackend

        return ElasticsearchBackend.connect(url, **settings, server_fusion=server_fusion)
    from .opensearch import OpenSearchBackend

    return OpenSearchBackend.connect(url, **settings)
