"""Where LTR artefacts live in the workspace (``ltr/<dataset>/logs/<name>/``, ``ltr/<dataset>/models/<name>/``)
and reading a stored feature log."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..context import Lab
from ..errors import LabError
from ..workspace import read_json, workspace_path

LOG_TABLE = "features.parquet"
LOG_MANIFEST = "log.json"
KEY_COLUMNS = ["split", "query_id", "rank", "product_id", "first_stage_score", "label", "judged"]
"""A log's columns before one column per feature."""


@dataclass
class FeatureLog:
    """A stored feature log: its manifest and its table (``KEY_COLUMNS`` then one column per feature)."""

    name: str
    path: Path
    manifest: dict[str, Any]
    table: pd.DataFrame


def ltr_dir(lab: Lab, *names: str, option: str = "name") -> Path:
    """``ltr/<dataset>/<names...>`` in the workspace, each name checked (``option``: where it came from)."""
    return workspace_path(lab.workspace, "ltr", lab.current_dataset_name, *names, option=option)


def load_log(lab: Lab, name: str) -> FeatureLog:
    """The stored feature log ``name``; a LabError naming what to run when it is missing."""
    path = ltr_dir(lab, "logs", name, option="--log")
    if not (path / LOG_MANIFEST).is_file():
        raise LabError(f"no feature log '{name}' for dataset '{lab.current_dataset_name}' at {path}: "
                       "run `lab ltr log` first")
    return FeatureLog(name, path, read_json(path / LOG_MANIFEST), pd.read_parquet(path / LOG_TABLE))
