"""Rerankers on disk: ``<workspace>/rerankers/<name>/`` holds a sentence-transformers CrossEncoder and its card
``reranker.json`` (with the fingerprint of the model files), registered in one atomic rename."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from ..errors import LabError
from ..workspace import read_json, workspace_path

RERANKERS = "rerankers"
CARD_JSON = "reranker.json"
CARD_MD = "README.md"
TRAINING_LOG = "training.log"
FINGERPRINT_SCHEME = "relevance-lab/reranker/v1"
UNHASHED = (CARD_JSON, CARD_MD, TRAINING_LOG)
"""Files that do not shape the scores: the card (which holds the fingerprint), its text, the log."""


def reranker_dir(workspace: Path, name: str) -> Path:
    """``<workspace>/rerankers/<name>``."""
    return workspace_path(Path(workspace), RERANKERS, name, option="reranker name")


def files_fingerprint(path: Path) -> str:
    """sha256 over the relative paths and bytes of every file that shapes the scores (weights, configs,
    tokenizer); the same model gives the same fingerprint anywhere."""
    digest = hashlib.sha256(FINGERPRINT_SCHEME.encode())
    files = sorted(f for f in path.rglob("*") if f.is_file() and f.name not in UNHASHED
                   and not any(part.startswith(".") for part in f.relative_to(path).parts))
    for file in files:
        digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        digest.update(file.stat().st_size.to_bytes(8, "little"))
        with file.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


def load_reranker_card(workspace: Path, name: str, where: str = "") -> tuple[Path, dict[str, Any]]:
    """The directory and card of reranker ``name``; a LabError naming it (and ``where`` it was asked for)
    when it is missing, half-written or changed since training."""
    path = reranker_dir(workspace, name)
    prefix = f"{where}: " if where else ""
    if not path.is_dir():
        known = sorted(p.name for p in path.parent.iterdir() if p.is_dir() and not p.name.startswith(".")) \
            if path.parent.is_dir() else []
        from ..errors import did_you_mean

        raise LabError(f"{prefix}no cross-encoder '{name}' in {path.parent}{did_you_mean(name, known)}: train it "
                       f"with `lab finetune --objective cross-encoder --name {name}`")
    if not (path / CARD_JSON).is_file():
        raise LabError(f"{prefix}cross-encoder '{name}' at {path} is half-written (no {CARD_JSON}): train it again "
                       "with --overwrite")
    card = read_json(path / CARD_JSON)
    if files_fingerprint(path) != card.get("fingerprint"):
        raise LabError(f"{prefix}cross-encoder '{name}' at {path} is half-written or changed since training (its "
                       f"files do not match the fingerprint in {CARD_JSON}): train it again with --overwrite")
    return path, card
