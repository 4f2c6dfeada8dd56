"""Reading source files: encodings, CSV and JSON lines, with one-line errors naming file, line, field."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import zlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator, Literal, Sequence

import pandas as pd

from ..errors import DataError, LabError

Encoding = Literal["utf-8", "kaggle"]
"""``utf-8``: strict UTF-8 (BOM allowed). ``kaggle``: the Kaggle CSVs' ISO-8859-1, or UTF-8 when the
file is valid UTF-8 (a re-saved copy; ASCII reads the same either way)."""


def data_error(path: str | os.PathLike[str], message: str, line: int | None = None,
               field: str | None = None) -> DataError:
    """A DataError whose one line reads ``path line N field 'f': message``."""
    where = str(path) + (f" line {line}" if line is not None else "") + (f" field '{field}'" if field else "")
    return DataError(f"{where}: {' '.join(message.split())}")


@dataclass
class SourceFile:
    """A source file's (decompressed) bytes, decoded text, the encoding used and the compression, if any."""

    path: Path
    data: bytes
    text: str
    encoding: str
    compression: str | None = None

    def describe(self) -> dict[str, Any]:
        """What the dataset's meta records about the file (bytes and sha256 of the content, decompressed)."""
        return {"path": str(self.path), "bytes": len(self.data),
                "sha256": hashlib.sha256(self.data).hexdigest(), "encoding": self.encoding,
                **({"compression": self.compression} if self.compression else {})}


GZIP_MAGIC = b"\x1f\x8b"


def plain_suffix(path: str | os.PathLike[str]) -> str:
    """The file name's suffix once a ``.gz`` is set aside, lower case (``corpus.jsonl.gz`` → ``.jsonl``)."""
    path = Path(path)
    return (path.with_suffix("") if path.suffix.lower() == ".gz" else path).suffix.lower()


def plain_stem(path: str | os.PathLike[str]) -> str:
    """The file name without its suffix once a ``.gz`` is set aside, lower case (``test.tsv.gz`` → ``test``)."""
    path = Path(path)
    return (path.with_suffix("") if path.suffix.lower() == ".gz" else path).stem.lower()


def _decompressed(path: Path, data: bytes) -> tuple[bytes, str | None]:
    """``data`` gunzipped when it is gzip (by its magic bytes, whatever the name), else as it is."""
    if not data.startswith(GZIP_MAGIC):
        return data, None
    try:
        return gzip.decompress(data), "gzip"
    except (OSError, EOFError, zlib.error) as exc:
        raise data_error(path, f"not a readable gzip file ({exc})") from None


def _line_at(data: bytes, offset: int) -> tuple[int, int]:
    line_start = data.rfind(b"\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1, offset - line_start + 1


def read_source(path: str | os.PathLike[str], encoding: Encoding = "utf-8") -> SourceFile:
    """Read and decode ``path``; DataError if it is missing, empty, UTF-16/binary or undecodable."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise data_error(path, "file not found") from None
    except OSError as exc:
        raise data_error(path, f"cannot read: {exc.strerror or exc}") from None
    data, compression = _decompressed(path, data)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data[:4096]:
        expected = "ISO-8859-1 or UTF-8" if encoding == "kaggle" else "UTF-8"
        raise data_error(path, f"looks like UTF-16 or binary (NUL bytes); save it as {expected} text")
    if not data.strip():
        raise data_error(path, "file is empty")
    if data.startswith(b"\xef\xbb\xbf"):
        data_to_decode, name = data[3:], "utf-8-sig"
    else:
        data_to_decode, name = data, "utf-8"
    try:
        text = data_to_decode.decode("utf-8")
    except UnicodeDecodeError as exc:
        if encoding == "kaggle" and name == "utf-8":
            return SourceFile(path, data, data.decode("iso-8859-1"), "iso-8859-1", compression)
        offset = exc.start + (len(data) - len(data_to_decode))
        line, column = _line_at(data, offset)
        raise data_error(path, f"not valid UTF-8 (byte 0x{data[offset]:02x} at column {column})", line) from None
    return SourceFile(path, data, text, name, compression)


class CsvTable:
    """A CSV file read as strings (nothing turned into NaN), with record → physical line lookup."""

    def __init__(self, source: SourceFile, frame: pd.DataFrame):
        self.source = source
        self.frame = frame

    @property
    def path(self) -> Path:
        return self.source.path

    @cached_property
    def _record_lines(self) -> list[int]:
        reader = csv.reader(io.StringIO(self.source.text))
        lines = []
        start = 1
        for record in reader:
            if record:
                lines.append(start)
            start = reader.line_num + 1
        return lines[1:]  # the header is not a data row

    def line_of(self, row: int) -> int:
        """The physical line (1-based, header = 1) where data row ``row`` (0-based) starts."""
        lines = self._record_lines
        return lines[row] if row < len(lines) else row + 2

    def error(self, row: int, field: str | None, message: str) -> DataError:
        return data_error(self.path, message, self.line_of(row), field)


def read_csv(path: str | os.PathLike[str], required: Sequence[str], encoding: Encoding = "utf-8",
             need_rows: bool = True) -> CsvTable:
    """Read a CSV with a header; DataError on missing columns, malformed rows or (if ``need_rows``) no rows."""
    source = read_source(path, encoding)
    try:
        frame = pd.read_csv(io.StringIO(source.text), dtype=str, keep_default_na=False, na_filter=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error) as exc:
        raise data_error(source.path, f"malformed CSV: {str(exc).replace('Error tokenizing data. C error: ', '')}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise data_error(source.path, f"missing column{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(repr(c) for c in missing)} (found: {', '.join(frame.columns)})", 1)
    if need_rows and frame.empty:
        raise data_error(source.path, "has a header but no rows")
    return CsvTable(source, frame)


def iter_jsonl(source: SourceFile) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line; DataError on invalid JSON or a non-object."""
    for number, line in enumerate(source.text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise data_error(source.path, f"invalid JSON: {exc.msg} (column {exc.colno})", number) from None
        if not isinstance(value, dict):
            raise data_error(source.path, f"expected a JSON object, found {type(value).__name__}", number)
        yield number, value


def require_fields(path: Path, line: int, record: dict[str, Any], fields: Sequence[str]) -> None:
    """DataError naming the first of ``fields`` that the JSON ``record`` on ``line`` lacks."""
    for field in fields:
        if field not in record:
            raise data_error(path, f"missing field (fields: {', '.join(map(str, record)) or 'none'})", line, field)


def record_text(path: Path, line: int, field: str, value: Any, required: bool = True,
                numbers: bool = False) -> str | None:
    """A record's field as stripped text: DataError naming file, line and field for a null, empty (when
    ``required``; else None) or non-text value (numbers are read as text when ``numbers``)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise data_error(path, "is missing (null)" if value is None else "is empty", line, field)
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float) if numbers else str):
        raise data_error(path, f"expected text, found {type(value).__name__}", line, field)
    return str(value).strip()


RECORD_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
"""File name suffix → format of a record file (one record a CSV row or a JSON line; ``.gz`` allowed)."""


def record_file(path: str | os.PathLike[str], columns: dict[str, str | None]) -> tuple[Path, str]:
    """(path, ``csv`` or ``jsonl``) of a record file whose ``columns`` (option → column name; None = not
    used) must be distinct; DataError for another file type, LabError when two options name one column."""
    path = Path(path)
    suffix = plain_suffix(path)
    if suffix not in RECORD_FORMATS:
        raise data_error(path, f"unknown file type '{suffix or '(none)'}': expected .csv or .jsonl (or .gz of one)")
    named = {option: name for option, name in columns.items() if name}
    if len(set(named.values())) < len(named):
        raise LabError(f"{', '.join(named)} must name different columns, got {', '.join(named.values())}")
    return path, RECORD_FORMATS[suffix]
