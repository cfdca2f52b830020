"""Map Gong's line errors (1-based lines of an uploaded file) back to the user's source records."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import msgspec

from gong_provider.staging.manifest import StagedFile
from gong_provider.staging.outdir import OutputDir


@dataclass(frozen=True)
class RecordLocation:
    object_id: str | None
    source: str
    source_line: int | None
    """The line in the source file; for SQL rows and iterables, the 1-based row number."""
    record: int | None = None
    """1-based ordinal of the record in its source."""

    def __str__(self) -> str:
        where = self.source if self.source_line is None else f"{self.source}, line {self.source_line}"
        return f"objectId {self.object_id} ({where})" if self.object_id else where


class _SourceEntry(msgspec.Struct):
    source: str = ""
    line: int | None = None
    record: int | None = None
    objectId: str | None = None


def _open_lines(path: str) -> Iterable[bytes]:
    folder, _, name = path.rpartition("/")
    handle = OutputDir(folder).open_read(name)
    with handle:
        yield from handle


def locate_lines(staged: StagedFile, lines: Iterable[int]) -> dict[int, RecordLocation]:
    """Where lines of a staged file came from; lines out of range are left out of the answer."""
    wanted = {int(n) for n in lines if int(n) >= 1}
    found: dict[int, RecordLocation] = {}
    if not wanted:
        return found
    last = max(wanted)
    if staged.sources_path:
        decoder = msgspec.json.Decoder(_SourceEntry)
        for number, raw in enumerate(_open_lines(staged.sources_path), start=1):
            if number > last:
                break
            if number in wanted:
                entry = decoder.decode(raw)
                line = entry.line if entry.line is not None else entry.record
                found[number] = RecordLocation(entry.objectId, entry.source, line, entry.record)
        return found
    for number, raw in enumerate(_open_lines(staged.path), start=1):
        if number > last:
            break
        if number in wanted:
            object_id = msgspec.json.decode(raw).get("objectId")
            found[number] = RecordLocation(object_id, staged.path, None, None)
    return found
