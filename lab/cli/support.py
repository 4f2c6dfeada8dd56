"""What every `lab` command module shares: the terminal consoles, the Lab of an invocation (workspace and
backend from the global options) and rich progress bars."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table


PIPE_WIDTH = 10_000
"""Columns of a console that is not a terminal: tables keep their natural width, nothing is cut."""


def terminal_console(stderr: bool = False) -> Console:
    """A rich console: the terminal's width, or no practical limit when piped (tables are never cut)."""
    return Console(stderr=stderr, width=None if Console(stderr=stderr).is_terminal else PIPE_WIDTH)


console = terminal_console()
err_console = terminal_console(stderr=True)


def make_backend(options: dict[str, Any], workspace: Path):
    """The backend the global options (--backend, --url, ...) name."""
    from ..backends.factory import open_backend

    settings = ("url", "user", "password", "ca_certs", "verify_certs", "timeout", "shards", "batch_size", "concurrency",
                "server_fusion")
    return open_backend(options["backend"], workspace, **{k: options[k] for k in settings})


def lab_for(ctx: click.Context):
    """The Lab object for this invocation (backend created on first use)."""
    if "lab" not in ctx.obj:
        from ..context import Lab
        from ..workspace import workspace_root

        options = ctx.obj["options"]
        workspace = workspace_root(options["workspace"])
        ctx.obj["lab"] = Lab(workspace=workspace, backend=make_backend(options, workspace),
                             dataset_name=options["dataset"])
    return ctx.obj["lab"]


def progress_bars():
    from ..progress import rich_bars

    return rich_bars(err_console)


def training_display(description: str, metric_label: str = "val nDCG@10"):
    """A rich bar on a terminal; plain lines (step, loss, evaluations, time left) when standard error is not one."""
    from ..finetune.monitor import LineLog, RichTrainingBar

    if err_console.is_terminal:
        return RichTrainingBar(description, metric_label, console=err_console)
    return LineLog(sys.stderr, description, metric_label)


def before_after_table(before: dict[str, float], after: dict[str, float], columns: tuple[str, str],
                       title: str | None = None) -> Table:
    """Metrics before and after (a fine-tune, an adapter, a reranker) with the relative change, one row per metric
    of ``before``; ``columns`` names the two."""
    table = Table(title=title)
    for column in ("metric", *columns, "change"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for name, old in before.items():
        new = after[name]
        table.add_row(name, f"{old:.4f}", f"{new:.4f}", f"{(new - old) / old:+.1%}" if old else "")
    return table
