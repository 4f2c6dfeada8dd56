"""Rendering a result table the way the user asked: a rich table on the terminal, or Markdown, CSV or JSON
for pipes and documents."""

from __future__ import annotations

from typing import Any, Callable

import click
from rich.markup import escape
from rich.table import Table

from ..experiments.formats import csv_text, json_text, markdown_table, numeric_columns
from .support import console

OUTPUT_FORMATS = ("table", "markdown", "csv", "json")


def format_option(help_text: str = "Output: a table for people, or Markdown, CSV or JSON for pipes.") -> Callable:
    """The ``--format`` option of a command that prints one result table."""
    return click.option("--format", "fmt", type=click.Choice(OUTPUT_FORMATS), default="table", show_default=True,
                        help=help_text)


def emit(fmt: str, header: list[str], rows: list[list[str]], records: list[dict[str, Any]] | Any, *,
         title: str | None = None, caption: str | None = None, keep: tuple[str, ...] = (),
         bold_rows: set[int] = frozenset()) -> None:
    """Print one table: ``header``/``rows`` (text) as a rich table or Markdown, ``records`` (raw values) as CSV
    or JSON. Table columns named in ``keep`` are never cut or wrapped; ``bold_rows`` are highlighted."""
    if fmt == "json":
        click.echo(json_text(records), nl=False)
    elif fmt == "csv":
        import pandas as pd

        click.echo(csv_text(pd.DataFrame(records)), nl=False)
    elif fmt == "markdown":
        click.echo(markdown_table(header, rows), nl=False)
    else:
        table = Table(title=title, caption=caption)
        for i, (name, numeric) in enumerate(zip(header, numeric_columns(header, rows))):
            widest = max((len(r[i]) for r in rows), default=0)
            table.add_column(name, justify="right" if numeric else "left", no_wrap=name in keep,
                             min_width=widest if name in keep else None)
        for k, row in enumerate(rows):
            table.add_row(*(escape(c) for c in row), style="bold" if k in bold_rows else None)
        console.print(table)
