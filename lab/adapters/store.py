"""Adapters on disk: ``<workspace>/adapters/<name>/`` with ``weights.safetensors`` and the ``adapter.json`` card,
written in one atomic rename."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from ..errors import LabError
from ..workspace import atomic_path, read_json, workspace_path, write_json
from .heads import make_head

CARD = "adapter.json"
WEIGHTS = "weights.safetensors"


def adapter_dir(workspace: Path, name: str) -> Path:
    return workspace_path(Path(workspace), "adapters", name, option="adapter name")


def save_adapter(target: Path, head: torch.nn.Module, card: dict[str, Any]) -> None:
    """Write the head's weights and ``card`` (with the weights' sha256 added) to ``target`` atomically."""
    from safetensors.torch import save_file

    with atomic_path(target) as staged:
        staged.mkdir()
        save_file({k: v.detach().contiguous() for k, v in head.state_dict().items()}, str(staged / WEIGHTS))
        card["weights"] = {"file": WEIGHTS, "sha256": hashlib.sha256((staged / WEIGHTS).read_bytes()).hexdigest()}
        write_json(staged / CARD, card)


def load_card(path: Path) -> dict[str, Any]:
    """The card of the adapter in ``path`` (LabError when there is none)."""
    if not (path / CARD).is_file():
        raise LabError(f"adapter '{path.name}' not found at {path}: run `lab finetune --adapter linear "
                       f"--name {path.name}` first")
    return read_json(path / CARD)


def load_head(path: Path, card: dict[str, Any]) -> tuple[torch.nn.Module, str]:
    """The trained head in ``path`` and the sha256 of its weights file."""
    from safetensors.torch import load_file

    data = (path / WEIGHTS).read_bytes() if (path / WEIGHTS).is_file() else None
    if data is None:
        raise LabError(f"adapter '{path.name}' at {path} has no {WEIGHTS}: train it again with --overwrite")
    head = make_head(card["kind"], card["base_model"]["dimension"], card["config"]["hidden"])
    try:
        head.load_state_dict(load_file(str(path / WEIGHTS)))
    except (RuntimeError, OSError) as exc:
        raise LabError(f"{path / WEIGHTS}: cannot load the {card['kind']} head: {str(exc).splitlines()[0]}") from exc
    return head.eval(), hashlib.sha256(data).hexdigest()


def adapter_fingerprint(base_fingerprint: str, kind: str, weights_sha256: str, normalise: bool) -> str:
    """What identifies the adapted query vectors: the base model, the head and its weights."""
    identity = {"base": base_fingerprint, "kind": kind, "weights": weights_sha256, "normalise": normalise}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
