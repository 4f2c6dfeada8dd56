"""The `lab` group: global options, one-line errors, and every command module's commands."""

from __future__ import annotations

import os
import sys
from typing import Any

import click
from rich.markup import escape

from . import backend, data, eval, experiments, finetune, judge, ltr, reranker, runs
from .support import err_console
from .. import __version__
from ..backends.factory import BACKENDS
from ..errors import ENVIRONMENT_ERRORS, LabError, environment_error_line


class LabGroup(click.Group):
    """Prints a LabError, and an environmental error (OSError, RecursionError, MemoryError), as one line
    and exits 1, instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LabError as exc:
            _exit_with_error(str(exc))
        except ENVIRONMENT_ERRORS as exc:
            _exit_with_error(environment_error_line(exc))
        except KeyboardInterrupt as exc:  # Ctrl-C: what was kept, in one line, and the shell's exit status
            err_console.print(f"[bold yellow]interrupted:[/] {escape('; '.join(getattr(exc, '__notes__', [])) or 'stopped')}",
                              highlight=False, soft_wrap=True)
            sys.exit(130)


def _exit_with_error(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(1)


@click.group(cls=LabGroup)
@click.version_option(__version__, prog_name="lab")
@click.option("--workspace", envvar="LAB_HOME", type=click.Path(file_okay=False),
              help="Workspace directory (default ./lab-workspace, env LAB_HOME).")
@click.option("--dataset", help="Dataset to work on (default: the last imported).")
@click.option("--backend", type=click.Choice(BACKENDS), default="embedded",
              envvar="LAB_BACKEND", show_default=True, help="Search backend.")
@click.option("--url", help="Cluster URL (default $OPENSEARCH_URL or $ELASTICSEARCH_URL, as the backend, else "
                            "http://localhost:9200).")
@click.option("--user", help="Cluster user (default $OPENSEARCH_USER or $ELASTICSEARCH_USER).")
@click.option("--password", help="Cluster password (prefer $OPENSEARCH_PASSWORD or $ELASTICSEARCH_PASSWORD).")
@click.option("--ca-certs", type=click.Path(exists=True, dir_okay=False), help="CA bundle for TLS.")
@click.option("--no-verify-certs", "verify_certs", flag_value=False, default=True,
              help="Do not verify TLS certificates (insecure).")
@click.option("--shards", type=int, default=1, show_default=True,
              help="Primary shards for a new OpenSearch index (>1 changes BM25 statistics).")
@click.option("--batch-size", type=int, default=100, show_default=True, help="Queries per _msearch request.")
@click.option("--concurrency", type=int, default=1, show_default=True, help="Parallel _msearch requests.")
@click.option("--server-fusion", is_flag=True, envvar="ELASTICSEARCH_SERVER_FUSION",
              help="Elasticsearch: hybrid strategies fused by the node (rrf / linear retrievers) where that is exactly "
                   "the strategy's pipeline, instead of by the lab (env ELASTICSEARCH_SERVER_FUSION=1).")
@click.option("--timeout", type=float, default=30.0, show_default=True, help="OpenSearch request timeout (s).")
@click.pass_context
def cli(ctx: click.Context, **options: Any) -> None:
    """relevance-lab: measure search strategies on graded judgments."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    ctx.ensure_object(dict)
    ctx.obj["options"] = options


def main() -> None:
    cli(obj={})


for _module in (data, runs, experiments, backend, finetune, eval, ltr, reranker, judge):
    for _command in _module.COMMANDS:
        cli.add_command(_command)
