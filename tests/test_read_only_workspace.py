"""A workspace on a read-only file system (a shared or archived lab): the commands that only read — leaderboard,
compare, queries, explain — work (the embedding cache write is optional), and a command that must write says so
in one line. The workspace is bind-mounted read-only inside a private mount namespace (`unshare --mount`, as
root), so nothing outside the test sees the mount."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from lab.indexer import build_index
from lab.runner import run_strategy

from demo_support import demo_lab

LAB = [sys.executable, "-c", "import sys; from lab.cli import main; sys.argv[0] = 'lab'; main()"]


def read_only_runs(workspace, mountpoint, commands: list[list[str]]) -> list[subprocess.CompletedProcess]:
    """Each command run against ``mountpoint``, a read-only bind mount of ``workspace``."""
    # A capability of the machine, not something CI installs: without it the test skips, with the reason.
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("a read-only bind mount needs root and unshare (util-linux)")
    probe = subprocess.run(["unshare", "--mount", "sh", "-c", f"mount --bind {workspace} {mountpoint} && "
                            f"mount -o remount,bind,ro {mountpoint}"], capture_output=True, text=True)
    if probe.returncode:
        pytest.skip(f"this machine does not allow a read-only bind mount: {probe.stderr.strip()}")
    script = textwrap.dedent(f"""
        import subprocess, sys
        subprocess.run(["mount", "--bind", {str(workspace)!r}, {str(mountpoint)!r}], check=True)
        subprocess.run(["mount", "-o", "remount,bind,ro", {str(mountpoint)!r}], check=True)
        for args in {commands!r}:
            done = subprocess.run({LAB!r} + ["--workspace", {str(mountpoint)!r}] + args, capture_output=True, text=True)
            print(repr((done.returncode, done.stdout, done.stderr)))
    """)
    out = subprocess.run(["unshare", "--mount", sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    import ast

    return [subprocess.CompletedProcess(args, *ast.literal_eval(line))
            for args, line in zip(commands, out.stdout.splitlines())]


def test_reading_commands_work_on_a_read_only_workspace(tmp_path):
    workspace, mountpoint = tmp_path / "ws", tmp_path / "ro"
    mountpoint.mkdir()
    lab = demo_lab(workspace, seed=8, n_products=150, n_queries=60, index=False)
    build_index(lab)  # BM25 fields and minilm vectors
    templates = lab.templates()
    for name in ("textsearch", "textsearch_boosted", "vectorsearch"):
        run_strategy(lab, templates[name])
    before = sorted(p.relative_to(workspace) for p in workspace.rglob("*"))
    leaderboard, compare, queries, explain, run = read_only_runs(workspace, mountpoint, [
        ["leaderboard", "--format", "json"],
        ["compare", "textsearch", "textsearch_boosted", "--format", "json"],
        ["queries", "textsearch", "vectorsearch", "--format", "csv"],
        ["explain", "--strategy", "vectorsearch", "--query", "cordless drill brushless", "--top", "1"],
        ["run", "--strategy", "textsearch"],
    ])
    for done in (leaderboard, compare, queries, explain):
        assert done.returncode == 0, done.stderr
    assert '"strategy": "textsearch"' in leaderboard.stdout and '"baseline": "textsearch"' in compare.stdout
    assert "#1 " in explain.stdout and "cosinesimil" in explain.stdout
    last = run.stderr.strip().splitlines()[-1]
    assert run.returncode == 1 and last.startswith("error: ") and "Read-only file system (EROFS)" in last
    assert sorted(p.relative_to(workspace) for p in workspace.rglob("*")) == before
