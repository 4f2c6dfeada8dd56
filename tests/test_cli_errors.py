"""The CLI on bad input and a failing environment: one line on stderr, a non-zero exit, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from lab.cli import cli


def invoke(workspace: Path, *args: str):
    return CliRunner().invoke(cli, ["--workspace", str(workspace), *args], obj={})


def one_error_line(result) -> str:
    assert result.exit_code == 1 and result.exception is not None and isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in result.output
    return lines[0]


def test_import_encoding_is_detected_recorded_and_forced(tmp_path):
    source = tmp_path / "kaggle"
    source.mkdir()
    (source / "train.csv").write_bytes(b"id,product_uid,product_title,search_term,relevance\n"
                                       b"1,100001,Caf\xe9 drill \x93pro\x94,drill,3\n")
    workspace = tmp_path / "ws"
    forced = invoke(workspace, "data", "import", "homedepot", "--from", str(source), "--encoding", "latin-1")
    assert "train.csv line 2: control character U+0093 at column 21" in one_error_line(forced)
    assert not (workspace / "datasets" / "homedepot").exists()
    detected = invoke(workspace, "data", "import", "homedepot", "--from", str(source))
    assert detected.exit_code == 0, detected.output
    meta = json.loads((workspace / "datasets" / "homedepot" / "meta.json").read_text())
    assert meta["files"]["train.csv"]["encoding"] == "cp1252"
