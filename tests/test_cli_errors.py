"""The CLI on bad input and a failing environment: one line on stderr, a non-zero exit, no traceback."""

from __future__ import annotations

import errno
import json
import os
import re
from pathlib import Path

import pytest
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


def kaggle_folder(tmp_path: Path) -> Path:
    source = tmp_path / "kaggle"
    source.mkdir()
    (source / "train.csv").write_text("id,product_uid,product_title,search_term,relevance\n1,100001,Angle,angle,3\n")
    return source


@pytest.mark.parametrize("error, expected", [
    (lambda where: OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(where)),
     r"qrels.parquet: No space left on device \(ENOSPC\), in lab.data.dataset.save"),
    (lambda where: OSError(errno.EROFS, os.strerror(errno.EROFS), str(where)),
     r"qrels.parquet: Read-only file system \(EROFS\), in lab.data.dataset.save"),
    (lambda where: RecursionError("maximum recursion depth exceeded"),
     r"nested too deeply to process \(recursion limit\) in lab.data.dataset.save"),
    (lambda where: MemoryError(), r"out of memory in lab.data.dataset.save"),
])
def test_environmental_errors_are_one_line_and_leave_nothing_partial(tmp_path, monkeypatch, error, expected):
    import pyarrow.parquet as pq

    source, workspace = kaggle_folder(tmp_path), tmp_path / "ws"
    assert invoke(workspace, "data", "import", "homedepot", "--from", str(source)).exit_code == 0
    datasets = workspace / "datasets"
    before = {p.relative_to(datasets): p.read_bytes() for p in datasets.rglob("*") if p.is_file()}
    write_table = pq.write_table

    def failing_write(table, where, **options):
        if Path(where).name != "qrels.parquet":
            return write_table(table, where, **options)
        Path(where).write_bytes(b"PAR1 half written")
        raise error(where)

    monkeypatch.setattr(pq, "write_table", failing_write)
    (source / "train.csv").write_text("id,product_uid,product_title,search_term,relevance\n1,100002,Bolt,bolt,3\n")
    result = invoke(workspace, "data", "import", "homedepot", "--from", str(source))
    assert re.search(expected, one_error_line(result))
    after = {p.relative_to(datasets): p.read_bytes() for p in datasets.rglob("*") if p.is_file()}
    assert after == before  # the previous dataset, whole; no temporary folder left
