"""relevance-lab: a search relevance lab for OpenSearch/Elasticsearch users."""

import os as _os

# Before anything imports torch or transformers: models come only from local packages, and
# OpenMP threads wait passively (busy-waiting stalls 2-thread encoding on shared cores).
_os.environ.setdefault("HF_HUB_OFFLINE", "1")
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
