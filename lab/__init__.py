"""relevance-lab: a search relevance lab for OpenSearch and Elasticsearch users.

The public API, in the order of the lab's one-way flow (dataset → index → runner → evaluation → report)::

    import lab
    my_lab = lab.open_lab("lab-workspace")                 # embedded engine; backend="opensearch", url=...
    my_lab.save_dataset(lab.generate_demo(n_products=500, n_queries=100))
    lab.build_index(my_lab)
    templates = lab.load_templates(my_lab.queries_dir)
    runs = [lab.run_strategy(my_lab, templates[n]) for n in ("textsearch", "vectorsearch")]
    print(lab.compare_runs(runs).table)

Names are imported on first use, so ``import lab`` (and ``lab --help``) stays fast.
"""

import os as _os
from importlib import import_module as _import_module
from typing import Any as _Any

# Before anything imports torch or transformers: models come only from local packages, and
# OpenMP threads wait passively (busy-waiting stalls 2-thread encoding on shared cores).
_os.environ.setdefault("HF_HUB_OFFLINE", "1")
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

_API = {
    # a lab: workspace + backend
    "Lab": "context", "open_lab": "context", "open_backend": "backends.factory", "LabError": "errors",
    # datasets
    "Dataset": "data", "generate_demo": "data", "import_homedepot": "data", "import_beir": "data",
    # strategies and the index
    "Template": "templates", "load_templates": "templates", "build_index": "indexer",
    # runs
    "run_strategy": "runner", "run_strategies": "runner", "execute_strategy": "runner",
    "list_runs": "results", "latest_runs": "results", "load_run": "results",
    # evaluation and comparison
    "evaluate_ranking": "evaluation", "compare_runs": "experiments.compare",
}

__all__ = sorted(_API)


def __getattr__(name: str) -> _Any:
    if name not in _API:
        raise AttributeError(f"module 'lab' has no attribute {name!r}")
    value = getattr(_import_module(f".{_API[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
