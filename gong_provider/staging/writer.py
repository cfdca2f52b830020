"""LDJSON writer: one object type per file, size-capped parts per generation, sha256 and sidecars.

Generation g holds the (g+1)-th occurrence of each objectId, in source order (see generations.py),
so no file ever holds two updates of one objectId and uploading generation after generation applies
them in order. Records are streamed to disk through a 1 MiB buffer per open part; sha256 is updated
per flushed buffer. Each part has a ``.sources.ldjson`` sidecar of run-length entries, in staged
order: ``{"staged": a, "count": n, "source": S, "line": c, "record": e}`` says staged lines a..a+n-1
came from lines c..c+n-1 (records e..e+n-1) of source S, so a block copied verbatim costs one entry;
a single normalized record's entry also carries its ``objectId`` (see locate.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import msgspec

from gong_provider.staging.manifest import STAGED_SUFFIX, StagedFile, sidecar_path
from gong_provider.staging.outdir import AtomicFile, OutputDir

FLUSH_BYTES = 1 << 20
_ENCODE = msgspec.json.Encoder().encode


@dataclass(frozen=True)
class Placement:
    """Where a record (or the first of a block) went: its part, byte offset and 1-based line there."""

    part: int
    offset: int
    line: int


@dataclass(frozen=True)
class Origin:
    """Where a staged record (or the first of a run of them) came from."""

    source: str
    line: int | None
    record: int
    object_id: str | None = None


def part_name(object_type: str, generation: int, part: int) -> str:
    return f"{object_type.lower()}-g{generation}-p{part}{STAGED_SUFFIX}"


def sources_name(object_type: str, generation: int, part: int) -> str:
    return sidecar_path(part_name(object_type, generation, part))


@dataclass
class _Part:
    generation: int
    part: int
    data: AtomicFile
    sources: AtomicFile
    buffer: bytearray = field(default_factory=bytearray)
    source_buffer: bytearray = field(default_factory=bytearray)
    size: int = 0
    records: int = 0
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)


class PartWriter:
    def __init__(self, folder: OutputDir, object_type: str, max_file_bytes: int) -> None:
        self.folder = folder
        self.object_type = object_type
        self.max_file_bytes = max_file_bytes
        self._open: dict[int, _Part] = {}
        self.files: list[StagedFile] = []

    def add(self, generation: int, line: bytes, origin: Origin) -> Placement:
        """Append one record (``line`` ends with a newline) to its generation's current part."""
        part = self._open.get(generation)
        if part is not None and part.size + len(line) > self.max_file_bytes:
            self._finish(part)
            part = self._start(generation, part.part + 1)
        elif part is None:
            part = self._start(generation, 0)
        placement = Placement(part.part, part.size, part.records + 1)
        part.source_buffer += _entry(part.records + 1, 1, origin)
        part.buffer += line
        part.size += len(line)
        part.records += 1
        if len(part.buffer) >= FLUSH_BYTES:
            self._flush(part)
        return placement

    def room(self, generation: int) -> int:
        """Bytes the current part of ``generation`` can still take."""
        part = self._open.get(generation)
        return self.max_file_bytes - (part.size if part is not None else 0)

    def add_block(self, generation: int, data: bytes, records: int, origin: Origin) -> Placement:
        """Append consecutive source lines at once (written straight through, no copy); the caller
        checked :meth:`room`."""
        part = self._open.get(generation) or self._start(generation, 0)
        placement = Placement(part.part, part.size, part.records + 1)
        part.source_buffer += _entry(part.records + 1, records, origin)
        self._flush(part)
        part.digest.update(data)
        part.data.write(data)
        part.size += len(data)
        part.records += records
        return placement

    def _start(self, generation: int, number: int) -> _Part:
        part = _Part(
            generation,
            number,
            self.folder.open_write(part_name(self.object_type, generation, number)),
            self.folder.open_write(sources_name(self.object_type, generation, number)),
        )
        self._open[generation] = part
        return part

    @staticmethod
    def _flush(part: _Part) -> None:
        if part.buffer:
            part.digest.update(part.buffer)
            part.data.write(part.buffer)
            part.buffer.clear()
        if part.source_buffer:
            part.sources.write(part.source_buffer)
            part.source_buffer.clear()

    def _finish(self, part: _Part) -> None:
        self._flush(part)
        part.data.commit()
        part.sources.commit()
        name = part_name(self.object_type, part.generation, part.part)
        self.files.append(
            StagedFile(
                path=self.folder.location(name),
                object_type=self.object_type,
                generation=part.generation,
                part=part.part,
                records=part.records,
                bytes=part.size,
                sha256=part.digest.hexdigest(),
                sources_path=self.folder.location(sources_name(self.object_type, part.generation, part.part)),
            )
        )

    def close(self) -> list[StagedFile]:
        for part in list(self._open.values()):
            self._finish(part)
        self._open.clear()
        self.files.sort(key=lambda f: (f.generation, f.part))
        return self.files

    def abort(self) -> None:
        for part in self._open.values():
            part.data.abort()
            part.sources.abort()
        self._open.clear()


def _entry(staged: int, count: int, origin: Origin) -> bytes:
    entry: dict[str, Any] = {
        "staged": staged,
        "count": count,
        "source": origin.source,
        "line": origin.line,
        "record": origin.record,
    }
    if count == 1 and origin.object_id is not None:
        entry["objectId"] = origin.object_id
    return _ENCODE(entry) + b"\n"
