"""Reading source files: encodings, CSV and JSON lines, with one-line errors naming file, line, field."""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import json
import os
import re
import zlib
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import pandas as pd

from ..errors import DataError, LabError

UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
CP1252_UNDEFINED = b"\x81\x8d\x8f\x90\x9d"
"""The five bytes Windows-1252 leaves undefined (Kaggle's Home Depot train.csv has 0x90 in mojibake)."""
CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
"""Control characters other than tab, line feed and carriage return: text decoded with the wrong
encoding (ISO-8859-1 turns Windows-1252 smart quotes into U+0093, U+0094) or not text at all."""
MAX_COLUMNS = 1_000
"""Widest CSV header read (pandas' cost grows with the square of the columns: 200,000 took minutes)."""
MAX_LINE_BYTES = 8 << 20
"""Longest physical line read (8 MiB): a record, not a file on one line."""
MEMORY_PER_BYTE = 10
"""Memory an import needs per byte of source (text, frames, parquet): a file larger than the available
memory / this is refused before it is read."""
MAX_MESSAGE_CHARS = 300
"""An error message (after the file, line and field) is cut to this, never echoing a whole header."""
_FORCED_ENCODING: ContextVar[str | None] = ContextVar("forced_encoding", default=None)


def codec_name(name: str) -> str:
    """The Python codec's canonical name for ``name`` (``latin-1`` → ``iso8859-1``); LabError if unknown."""
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise LabError(f"--encoding {name!r}: unknown encoding (e.g. utf-8, utf-16, cp1252, latin-1)") from None


@contextmanager
def forced_encoding(name: str | None) -> Iterator[None]:
    """Within the block, :func:`read_source` decodes every file as ``name`` (strictly) instead of
    detecting the encoding; None: detect."""
    token = _FORCED_ENCODING.set(codec_name(name) if name else None)
    try:
        yield
    finally:
        _FORCED_ENCODING.reset(token)


def data_error(path: str | os.PathLike[str], message: str, line: int | None = None,
               field: str | None = None) -> DataError:
    """A DataError whose one line reads ``path line N field 'f': message``."""
    where = str(path) + (f" line {line}" if line is not None else "") + (f" field '{field}'" if field else "")
    message = " ".join(message.split())
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[:MAX_MESSAGE_CHARS - 1] + "…"
    return DataError(f"{where}: {message}")


@dataclass
class SourceFile:
    """A source file's (decompressed) bytes, decoded text, the encoding used and the compression, if any."""

    path: Path
    data: bytes
    text: str
    encoding: str
    compression: str | None = None
    replaced: dict[str, Any] | None = None

    def describe(self) -> dict[str, Any]:
        """What the dataset's meta records about the file (bytes and sha256 of the content, decompressed,
        the encoding and, if any, the undefined bytes read as U+FFFD)."""
        return {"path": str(self.path), "bytes": len(self.data),
                "sha256": hashlib.sha256(self.data).hexdigest(), "encoding": self.encoding,
                **({"compression": self.compression} if self.compression else {}),
                **({"replaced_bytes": self.replaced} if self.replaced else {})}


GZIP_MAGIC = b"\x1f\x8b"


def plain_suffix(path: str | os.PathLike[str]) -> str:
    """The file name's suffix once a ``.gz`` is set aside, lower case (``corpus.jsonl.gz`` → ``.jsonl``)."""
    path = Path(path)
    return (path.with_suffix("") if path.suffix.lower() == ".gz" else path).suffix.lower()


def plain_stem(path: str | os.PathLike[str]) -> str:
    """The file name without its suffix once a ``.gz`` is set aside, lower case (``test.tsv.gz`` → ``test``)."""
    path = Path(path)
    return (path.with_suffix("") if path.suffix.lower() == ".gz" else path).stem.lower()


def _decompressed(path: Path, data: bytes, budget: int | None) -> tuple[bytes, str | None]:
    """``data`` gunzipped when it is gzip (by its magic bytes, whatever the name), else as it is;
    DataError when it unpacks to more than ``budget`` bytes."""
    if not data.startswith(GZIP_MAGIC):
        return data, None
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as file:
            plain = file.read(-1 if budget is None else budget + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise data_error(path, f"not a readable gzip file ({exc})") from None
    _check_budget(path, len(plain), budget, "unpacks to over ")
    return plain, "gzip"


def available_memory() -> int | None:
    """Bytes of memory available without swapping (Linux ``MemAvailable``); None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


def _byte_budget() -> int | None:
    """The largest source (in bytes) the available memory lets an import read; None when unknown."""
    available = available_memory()
    return None if available is None else available // MEMORY_PER_BYTE


def _check_budget(path: Path, size: int, budget: int | None, what: str = "") -> None:
    if budget is not None and size > budget:
        raise data_error(path, f"{what}{size:,} bytes, more than the {budget:,} an import can read with "
                               f"{budget * MEMORY_PER_BYTE / 1e9:.1f} GB of memory available "
                               f"(it needs about {MEMORY_PER_BYTE}x the file's size)")


def _check_line_lengths(path: Path, data: bytes) -> None:
    """DataError naming the first line longer than MAX_LINE_BYTES."""
    if len(data) <= MAX_LINE_BYTES:
        return
    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == ord("\n"))
    lengths = np.diff(np.concatenate(([-1], ends, [len(data)]))) - 1
    longest = np.flatnonzero(lengths > MAX_LINE_BYTES)
    if len(longest):
        raise data_error(path, f"{int(lengths[longest[0]]):,} bytes long, more than the {MAX_LINE_BYTES:,} bytes "
                               "a line may have", int(longest[0]) + 1)


def _line_at(data: bytes, offset: int) -> tuple[int, int]:
    line_start = data.rfind(b"\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1, offset - line_start + 1


def read_source(path: str | os.PathLike[str]) -> SourceFile:
    """Read and decode ``path`` (see :func:`decode`); DataError if it is missing, empty, binary,
    undecodable, holds control characters, or is larger than the memory or line bounds allow."""
    path, budget = Path(path), _byte_budget()
    try:
        _check_budget(path, path.stat().st_size, budget)
        data = path.read_bytes()
    except FileNotFoundError:
        raise data_error(path, "file not found") from None
    except OSError as exc:
        raise data_error(path, f"cannot read: {exc.strerror or exc}") from None
    data, compression = _decompressed(path, data, budget)
    _check_line_lengths(path, data)
    if not data.strip():
        raise data_error(path, "file is empty")
    text, encoding, replaced = decode(path, data, _FORCED_ENCODING.get())
    _refuse_control_characters(path, text, encoding)
    return SourceFile(path, data, text, encoding, compression, replaced)


def decode(path: Path, data: bytes, forced: str | None = None) -> tuple[str, str, dict[str, Any] | None]:
    """(text, encoding, replaced bytes or None): ``forced`` strictly, else detected — UTF-8 or UTF-16 by
    their byte-order mark, UTF-8 when valid, else Windows-1252 with its five undefined bytes as U+FFFD."""
    if data.startswith(UTF8_BOM) and forced in (None, "utf-8"):
        return _strict(path, data, "utf-8", len(UTF8_BOM)), "utf-8-sig", None
    if forced:
        return _strict(path, data, forced), forced, None
    if data.startswith(UTF16_BOMS):
        return _strict(path, data, "utf-16"), "utf-16", None
    if b"\x00" in data[:4096]:
        raise data_error(path, "has NUL bytes: binary, or UTF-16 without a byte-order mark "
                               "(pass --encoding utf-16-le or utf-16-be)")
    try:
        return data.decode("utf-8"), "utf-8", None
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace"), "cp1252", _undefined_bytes(data)


def _strict(path: Path, data: bytes, encoding: str, start: int = 0) -> str:
    """``data[start:]`` decoded; DataError naming the line and column of the first undecodable byte."""
    try:
        return data[start:].decode(encoding)
    except UnicodeDecodeError as exc:
        offset = start + exc.start
        line, column = _line_at(data, offset)
        label = "UTF-8" if encoding == "utf-8" else encoding
        raise data_error(path, f"not valid {label} (byte 0x{data[offset]:02x} at column {column})", line) from None


def _undefined_bytes(data: bytes) -> dict[str, Any] | None:
    """Where ``data`` holds bytes Windows-1252 leaves undefined: their count and the first one's place."""
    offsets = [i for i in (data.find(bytes([b])) for b in CP1252_UNDEFINED) if i >= 0]
    if not offsets:
        return None
    line, column = _line_at(data, min(offsets))
    return {"count": sum(data.count(bytes([b])) for b in CP1252_UNDEFINED), "first_line": line,
            "first_column": column, "policy": "bytes undefined in Windows-1252 read as U+FFFD"}


def _refuse_control_characters(path: Path, text: str, encoding: str) -> None:
    """DataError naming the line and column of the first control character (other than tab and line ends)."""
    found = CONTROL_CHARACTER.search(text)
    if found:
        start = found.start()
        line = text.count("\n", 0, start) + 1
        column = start - text.rfind("\n", 0, start)
        raise data_error(path, f"control character U+{ord(found.group()):04X} at column {column} when read as "
                               f"{encoding}: not text, or another encoding (pass --encoding)", line)


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


def read_csv(path: str | os.PathLike[str], required: Sequence[str], need_rows: bool = True) -> CsvTable:
    """Read a CSV with a header; DataError on missing columns, malformed rows or (if ``need_rows``) no rows."""
    source = read_source(path)
    _check_header_width(source)
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


def _check_header_width(source: SourceFile) -> None:
    """DataError when the CSV header has more than MAX_COLUMNS columns (checked before pandas parses it)."""
    end = source.text.find("\n")
    header = source.text if end < 0 else source.text[:end]
    if header.count(",") >= MAX_COLUMNS:
        columns = len(next(csv.reader([header]), []))
        if columns > MAX_COLUMNS:
            raise data_error(source.path, f"the header has {columns:,} columns, more than the {MAX_COLUMNS:,} "
                                          "a CSV file may have", 1)


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
