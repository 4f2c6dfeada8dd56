"""The workspace directory (default ./lab-workspace, or $LAB_HOME), the names that become paths in it,
and crash-safe atomic writes."""

from __future__ import annotations

import ctypes
import errno
import hashlib
import fcntl
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any, Iterator

from .errors import LabError

DEFAULT_HOME = "lab-workspace"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
"""A dataset, index, run, model or adapter name: one safe path component (never '.', '..' or hidden)."""
OLD_SUFFIX = ".old"
TMP_NAME = re.compile(r"\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp")
"""A temporary folder of :func:`atomic_path` (``tempfile.mkdtemp`` adds 8 random characters)."""
OLD_NAME = re.compile(r"\.(?P<name>.+)\.old")
"""A directory the two-rename replacement of earlier versions moved aside."""
SWEEP_GRACE_SECONDS = 60.0
"""A temporary folder younger than this is left alone: its writer may not hold its lock yet."""
SWEEP_DEPTH = 2
"""How far below the workspace folder :func:`sweep_workspace` looks (runs/<dataset>/, embeddings/<namespace>/)."""
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_KILL_AT = os.environ.get("LAB_TEST_KILL_AT")


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


def workspace_file(workspace: Path, path: Path) -> Path:
    """``path`` when it lies inside ``workspace`` with neither it nor a folder between them a symlink;
    else a LabError naming it (a symlink planted in the workspace must not expose a file outside it)."""
    workspace = Path(workspace)
    try:
        parts = Path(path).relative_to(workspace).parts
    except ValueError:
        parts = ("..",)
    if ".." in parts:
        raise LabError(f"{path}: outside the workspace {workspace}")
    for depth in range(1, len(parts) + 1):
        step = workspace.joinpath(*parts[:depth])
        if step.is_symlink():
            raise LabError(f"{step}: a symlink (to {os.readlink(step)}); the lab reads files in the workspace, "
                           "not through symlinks")
    return Path(path)


def refuse_overwrite(target: Path, what: str, overwrite: bool) -> None:
    """LabError when ``target`` (``what``: e.g. "model 'x'") exists and replacing it was not asked for."""
    if target.exists() and not overwrite:
        raise LabError(f"{what} already exists at {target}: pass --overwrite to replace it, or --name NEW for another")


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; move it to ``target`` only on success.

    Works for files and directories: a reader sees the previous or the complete new ``target``, and so
    does the next command after a crash at any point. The path lies in a folder ``.<name>.<random>.tmp``,
    locked while in use; an existing directory is swapped out in one atomic exchange (Linux) or moved
    into that folder first. :func:`recover_and_sweep` puts back what a crash left there and removes it.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    lock = _lock(tmp, blocking=True)
    staged = tmp / target.name
    try:
        yield staged
        _kill_point("staged")
        _replace(staged, target)
        _kill_point("replaced")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        os.close(lock)


def _kill_point(step: str) -> None:
    """Test hook: with ``LAB_TEST_KILL_AT=<step>`` in the environment (read at import), SIGKILL this
    process when :func:`atomic_path` reaches ``step``: ``staged`` (the new version written), ``aside``
    (the old directory moved into the temporary folder, where there is no atomic exchange) or
    ``replaced`` (the new version in place, before the clean-up)."""
    if _KILL_AT == step:
        os.kill(os.getpid(), signal.SIGKILL)


def _replace(staged: Path, target: Path) -> None:
    """Move ``staged`` to ``target``; an existing directory there ends up in ``staged``'s folder."""
    if not target.is_dir() or target.is_symlink():
        os.replace(staged, target)
    elif not _exchange(staged, target):
        aside = staged.with_name(staged.name + OLD_SUFFIX)
        target.rename(aside)
        _kill_point("aside")
        staged.rename(target)


def _exchange(a: Path, b: Path) -> bool:
    """Swap ``a`` and ``b`` in one step (Linux ``renameat2`` with ``RENAME_EXCHANGE``); False where the
    system or file system cannot."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS):
        return False
    raise OSError(code, os.strerror(code), str(a), None, str(b))


@cache
def _renameat2() -> Any:
    """libc's ``renameat2`` (glibc 2.28+), or None off Linux or without it."""
    if not sys.platform.startswith("linux"):
        return None
    return getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)


def _lock(directory: Path, blocking: bool) -> int | None:
    """An open descriptor of ``directory`` holding its exclusive lock (the kernel drops it when the process
    dies); None when ``directory`` is gone or, not ``blocking``, another process holds the lock."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def recover_and_sweep(directory: Path, grace: float = SWEEP_GRACE_SECONDS) -> None:
    """Undo what interrupted :func:`atomic_path` calls left in ``directory``: a directory moved aside goes
    back to its place when nothing replaced it, and unlocked temporary folders older than ``grace``
    seconds are removed (as is a ``.<name>.old`` that earlier versions left)."""
    for path in _subdirectories(directory, hidden=True):
        tmp, old = TMP_NAME.fullmatch(path.name), OLD_NAME.fullmatch(path.name)
        try:
            if tmp:
                _sweep_tmp(path, path.with_name(tmp["name"]), grace)
            elif old:
                _restore_or_remove(path, path.with_name(old["name"]))
        except FileNotFoundError:  # another command's sweep or the writer itself got there first
            continue


def _sweep_tmp(tmp: Path, target: Path, grace: float) -> None:
    """Put back ``target`` if a dead writer moved it aside into ``tmp``; remove ``tmp`` once older than
    ``grace`` seconds."""
    lock = _lock(tmp, blocking=False)
    if lock is None:
        return
    try:
        stale = time.time() - tmp.stat().st_mtime >= grace
        aside = tmp / (target.name + OLD_SUFFIX)
        if aside.is_dir() and not os.path.lexists(target):
            aside.rename(target)
        if stale:
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        os.close(lock)


def _restore_or_remove(old: Path, target: Path) -> None:
    """``old`` back to ``target`` when that is missing, else removed."""
    if os.path.lexists(target):
        shutil.rmtree(old, ignore_errors=True)
    else:
        old.rename(target)


def sweep_workspace(workspace: Path, grace: float = SWEEP_GRACE_SECONDS) -> None:
    """:func:`recover_and_sweep` the workspace folder and the (not hidden) folders up to
    :data:`SWEEP_DEPTH` levels below it, where the lab writes atomically."""
    level = [Path(workspace)] if Path(workspace).is_dir() else []
    for depth in range(SWEEP_DEPTH + 1):
        for directory in level:
            recover_and_sweep(directory, grace)
        if depth < SWEEP_DEPTH:
            level = [sub for directory in level for sub in _subdirectories(directory, hidden=False)]


def _subdirectories(directory: Path, hidden: bool) -> list[Path]:
    """The folders (not symlinks) in ``directory`` whose names start with '.' (``hidden``) or do not;
    none when ``directory`` is gone."""
    try:
        return [Path(e.path) for e in os.scandir(directory)
                if e.name.startswith(".") == hidden and e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []


def read_json_file(path: Path, limit: int, max_depth: int, what: str,
                   error: type[LabError] = LabError) -> tuple[Any, str]:
    """The JSON of ``path``, a hand-written ``what`` ("template", "feature set"), and the sha256 of its bytes;
    ``error`` naming the file (and the line and column of bad JSON) when it cannot be read, holds more than
    ``limit`` bytes (only ``limit + 1`` are read), is not UTF-8 or nests more than ``max_depth`` deep."""
    try:
        with path.open("rb") as file:
            raw = file.read(limit + 1)
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    if len(raw) > limit:
        raise error(f"{path}: larger than {limit // 1024} KiB (a {what} is a small JSON file)")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise error(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    except RecursionError:
        data = None
    if data is None or _depth(data) > max_depth:
        raise error(f"{path}: nested more than {max_depth} levels deep")
    return data, hashlib.sha256(raw).hexdigest()


def _depth(node: Any) -> int:
    """How deeply ``node`` nests objects and arrays (a scalar: 0), without recursion."""
    depth, level = 0, [node]
    while level := [item for item in level if isinstance(item, (dict, list))]:
        depth += 1
        level = [child for item in level for child in (item.values() if isinstance(item, dict) else item)]
    return depth


def write_json(target: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file written by :func:`write_json`."""
    return json.loads(Path(path).read_text(encoding="utf-8"))
