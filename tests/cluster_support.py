"""What the live-cluster test modules share: the URL of the node CI starts, and the whole CLI loop on it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from lab.cli import cli


def live_url(env: str, product: str) -> str | None:
    """``$env``, the URL of a live cluster; under CI (``CI=true``) its absence fails the calling test module instead
    of skipping it."""
    url = os.environ.get(env)
    if os.environ.get("CI") == "true" and not url:
        pytest.fail(f"CI runs the {product} integration tests: .ci/run must start one and set {env}", pytrace=False)
    return url


def cli_loop(workspace: Path, backend: str, url: str) -> tuple[list[dict], dict[str, str]]:
    """``lab demo`` on the cluster, then the embedded index and ``lab backend check --all`` (each must exit 0):
    the runs' manifests and the check's table rows by strategy."""
    args = ["--workspace", str(workspace), "--backend", backend, "--url", url]
    demo = CliRunner().invoke(cli, [*args, "demo", "--products", "300", "--queries", "60"], obj={},
                              catch_exceptions=False)
    assert demo.exit_code == 0, demo.output
    manifests = [json.loads(p.read_text()) for p in (workspace / "runs" / "demo").glob("*/manifest.json")]
    embedded = CliRunner().invoke(cli, ["--workspace", str(workspace), "index"], obj={}, catch_exceptions=False)
    assert embedded.exit_code == 0, embedded.output
    check = CliRunner().invoke(cli, [*args, "backend", "check", "--all"], obj={}, catch_exceptions=False,
                               terminal_width=200)
    assert check.exit_code == 0, check.output
    rows = {line.split("│")[1].strip(): line for line in check.output.splitlines() if line.count("│") > 5}
    return manifests, rows
