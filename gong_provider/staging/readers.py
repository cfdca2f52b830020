"""Readers: files (CSV, JSON Lines, JSON arrays; gzip; local or ObjectStoragePath) and iterables.

Every reader yields :class:`SourceRecord` items in source order. A record that cannot even be parsed
carries an ``error`` instead of a ``value``, so it is rejected with its file and line, never raised.
Readers stream: memory holds one block (1 MiB) and one record, whatever the file size.

Documented choices: a UTF-8 BOM at the start of a file is skipped; CRLF line ends are accepted; blank
lines (and blank CSV rows) are skipped and not counted as records; a line longer than
``max_line_bytes`` is rejected without being held in memory.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import inspect
import io
import json
import os
import re
import zlib
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any

import msgspec

from gong_provider.staging.errors import GongSourceError
from gong_provider.staging.location import is_object_storage_path
from gong_provider.utf8 import invalid_utf8_reason

HeaderCheck = Callable[[list[str], str], "str | None"]
"""Called with a CSV header and "file, line N" before any row is read: raises on a missing column,
returns the column that holds the objectId (to name it on rows that cannot be read)."""

BLOCK_SIZE = 1 << 20
DEFAULT_MAX_LINE_BYTES = 1 << 20
"""Longest input line accepted (1 MiB); a longer line is rejected without being held in memory."""
BOM = codecs.BOM_UTF8
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".ldjson")


@dataclass(frozen=True)
class SourceRecord:
    source: str
    line: int | None
    """1-based line of the record's start in a file (None for SQL rows and iterables)."""
    number: int
    """1-based ordinal of the record in its source."""
    value: Mapping[str, Any] | None
    error: str | None = None
    object_id: str | None = None
    """For a record that could not be parsed: the objectId found in its text, if any."""


_OBJECT_ID_HINT = re.compile(rb'"objectId"\s*:\s*"([^"\\]{1,200})"')


def object_id_hint(data: bytes) -> str | None:
    """The objectId of an unparseable line, when its text shows one plainly."""
    match = _OBJECT_ID_HINT.search(data)
    if not match:
        return None
    try:
        return match.group(1).decode("utf-8")
    except UnicodeDecodeError:
        return None


def source_name(source: Any) -> str:
    return os.fspath(source) if isinstance(source, (str, os.PathLike)) else str(source)


def open_binary(source: Any) -> IO[bytes]:
    """Open a path or ObjectStoragePath for reading, transparently un-gzipping."""
    name = source_name(source)
    try:
        raw: IO[bytes] = (
            source.open("rb") if is_object_storage_path(source) else open(os.fspath(source), "rb")  # noqa: SIM115 - closed by read_stream
        )
    except FileNotFoundError:
        raise GongSourceError(f"source file not found: {name}") from None
    except IsADirectoryError:
        raise GongSourceError(f"source is a folder, not a file: {name}") from None
    except OSError as error:
        raise GongSourceError(f"cannot open {name}: {error}") from None
    buffered = raw if hasattr(raw, "peek") else io.BufferedReader(raw)  # type: ignore[type-var]
    if buffered.peek(2)[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=buffered, mode="rb")  # type: ignore[return-value]
    return buffered


def detect_format(source: Any, head: bytes) -> str:
    """``csv``, ``jsonl`` or ``json`` (an array), from the name, else from the first bytes."""
    name = source_name(source).lower()
    if name.endswith(".gz"):
        name = name[:-3]
    if name.endswith((".csv", ".tsv")):
        return "csv"
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    body = head.removeprefix(BOM).lstrip(b" \t\r\n")
    if body[:1] == b"[":
        return "json"
    if body[:1] == b"{":
        first_line = body.split(b"\n", 1)[0]
        if name.endswith(".json") and parse_json_object(first_line.rstrip(b"\r"))[1] is not None:
            raise GongSourceError(
                f"{source_name(source)}: a .json file must hold a JSON array of objects "
                "(or one JSON object per line); this one holds a single multi-line object"
            )
        return "jsonl"
    return "json" if name.endswith(".json") else "csv"


def open_source(source: Any) -> tuple[IO[bytes], str, str]:
    """``(stream, name, format)`` of a path or ObjectStoragePath, opened and sniffed once."""
    name = source_name(source)
    stream = open_binary(source)
    try:
        try:
            head = stream.peek(HEAD_BYTES) if hasattr(stream, "peek") else b""
        except (OSError, EOFError, zlib.error) as error:
            raise GongSourceError(f"cannot read {name}: {error}") from None
        return stream, name, detect_format(source, head)
    except BaseException:
        stream.close()
        raise


def read_stream(
    stream: IO[bytes],
    name: str,
    fmt: str,
    *,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    check_header: HeaderCheck | None = None,
) -> Iterator[SourceRecord]:
    """The records of a stream from :func:`open_source`, which this closes."""
    try:
        if fmt == "csv":
            yield from read_csv(stream, name, max_line_bytes=max_line_bytes, check_header=check_header)
        elif fmt == "json":
            yield from read_json_array(stream, name, max_item_bytes=max_line_bytes)
        else:
            yield from read_jsonl(stream, name, max_line_bytes=max_line_bytes)
    except (OSError, EOFError, zlib.error) as error:
        raise GongSourceError(f"cannot read {name}: {error}") from None
    finally:
        stream.close()


def read_file(
    source: Any, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES, check_header: HeaderCheck | None = None
) -> Iterator[SourceRecord]:
    stream, name, fmt = open_source(source)
    return read_stream(stream, name, fmt, max_line_bytes=max_line_bytes, check_header=check_header)


HEAD_BYTES = 4096


class TooLong(bytes):
    """The first bytes of a line longer than ``max_line_bytes`` (the rest is skipped, never held)."""


def iter_lines(stream: IO[bytes], max_line_bytes: int) -> Iterator[tuple[int, bytes]]:
    """``(line number, bytes without the newline)``; a :class:`TooLong` head for an oversized line."""
    line_no = 0
    pending = bytearray()
    too_long = False
    head = b""
    while True:
        block = stream.read(BLOCK_SIZE)
        if not block:
            break
        start = 0
        while True:
            end = block.find(b"\n", start)
            if end < 0:
                if not too_long:
                    if len(pending) + len(block) - start > max_line_bytes:
                        too_long = True
                        head = bytes((pending + block[start : start + HEAD_BYTES])[:HEAD_BYTES])
                        pending.clear()
                    else:
                        pending += block[start:]
                break
            line_no += 1
            if too_long or len(pending) + end - start > max_line_bytes:
                if not too_long:
                    head = bytes((pending + block[start : start + HEAD_BYTES])[:HEAD_BYTES])
                yield line_no, TooLong(head)
                pending.clear()
            elif pending:
                pending += block[start:end]
                yield line_no, bytes(pending)
                pending.clear()
            else:
                yield line_no, block[start:end]
            too_long = False
            start = end + 1
    if too_long:
        yield line_no + 1, TooLong(head)
    elif pending:
        yield line_no + 1, bytes(pending)


_DECODER = msgspec.json.Decoder()


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return "null" if value is None else type(value).__name__


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _json_error(data: bytes, error: Exception) -> str:
    """msgspec's message, plus a hint for the common mistakes (Gong's own ``"status": OPEN``).

    Where the JSON breaks comes from the standard library's ``JSONDecodeError.pos``, not from
    msgspec's wording. ``data`` is valid UTF-8 here.
    """
    text = f"invalid JSON: {error}"
    line = data.decode("utf-8")
    try:
        json.loads(line)
    except json.JSONDecodeError as located:
        word = _WORD.match(line, located.pos)
        if word and line[: located.pos].rstrip()[-1:] in (":", ",", "["):
            value = word.group()
            return text + f' (the value {value} needs quotes: "{value}")'
    if not data.rstrip().endswith((b"}", b"]")):
        text += " (the line is cut off: truncated?)"
    return text


def parse_json_object(data: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """A JSON object, or the reason it is not one."""
    if b"\x00" in data:
        return None, "contains a NUL byte"
    try:
        value = _DECODER.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError) as error:
        return None, invalid_utf8_reason(data) or _json_error(data, error)
    if not isinstance(value, dict):
        return None, f"expected a JSON object, got {_json_type(value)}"
    return value, None


def jsonl_record(
    name: str, line_no: int, number: int, data: bytes, max_line_bytes: int
) -> SourceRecord | None:
    """One JSON Lines line as a record (``None`` for a blank line, which is skipped)."""
    if isinstance(data, TooLong) or len(data) > max_line_bytes:
        return SourceRecord(
            name,
            line_no,
            number,
            None,
            f"line longer than {max_line_bytes} bytes",
            object_id_hint(data[:HEAD_BYTES]),
        )
    if line_no == 1 and data.startswith(BOM):
        data = data[3:]
    if not data.strip():
        return None
    value, error = parse_json_object(data.rstrip(b"\r"))
    return SourceRecord(name, line_no, number, value, error, object_id_hint(data) if error else None)


def read_jsonl(
    stream: IO[bytes], name: str, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> Iterator[SourceRecord]:
    number = 0
    for line_no, data in iter_lines(stream, max_line_bytes):
        record = jsonl_record(name, line_no, number + 1, data, max_line_bytes)
        if record is not None:
            number += 1
            yield record


def _decoded_lines(
    stream: IO[bytes], max_line_bytes: int, bad: dict[int, str], blank_lines: set[int]
) -> Generator[str, None, None]:
    """Physical lines as text for the csv module; undecodable or oversized lines are noted in ``bad``."""
    for line_no, data in iter_lines(stream, max_line_bytes):
        if isinstance(data, TooLong):
            bad[line_no] = f"line longer than {max_line_bytes} bytes"
            yield "\n"
            continue
        if line_no == 1 and data.startswith(BOM):
            data = data[3:]
        if not data.strip():
            blank_lines.add(line_no)
        if b"\x00" in data:
            bad[line_no] = "contains a NUL byte"
            data = data.replace(b"\x00", b"")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:  # decoded once; the wording comes from the one UTF-8 rule
            bad.setdefault(line_no, invalid_utf8_reason(data) or "not valid UTF-8")
            text = data.decode("utf-8", "replace")
        yield text + "\n"


def read_csv(
    stream: IO[bytes],
    name: str,
    *,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    check_header: HeaderCheck | None = None,
) -> Iterator[SourceRecord]:
    """CSV with a header row; every value is text (normalized later by field type)."""
    bad: dict[int, str] = {}
    blank_lines: set[int] = set()
    delimiter = "\t" if name.lower().removesuffix(".gz").endswith(".tsv") else ","
    lines = _decoded_lines(stream, max_line_bytes, bad, blank_lines)
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    header: list[str] | None = None
    id_index: int | None = None
    number = 0
    last_line = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            first = last_line + 1
            # The lines ran out inside a quoted value (known without reading the csv module's wording).
            unclosed = inspect.getgeneratorstate(lines) == inspect.GEN_CLOSED
            hint = " (a quote opened on this line is never closed)" if unclosed else ""
            raise GongSourceError(f"{name}, line {first}: malformed CSV: {error}{hint}") from None
        first = last_line + 1
        while first in blank_lines:
            first += 1
        last_line = reader.line_num
        if not row or all(not cell.strip() for cell in row):
            continue
        if header is None:
            header = _header(row, name, first)
            if check_header is not None:
                id_column = check_header(header, f"{name}, line {first}")
                id_index = header.index(id_column) if id_column in header else None
            continue
        number += 1
        problem = next((bad[n] for n in range(first, last_line + 1) if n in bad), None)
        id_hint = row[id_index] if id_index is not None and id_index < len(row) else None
        if problem is not None:
            yield SourceRecord(name, first, number, None, problem, id_hint)
        elif len(row) != len(header):
            yield SourceRecord(
                name,
                first,
                number,
                None,
                f"ragged CSV row: {len(row)} values, the header has {len(header)} columns",
                id_hint,
            )
        else:
            yield SourceRecord(name, first, number, dict(zip(header, row, strict=True)))


def _header(row: list[str], name: str, line: int) -> list[str]:
    header = [cell.strip() for cell in row]
    if any(not cell for cell in header):
        raise GongSourceError(f"{name}, line {line}: the CSV header has an empty column name")
    seen: set[str] = set()
    for cell in header:
        if cell in seen:
            raise GongSourceError(f"{name}, line {line}: the CSV header names column {cell!r} twice")
        seen.add(cell)
    return header


_ARRAY_TOKEN = re.compile(rb'[\[\]{}",]')
_STRING_TOKEN = re.compile(rb'["\\]')


def read_json_array(
    stream: IO[bytes], name: str, *, max_item_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> Iterator[SourceRecord]:
    """A top-level JSON array of objects, split into items without loading the whole file.

    One scanner over the bytes (depth, inside a string or not, the item being captured); it stays a
    single loop because it runs once per token of the file."""
    depth = 0
    in_string = escaped = closed = False
    item = bytearray()
    item_too_big = False
    item_line = line = 1
    number = 0
    first_block = True
    while True:
        block = stream.read(BLOCK_SIZE)
        if not block:
            break
        if first_block:
            first_block = False
            block = _array_start(block, name)
        pos = 0
        counted = 0
        capture_from = 0 if depth >= 1 else -1
        size = len(block)
        while pos < size:
            if closed:
                rest = block[pos:].strip()
                if rest:
                    line += block.count(b"\n", counted, pos)
                    number += 1
                    yield SourceRecord(name, line, number, None, "unexpected content after the JSON array")
                    return
                break
            if in_string:
                if escaped:
                    escaped = False
                    pos += 1
                    continue
                match = _STRING_TOKEN.search(block, pos)
                if match is None:
                    pos = size
                    break
                pos = match.end()
                if match.group() == b"\\":
                    escaped = True
                else:
                    in_string = False
                continue
            match = _ARRAY_TOKEN.search(block, pos)
            if match is None:
                pos = size
                break
            token, at = match.group(), match.start()
            pos = match.end()
            if token == b'"':
                in_string = True
            elif token in (b"{", b"["):
                depth += 1
                if depth == 1:
                    capture_from = pos
                    line += block.count(b"\n", counted, pos)
                    counted = pos
                    item_line = line
            elif token in (b"}", b"]"):
                depth -= 1
                if depth == 0:
                    item_too_big = _append(item, block, capture_from, at, max_item_bytes, item_too_big)
                    line += block.count(b"\n", counted, at)
                    counted = at
                    if item.strip() or number:
                        number += 1
                        yield _array_item(name, item, item_line, number, item_too_big, max_item_bytes)
                    item.clear()
                    item_too_big = False
                    closed = True
                    capture_from = -1
            elif token == b"," and depth == 1:
                item_too_big = _append(item, block, capture_from, at, max_item_bytes, item_too_big)
                line += block.count(b"\n", counted, at)
                counted = at
                number += 1
                yield _array_item(name, item, item_line, number, item_too_big, max_item_bytes)
                item.clear()
                item_too_big = False
                capture_from = pos
                item_line = line
        if capture_from >= 0 and depth >= 1:
            item_too_big = _append(item, block, capture_from, size, max_item_bytes, item_too_big)
        line += block.count(b"\n", counted, size)
    if first_block:
        return
    if not closed:
        yield _unclosed_array(name, bytes(item), item_line, number + 1)


def _array_start(block: bytes, name: str) -> bytes:
    """The first block of a JSON array file, without its BOM; anything but '[' first is refused."""
    if block.startswith(BOM):
        block = block[3:]
    if block.lstrip()[:1] != b"[":
        raise GongSourceError(f"{name}: not a JSON array (expected '[' at the start)")
    return block


def _unclosed_array(name: str, partial: bytes, item_line: int, number: int) -> SourceRecord:
    """The reject for a file that ends inside the array: its last, partial item."""
    return SourceRecord(
        name,
        item_line + partial[: len(partial) - len(partial.lstrip())].count(b"\n"),
        number,
        None,
        "the JSON array is not closed with ']' (the file is cut off?)",
        object_id_hint(partial),
    )


def _append(item: bytearray, block: bytes, start: int, end: int, limit: int, too_big: bool) -> bool:
    if too_big or start < 0:
        return too_big
    if len(item) + end - start > limit:
        item.clear()
        return True
    item += block[start:end]
    return False


def _array_item(
    name: str, item: bytearray, line: int, number: int, too_big: bool, limit: int
) -> SourceRecord:
    """One array item; like a JSON Lines line, a bad item is rejected and the others go on (the
    splitter finds item boundaries outside strings, so one bad item cannot shift the next)."""
    data = bytes(item)
    stripped = data.lstrip()
    item_line = line + data[: len(data) - len(stripped)].count(b"\n")
    if too_big:
        return SourceRecord(name, line, number, None, f"array item longer than {limit} bytes")
    if not stripped.strip():
        return SourceRecord(name, item_line, number, None, "empty array item (a trailing comma?)")
    value, error = parse_json_object(stripped.strip())
    return SourceRecord(name, item_line, number, value, error, object_id_hint(data) if error else None)


def read_iterable(records: Iterable[Any], name: str = "records") -> Iterator[SourceRecord]:
    """Records produced by code (an upstream task, a generator); each must be a mapping."""
    for number, value in enumerate(records, start=1):
        if isinstance(value, Mapping):
            yield SourceRecord(name, None, number, value)
        else:
            yield SourceRecord(name, None, number, None, f"expected a mapping, got {type(value).__name__}")
