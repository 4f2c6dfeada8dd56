"""A search-pipeline body as a cluster of a given version reads it (neural-search moved and typed parameters)."""

from __future__ import annotations

import copy
from typing import Any

from .opensearch_client import Version
from .opensearch_features import FUSION_PROCESSORS

RRF_TOP_LEVEL_RANK_CONSTANT = Version(3, 1)
"""neural-search reads ``combination.rank_constant`` from 3.1 (PR #1322), ``combination.parameters.rank_constant``
before."""


def cluster_pipeline(pipeline: dict[str, Any], version: Version) -> dict[str, Any]:
    """``pipeline`` as sent to a cluster of ``version`` (a copy; unchanged where nothing applies).

    Fusion ``weights`` become floats (neural-search casts them to a list of Double, so ``1`` fails);
    before 3.1 the score-ranker's ``rank_constant`` moves into ``combination.parameters``, the only
    place 2.19 and 3.0 read it (elsewhere it is ignored silently).
    """
    out = copy.deepcopy(pipeline)
    for processor in out.get("phase_results_processors", []):
        for name in FUSION_PROCESSORS:
            combination = (processor.get(name) or {}).get("combination")
            if not isinstance(combination, dict):
                continue
            parameters = combination.get("parameters")
            if isinstance(parameters, dict) and isinstance(parameters.get("weights"), list):
                parameters["weights"] = [float(w) if isinstance(w, int) and not isinstance(w, bool) else w
                                         for w in parameters["weights"]]
            reads_parameters = name == "score-ranker-processor" and version < RRF_TOP_LEVEL_RANK_CONSTANT
            if reads_parameters and "rank_constant" in combination:
                combination["parameters"] = {**(parameters or {}), "rank_constant": combination.pop("rank_constant")}
    return out
