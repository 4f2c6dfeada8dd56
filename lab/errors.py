"""The lab's error type: one clear line that names the file, field, line or clause at fault."""

from __future__ import annotations

import errno
from types import TracebackType
from typing import Iterable


class LabError(Exception):
    """A user-facing error; the CLI prints its message as one line and exits non-zero."""


class QueryError(LabError):
    """A query body the engine cannot execute exactly (unknown clause, bad parameter, bad field)."""


class DataError(LabError):
    """Bad input data: missing columns, wrong encoding, empty files, dangling ids."""


class TemplateError(LabError):
    """A strategy template that cannot be loaded or rendered."""


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``known`` to a misspelt ``name``, else ''."""
    from difflib import get_close_matches

    close = get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


ENVIRONMENT_ERRORS = (OSError, RecursionError, MemoryError)
"""What the environment (disk, permissions, memory, pathological input) raises where the lab does not
expect it; the CLI prints them as one line too."""


def environment_error_line(exc: BaseException) -> str:
    """One line for an environmental error: what failed (the path(s) and the reason, for an OSError)
    and the operation, as the lab function that was running."""
    where = _innermost_lab_function(exc.__traceback__)
    if isinstance(exc, RecursionError):
        return f"input nested too deeply to process (recursion limit) in {where}"
    if isinstance(exc, MemoryError):
        return f"out of memory in {where}"
    assert isinstance(exc, OSError)
    paths = " → ".join(str(p) for p in (exc.filename, exc.filename2) if p is not None)
    code = errno.errorcode.get(exc.errno or 0)
    reason = " ".join(str(exc.strerror or exc).split())[:300] + (f" ({code})" if code else "")
    return f"{paths + ': ' if paths else ''}{reason}, in {where}"


def _innermost_lab_function(tb: TracebackType | None) -> str:
    """``module.function`` of the innermost traceback frame in the lab package."""
    found = "lab"
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if module.split(".")[0] == "lab":
            found = f"{module}.{tb.tb_frame.f_code.co_name}"
        tb = tb.tb_next
    return found
