"""The workspace keeps to itself: names that become paths are checked, and outside folders stay untouched."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from lab.adapters.config import AdapterConfig
from lab.adapters.store import adapter_dir
from lab.cli import cli
from lab.embeddings.models import resolve_model_dir
from lab.errors import LabError
from lab.finetune.config import FinetuneConfig
from lab.finetune.trainer import model_dir
from lab.results import save_run
from lab.workspace import check_name, workspace_path

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
