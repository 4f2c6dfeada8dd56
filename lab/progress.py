"""Progress reporting: library code takes a factory; the CLI passes rich progress bars."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, ContextManager, Iterator

Advance = Callable[[int], None]
ProgressFactory = Callable[[str, int], ContextManager[Advance]]
"""``with progress("Encoding titles", total) as advance: advance(n)``."""


@contextmanager
def _silent(description: str, total: int) -> Iterator[Advance]:
    yield lambda n: None


def silent() -> ProgressFactory:
    """A progress factory that reports nothing (library default, tests)."""
    return _silent


def rich_bars(console: Any = None) -> ProgressFactory:
    """A progress factory drawing rich progress bars on ``console`` (a rich Console; default: standard error, so
    that standard output carries only results)."""

    @contextmanager
    def bar(description: str, total: int) -> Iterator[Advance]:
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TimeRemainingColumn())
        with Progress(*columns, transient=False, console=console or Console(stderr=True)) as progress:
            task = progress.add_task(description, total=total)
            yield lambda n: progress.advance(task, n)

    return bar
