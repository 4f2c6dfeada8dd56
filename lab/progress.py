"""Progress reporting: library code takes a factory; the CLI passes rich progress bars."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, ContextManager, Iterator

Advance = Callable[[int], None]
ProgressFactory = Callable[[str, int], ContextManager[Advance]]
"""``with progress("Encoding titles", total) as advance: advance(n)``."""


@contextmanager
def _silent(description: str, total: int) -> Iterator[Advance]:
    yield lambda n: None


def silent() -> ProgressFactory:
    """A progress factory that reports nothing (library default, tests)."""
    return _silent


@contextmanager
def _rich_bar(description: str, total: int) -> Iterator[Advance]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


def rich_bars() -> ProgressFactory:
    """A progress factory drawing rich progress bars on the terminal."""
    return _rich_bar
