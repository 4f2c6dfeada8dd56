"""The workspace directory (default ./lab-workspace, or $LAB_HOME), the names that become paths in it,
and atomic file writes."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .errors import LabError

DEFAULT_HOME = "lab-workspace"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
"""A dataset, index, run, model or adapter name: one safe path component (never '.', '..' or hidden)."""


def workspace_root(path: str | os.PathLike[str] | None = None) -> Path:
    """Resolve the workspace: an explicit path, else $LAB_HOME, else ./lab-workspace."""
    root = Path(path or os.environ.get("LAB_HOME") or DEFAULT_HOME)
    return root.expanduser().resolve()


def check_name(name: str, option: str) -> str:
    """``name`` if it is safe as a file name in the workspace, else a LabError naming it and ``option``."""
    if not NAME_PATTERN.fullmatch(name):
        raise LabError(f"{option} {name!r}: a name is 1 to 128 letters, digits, '.', '_' or '-', "
                       f"starting with a letter or digit")
    return name


def workspace_path(workspace: Path, *names: str, option: str) -> Path:
    """``workspace/names...``, each name checked with :func:`check_name`; LabError when the path, its
    symlinks resolved, leads out of the workspace."""
    path = Path(workspace).joinpath(*(check_name(name, option) for name in names))
    if not path.resolve().is_relative_to(Path(workspace).resolve()):
        raise LabError(f"{option} {names[-1]!r}: {path} leads out of the workspace (a symlink to {path.resolve()})")
    return path


def refuse_overwrite(target: Path, what: str, overwrite: bool) -> None:
    """LabError when ``target`` (``what``: e.g. "model 'x'") exists and replacing it was not asked for."""
    if target.exists() and not overwrite:
        raise LabError(f"{what} already exists at {target}: pass --overwrite to replace it, or --name NEW for another")


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it over ``target`` only on success.

    Works for files and directories: whatever the block writes at the yielded path replaces
    ``target`` in one rename, so a reader never sees a half-written result.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    staged = tmp / target.name
    try:
        yield staged
        if target.is_dir() and not target.is_symlink():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
            staged.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staged, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_json(target: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file written by :func:`write_json`."""
    return json.loads(Path(path).read_text(encoding="utf-8"))
