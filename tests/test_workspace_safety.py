"""The workspace keeps to itself and survives a kill: names that become paths are checked, and an atomic
write killed at any step leaves the previous or the new version, then nothing behind after the sweep."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from demo_support import demo_lab

from lab.adapters.config import AdapterConfig
from lab.adapters.store import adapter_dir
from lab.cli import cli
from lab.data import Dataset
from lab.embeddings.models import resolve_model_dir
from lab.errors import LabError
from lab.finetune.config import FinetuneConfig
from lab.finetune.trainer import model_dir
from lab.results import list_runs, save_run
from lab.workspace import _exchange, _renameat2, atomic_path, check_name, sweep_workspace, workspace_file, workspace_path

BAD_NAMES = ["", ".", "..", "../../x", "a/b", ".hidden", "-flag", "x" * 129, "name\n", "a b"]
ROWS = [(f"{kind} item {i}", kind) for kind in ("plumbing", "lighting", "garden") for i in range(8)]


def invoke(workspace: Path, *args: str):
    return CliRunner().invoke(cli, ["--workspace", str(workspace), *args], obj={}, catch_exceptions=False)


def snapshot(root: Path, skip: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` outside ``skip``, with the bytes of the files."""
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else None
            for p in sorted(root.rglob("*")) if skip not in (p, *p.parents)}


def labelled_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("text,label\n" + "".join(f"{text},{label}\n" for text, label in rows), encoding="utf-8")
    return path


def refused(result, option: str, name: str) -> None:
    assert result.exit_code == 1, result.output
    assert option in result.output and repr(name) in result.output and "Traceback" not in result.output


# --- names ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", BAD_NAMES)
def test_check_name_refuses_what_is_not_one_plain_file_name(name):
    with pytest.raises(LabError, match="--opt"):
        check_name(name, "--opt")


@pytest.mark.parametrize("name", ["demo", "scifact-v1.2", "my_set", "A1", "x" * 128])
def test_check_name_accepts_plain_names(name):
    assert check_name(name, "--opt") == name


def test_workspace_path_refuses_a_symlink_out_of_the_workspace(tmp_path):
    workspace, outside = tmp_path / "ws", tmp_path / "outside"
    (workspace / "datasets").mkdir(parents=True)
    outside.mkdir()
    (workspace / "datasets" / "evil").symlink_to(outside)
    with pytest.raises(LabError, match="'evil'.*leads out of the workspace"):
        workspace_path(workspace, "datasets", "evil", option="--dataset")
    assert workspace_path(workspace, "datasets", "fine", option="--dataset") == workspace / "datasets" / "fine"


@pytest.fixture()
def outside(tmp_path) -> Path:
    directory = tmp_path / "outside"
    directory.mkdir()
    (directory / "keep.txt").write_text("precious")
    return directory


@pytest.mark.parametrize("name", ["OUTSIDE", "../../x", "a/b", "", ".."])
def test_data_import_refuses_a_bad_name_and_writes_nothing_outside(tmp_path, outside, name):
    name = str(outside) if name == "OUTSIDE" else name
    source, workspace = labelled_csv(tmp_path / "items.csv", ROWS), tmp_path / "ws"
    before = snapshot(tmp_path, workspace)
    refused(invoke(workspace, "data", "import", "labelled", str(source), "--name", name), "--name", name)
    empty_from = tmp_path / "kaggle"
    empty_from.mkdir()
    refused(invoke(workspace, "data", "import", "homedepot", "--from", str(empty_from), "--name", name), "--name", name)
    empty_from.rmdir()
    assert snapshot(tmp_path, workspace) == before
    assert not (workspace / "datasets").exists()


def test_data_import_refuses_a_default_name_that_is_not_a_plain_name(tmp_path):
    source = labelled_csv(tmp_path / "my items.csv", ROWS)
    refused(invoke(tmp_path / "ws", "data", "import", "labelled", str(source)), "--name", "my items")


@pytest.mark.parametrize("name", ["OUTSIDE", "../../x", "a/b", "..", ""])
@pytest.mark.parametrize("command", [("index",), ("data", "info"), ("run", "--strategy", "textsearch")])
def test_dataset_option_refuses_a_bad_name(tmp_path, outside, name, command):
    name = str(outside) if name == "OUTSIDE" else name
    workspace = tmp_path / "ws"
    before = snapshot(tmp_path, workspace)
    refused(invoke(workspace, "--dataset", name, *command), "--dataset", name)
    assert snapshot(tmp_path, workspace) == before


def test_a_bad_dataset_in_the_config_is_refused(tmp_path):
    (tmp_path / "config.json").write_text('{"dataset": "../../x"}')
    refused(invoke(tmp_path, "data", "info"), "config.json", "../../x")


def test_a_dataset_symlinked_out_of_the_workspace_is_refused(tmp_path, outside):
    workspace = tmp_path / "ws"
    (workspace / "datasets").mkdir(parents=True)
    (workspace / "datasets" / "evil").symlink_to(outside)
    source = labelled_csv(tmp_path / "items.csv", ROWS)
    result = invoke(workspace, "data", "import", "labelled", str(source), "--name", "evil")
    assert result.exit_code == 1 and "leads out of the workspace" in result.output
    assert invoke(workspace, "--dataset", "evil", "data", "info").exit_code == 1
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"]


def test_model_adapter_and_run_names_are_checked(tmp_path):
    for bad in ("../x", "/tmp/x", ".."):
        with pytest.raises(LabError, match="--name"):
            FinetuneConfig(name=bad)
        with pytest.raises(LabError, match="--name"):
            AdapterConfig(name=bad)
        with pytest.raises(LabError, match="model name"):
            model_dir(tmp_path, bad)
        with pytest.raises(LabError, match="adapter name"):
            adapter_dir(tmp_path, bad)
        with pytest.raises(LabError, match="run id"):
            save_run(tmp_path, "demo", {"run_id": bad}, None, None)
    with pytest.raises(LabError, match="model 'a b'"):
        resolve_model_dir("a b", tmp_path)
    with pytest.raises(LabError, match="is a base model key"):
        FinetuneConfig(name="minilm")


# --- atomic writes killed at each step ---------------------------------------------------------------

REPO = Path(__file__).resolve().parent.parent
CHILD = """
import sys
from pathlib import Path
import lab.workspace as workspace
target, version, mode = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
if mode == "fallback":
    workspace._exchange = lambda a, b: False
with workspace.atomic_path(target) as staged:
    if target.suffix == ".json":
        staged.write_text(version)
    else:
        staged.mkdir()
        (staged / "version").write_text(version)
        (staged / "more").write_text(version * 3)
"""
TARGETS = {"dataset": "datasets/demo", "index": "indexes/demo", "index state": "index-state/embedded/demo.json",
           "run": "runs/demo/textsearch-20260101T000000000000-0123abcd", "model": "models/tuned",
           "adapter": "adapters/head", "embedding shard": "embeddings/ns/shard-1", "config": "config.json"}
STEPS = [("exchange", "staged", "old"), ("exchange", "replaced", "new"), ("fallback", "staged", "old"),
         ("fallback", "aside", "old"), ("fallback", "replaced", "new")]
CASES = [(kind, *step) for kind in TARGETS for step in STEPS
         if not (TARGETS[kind].endswith(".json") and step[1] == "aside")]  # only a directory is moved aside


def leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob(".*") if p.name.endswith((".tmp", ".old"))]


def age(paths: list[Path], seconds: float = 3600) -> None:
    then = time.time() - seconds
    for path in paths:
        os.utime(path, (then, then))


def write(target: Path, version: str, mode: str, kill_at: str | None = None) -> int:
    env = {k: v for k, v in os.environ.items() if k != "LAB_TEST_KILL_AT"}
    if kill_at:
        env["LAB_TEST_KILL_AT"] = kill_at
    return subprocess.run([sys.executable, "-c", CHILD, str(target), version, mode], cwd=REPO, env=env).returncode


def version(target: Path) -> str:
    return target.read_text() if target.suffix == ".json" else (target / "version").read_text()


@pytest.mark.parametrize(("kind", "mode", "step", "expected"), CASES)
def test_a_killed_atomic_write_leaves_one_whole_version(tmp_path, kind, mode, step, expected):
    target = tmp_path / TARGETS[kind]
    assert write(target, "old", mode) == 0
    assert write(target, "new", mode, kill_at=step) == -signal.SIGKILL
    sweep_workspace(tmp_path)  # what the next command does first: a directory moved aside is back at once
    assert version(target) == expected
    assert leftovers(tmp_path)  # a young temporary folder may be a live writer's: it stays a while
    sweep_workspace(tmp_path, grace=0)
    assert leftovers(tmp_path) == [] and version(target) == expected
    assert write(target, "next", mode) == 0 and version(target) == "next"
    if not target.suffix:
        assert (target / "more").read_text() == "next" * 3


def test_a_new_target_killed_before_its_rename_leaves_nothing(tmp_path):
    target = tmp_path / "runs" / "demo" / "textsearch-1"
    assert write(target, "new", "exchange", kill_at="staged") == -signal.SIGKILL
    assert not target.exists() and leftovers(tmp_path)
    sweep_workspace(tmp_path, grace=0)
    assert leftovers(tmp_path) == [] and list(target.parent.iterdir()) == []


def test_the_sweep_leaves_a_live_writer_alone(tmp_path):
    target = tmp_path / "datasets" / "demo"
    with atomic_path(target) as staged:
        staged.mkdir()
        (staged / "version").write_text("live")
        sweep_workspace(tmp_path, grace=0)
        assert staged.is_dir()
    assert version(target) == "live" and leftovers(tmp_path) == []


def test_the_sweep_restores_or_removes_what_the_two_rename_scheme_left(tmp_path):
    datasets = tmp_path / "datasets"
    (datasets / ".lost.old").mkdir(parents=True)
    (datasets / ".lost.old" / "version").write_text("old")
    (datasets / ".kept.old").mkdir()
    (datasets / "kept").mkdir()
    sweep_workspace(tmp_path)
    assert version(datasets / "lost") == "old" and (datasets / "kept").is_dir() and leftovers(tmp_path) == []


@pytest.mark.skipif(_renameat2() is None, reason="renameat2 is Linux (glibc 2.28+) only")
def test_exchange_swaps_two_directories(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for path in (a, b):
        path.mkdir()
        (path / "version").write_text(path.name)
    assert _exchange(a, b)
    assert version(a) == "b" and version(b) == "a"


# --- real commands killed -----------------------------------------------------------------------

LAB = "import sys; from lab.cli import main; sys.argv[0] = 'lab'; main()"


def lab_killed(workspace: Path, step: str, *args: str) -> int:
    env = {**os.environ, "LAB_TEST_KILL_AT": step}
    return subprocess.run([sys.executable, "-c", LAB, "--workspace", str(workspace), *args], cwd=REPO, env=env,
                          capture_output=True).returncode


@pytest.mark.parametrize(("step", "products"), [("staged", 24), ("replaced", 12)])
def test_a_killed_data_import_leaves_a_dataset_and_the_next_command_cleans_up(tmp_path, step, products):
    workspace = tmp_path / "ws"
    assert invoke(workspace, "data", "import", "labelled", str(labelled_csv(tmp_path / "a.csv", ROWS)),
                  "--name", "shop").exit_code == 0
    smaller = labelled_csv(tmp_path / "b.csv", ROWS[::2])
    assert lab_killed(workspace, step, "data", "import", "labelled", str(smaller), "--name", "shop") == -signal.SIGKILL
    assert len(Dataset.load(workspace / "datasets" / "shop").products) == products
    age(leftovers(workspace))
    info = invoke(workspace, "data", "info")
    assert info.exit_code == 0 and "dataset shop" in info.output, info.output
    assert leftovers(workspace) == []


def test_killed_index_and_run_writes_are_swept_and_the_next_run_works(tmp_path):
    workspace = demo_lab(tmp_path / "ws", seed=3, n_products=200, n_queries=60).workspace
    index = "from pathlib import Path; from lab.backends.embedded import EmbeddedBackend; " \
            "from lab.context import Lab; from lab.indexer import build_index; " \
            f"ws = Path({str(workspace)!r}); build_index(Lab(workspace=ws, backend=EmbeddedBackend(ws)), models=[])"
    env = {**os.environ, "LAB_TEST_KILL_AT": "replaced"}
    assert subprocess.run([sys.executable, "-c", index], cwd=REPO, env=env).returncode == -signal.SIGKILL
    assert lab_killed(workspace, "staged", "run", "--strategy", "textsearch") == -signal.SIGKILL
    assert {p.parent for p in leftovers(workspace)} >= {workspace / "indexes", workspace / "runs" / "demo"}
    age(leftovers(workspace))
    result = invoke(workspace, "run", "--strategy", "textsearch")
    assert result.exit_code == 0 and "textsearch" in result.output, result.output
    assert leftovers(workspace) == [] and len(list((workspace / "runs" / "demo").iterdir())) == 1


def test_workspace_file_refuses_symlinks_and_paths_out_of_the_workspace(tmp_path):
    workspace, outside = tmp_path / "ws", tmp_path / "outside.txt"
    (workspace / "models" / "m").mkdir(parents=True)
    outside.write_text("secret")
    (workspace / "models" / "m" / "plot.png").write_bytes(b"png")
    assert workspace_file(workspace, workspace / "models" / "m" / "plot.png").read_bytes() == b"png"
    (workspace / "models" / "m" / "link.png").symlink_to(outside)
    (workspace / "linked").symlink_to(workspace / "models", target_is_directory=True)
    for path, message in [(workspace / "models" / "m" / "link.png", "link.png: a symlink"),
                          (workspace / "linked" / "m" / "plot.png", "linked: a symlink"),
                          (workspace / "models" / ".." / ".." / "outside.txt", "outside the workspace"),
                          (outside, "outside the workspace")]:
        with pytest.raises(LabError, match=message):
            workspace_file(workspace, path)


def test_runs_reached_through_a_symlink_are_refused(tmp_path):
    outside = tmp_path / "outside" / "planted"
    outside.mkdir(parents=True)
    (outside / "manifest.json").write_text('{"run_id": "planted", "created": "2026"}')
    (tmp_path / "ws" / "runs" / "demo").mkdir(parents=True)
    (tmp_path / "ws" / "runs" / "demo" / "planted").symlink_to(outside, target_is_directory=True)
    with pytest.raises(LabError, match=r"runs/demo/planted: a symlink"):
        list_runs(tmp_path / "ws", "demo")
