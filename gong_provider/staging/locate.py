"""Map Gong's line errors (1-based lines of an uploaded file) back to the user's source records.

A sidecar holds run-length entries (see writer.py): ``{"staged": a, "count": n, "source", "line",
"record"}`` covers staged lines a..a+n-1; the objectId of a line in a run is read from the staged
line itself. Sidecars written before run-length entries (one entry per staged line, no ``staged``
key) are still understood.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass

import msgspec

from gong_provider.staging.manifest import StagedFile
from gong_provider.staging.outdir import open_location


@dataclass(frozen=True)
class RecordLocation:
    """Where a staged line came from (see :func:`locate_lines`)."""

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
    staged: int | None = None
    count: int = 1


class _StagedLine(msgspec.Struct):
    objectId: str | None = None


def _open_lines(path: str) -> Iterable[bytes]:
    with open_location(path) as handle:
        yield from handle


def _object_ids(path: str, numbers: set[int]) -> dict[int, str | None]:
    """The objectIds of some lines of a staged file."""
    decoder = msgspec.json.Decoder(_StagedLine)
    found: dict[int, str | None] = {}
    last = max(numbers, default=0)
    for number, raw in enumerate(_open_lines(path), start=1):
        if number > last:
            break
        if number in numbers:
            found[number] = decoder.decode(raw).objectId
    return found


def locate_lines(
    staged: StagedFile, lines: Iterable[int], *, object_ids: bool = True
) -> dict[int, RecordLocation]:
    """Where lines of a staged file came from; lines out of range are left out of the answer.

    ``object_ids=False`` skips reading the staged file for objectIds the sidecar does not hold (the
    caller has them), so only the small sidecar is read."""
    wanted = sorted({int(n) for n in lines if int(n) >= 1})
    found: dict[int, RecordLocation] = {}
    if not wanted:
        return found
    last = wanted[-1]
    if staged.sources_path:
        decoder = msgspec.json.Decoder(_SourceEntry)
        in_runs: set[int] = set()
        next_start = 1
        for raw in _open_lines(staged.sources_path):
            entry = decoder.decode(raw)
            start = entry.staged if entry.staged is not None else next_start
            if start > last:
                break
            next_start = start + entry.count
            for number in wanted[bisect_left(wanted, start) : bisect_left(wanted, next_start)]:
                offset = number - start
                record = entry.record + offset if entry.record is not None else None
                line = entry.line + offset if entry.line is not None else record
                object_id = entry.objectId if entry.count == 1 else None
                if entry.count != 1:
                    in_runs.add(number)
                found[number] = RecordLocation(object_id, entry.source, line, record)
        if in_runs and object_ids:
            for number, object_id in _object_ids(staged.path, in_runs).items():
                old = found[number]
                found[number] = RecordLocation(object_id, old.source, old.source_line, old.record)
        return found
    return {
        number: RecordLocation(object_id, staged.path, None, None)
        for number, object_id in _object_ids(staged.path, set(wanted)).items()
    }
