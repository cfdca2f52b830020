"""Orchestration: source -> map -> normalize -> validate -> rejects / generations -> LDJSON + manifest."""

from __future__ import annotations

import logging
import os
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, Protocol

import msgspec

from gong_provider.limits import MAX_UPLOAD_FILE_BYTES
from gong_provider.models import CustomField, ObjectType
from gong_provider.staging.errors import GongRejectLimitError, GongSourceError, rejects_exceed
from gong_provider.staging.fastpath import FastBlock, FastChecker, iter_blocks
from gong_provider.staging.field_names import DEFAULT_UNKNOWN_FIELDS, UnknownFieldsPolicy
from gong_provider.staging.generations import Generations
from gong_provider.staging.location import is_object_storage_path, resolve_location
from gong_provider.staging.manifest import MANIFEST_NAME, StagedFile, StagingManifest
from gong_provider.staging.outdir import OutputDir
from gong_provider.staging.readers import (
    DEFAULT_MAX_LINE_BYTES,
    HeaderCheck,
    SourceRecord,
    TooLong,
    jsonl_record,
    open_source,
    read_file,
    read_iterable,
    read_stream,
    source_name,
)
from gong_provider.staging.sql import SqlSource
from gong_provider.staging.validator import Reason, RecordValidator
from gong_provider.staging.writer import Origin, PartWriter, Placement

if TYPE_CHECKING:
    from gong_provider.staging.references import ReferenceCollector

log = logging.getLogger(__name__)

MULTIPART_ENVELOPE_MARGIN = 1_000_000
DEFAULT_MAX_FILE_BYTES = MAX_UPLOAD_FILE_BYTES - MULTIPART_ENVELOPE_MARGIN
"""199,000,000: Gong's limit (``MAX_UPLOAD_FILE_BYTES``) minus a 1 MB margin for the multipart
envelope (boundary, headers) the upload adds."""
REJECTS_NAME = "rejects.ldjson"
"""The rejects file in each type's folder: one line per rejected record."""
FIRST_REJECTS_KEPT = 20
PROGRESS_EVERY = 10_000

StagingSource = SqlSource | str | os.PathLike[str] | Iterable[Mapping[str, Any]] | Any
ProgressCallback = Callable[[int], None]
Event = tuple[SourceRecord, "dict[str, Any] | None", "Reject | None", int]
"""``(source record, normalized record or None, reject or None, generation)``."""


class StagingTap(Protocol):
    """Sees every staged line and every reject as :func:`~gong_provider.staging.stage` writes them
    (change capture uses it to diff while staging, with no second pass over the files). Lines end
    with a newline."""

    def block(self, generation: int, placement: Placement, data: bytes, object_ids: Sequence[str]) -> None:
        """Consecutive lines written at once at ``placement`` of ``generation``."""

    def record(self, generation: int, placement: Placement, line: bytes, object_id: str) -> None:
        """One line written at ``placement`` of ``generation``."""

    def reject(self, object_id: str | None) -> None:
        """A rejected record; ``None`` when its objectId could not be read."""


@dataclass(frozen=True)
class Reject:
    """One rejected record: its source, line, ordinal, objectId and every reason with its field."""

    source: str
    line: int | None
    record: int
    object_id: str | None
    reasons: list[Reason]

    def to_dict(self) -> dict[str, Any]:
        """A line of ``rejects.ldjson``."""
        return {
            "source": self.source,
            "line": self.line,
            "record": self.record,
            "objectId": self.object_id,
            "reasons": [r.to_dict() for r in self.reasons],
        }

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any]) -> Reject:
        """A reject as :meth:`to_dict` wrote it (a line of ``rejects.ldjson``)."""
        reasons = [Reason(r.get("field"), r["message"]) for r in entry["reasons"]]
        return cls(entry["source"], entry.get("line"), entry["record"], entry.get("objectId"), reasons)

    def __str__(self) -> str:
        where = (
            f"{self.source}, line {self.line}"
            if self.line is not None
            else f"{self.source}, record {self.record}"
        )
        who = f" objectId {self.object_id}" if self.object_id else ""
        return f"{where}{who}: " + "; ".join(str(r) for r in self.reasons)


@dataclass
class ValidationReport:
    """What :func:`validate` found, without writing anything."""

    object_type: str
    source: str
    records_read: int = 0
    records_valid: int = 0
    records_rejected: int = 0
    generations: int = 0
    max_reject_ratio: float = 0.0
    first_rejects: list[Reject] = field(default_factory=list)

    @property
    def reject_ratio(self) -> float:
        return self.records_rejected / self.records_read if self.records_read else 0.0

    @property
    def ok(self) -> bool:
        """True when the rejects are within ``max_reject_ratio`` (as :func:`stage` would accept them)."""
        return not rejects_exceed(self.records_rejected, self.records_read, self.max_reject_ratio)


def records_of(
    source: StagingSource,
    *,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    check_header: HeaderCheck | None = None,
) -> Iterator[SourceRecord]:
    """The records of any supported source, in order."""
    if isinstance(source, SqlSource):
        return source.records()
    if isinstance(source, (str, os.PathLike)) or is_object_storage_path(source):
        return read_file(resolve_location(source), max_line_bytes=max_line_bytes, check_header=check_header)
    if isinstance(source, (bytes, bytearray, Mapping)):
        raise TypeError(f"cannot stage a {type(source).__name__}: give a path, a SqlSource or an iterable")
    return read_iterable(source)


class _Run:
    """One pass over a source: checks records and assigns generations."""

    def __init__(
        self,
        source: StagingSource,
        object_type: ObjectType | str,
        *,
        mapping: Mapping[str, str] | None,
        timezone: str,
        custom_fields: Sequence[CustomField] | None,
        max_line_bytes: int,
        progress: ProgressCallback | None,
        unknown_fields: UnknownFieldsPolicy = DEFAULT_UNKNOWN_FIELDS,
    ) -> None:
        self.object_type = ObjectType(str(object_type))
        self.validator = RecordValidator(
            self.object_type,
            timezone=timezone,
            mapping=mapping,
            custom_fields=custom_fields,
            unknown_fields=unknown_fields,
        )
        self.source = source
        self.source_label = str(source) if isinstance(source, SqlSource) else _label(source)
        self.max_line_bytes = max_line_bytes
        self.progress = progress
        self.generations = Generations()
        self.fast = not mapping and not custom_fields  # no custom field values to check
        self.read = 0
        self.rejected = 0
        self.sources: list[str] = []

    def __iter__(self) -> Iterator[Event | FastBlock]:
        """Per-record events, or whole blocks of already-valid JSON Lines (the fast path)."""
        check_header = self.validator.check_columns
        if self.fast and _is_file(self.source):
            stream, name, fmt = open_source(resolve_location(self.source))
            if fmt == "jsonl":
                yield from self._fast_blocks(stream, name)
                return
            records = read_stream(
                stream, name, fmt, max_line_bytes=self.max_line_bytes, check_header=check_header
            )
        else:
            records = records_of(self.source, max_line_bytes=self.max_line_bytes, check_header=check_header)
        for item in records:
            yield self._event(item)
        if self.progress is not None:
            self.progress(self.read)

    def _event(self, item: SourceRecord) -> Event:
        if item.source not in self.sources:
            self.sources.append(item.source)
        self.read += 1
        if self.progress is not None and self.read % PROGRESS_EVERY == 0:
            self.progress(self.read)
        if item.value is None:
            self.rejected += 1
            reason = Reason(None, item.error or "")
            return item, None, Reject(item.source, item.line, item.number, item.object_id, [reason]), 0
        checked = self.validator.check(item.value)
        if checked.record is None:
            self.rejected += 1
            return (
                item,
                None,
                Reject(item.source, item.line, item.number, checked.object_id, checked.reasons),
                0,
            )
        return item, checked.record, None, self.generations.assign(checked.record["objectId"])

    def reject_too_big(
        self, source: str, line: int | None, record: int, object_id: str, size: int, max_file_bytes: int
    ) -> Reject:
        """Reject a valid record whose staged line would not fit in a file, undoing its generation."""
        self.generations.release(object_id)
        self.rejected += 1
        reason = Reason(None, f"record is {size} bytes, more than max_file_bytes={max_file_bytes}")
        return Reject(source, line, record, object_id, [reason])

    def _fast_blocks(self, stream: IO[bytes], name: str) -> Iterator[Event | FastBlock]:
        checker = FastChecker(self.validator.spec, self.validator.names)
        number = 0
        first = True
        self.sources.append(name)
        try:
            for line_no, block, count in iter_blocks(stream, self.max_line_bytes):
                checked = (
                    None
                    if isinstance(block, TooLong)
                    else checker.check(block, first_block=first, lines=count)
                )
                first = False
                if checked is not None:
                    records, object_ids = checked
                    fast = FastBlock(
                        line_no, number + 1, block, object_ids, self.generations.assign_all(object_ids)
                    )
                    number += len(records)
                    before, self.read = self.read, self.read + len(records)
                    if self.progress is not None and before // PROGRESS_EVERY != self.read // PROGRESS_EVERY:
                        self.progress(self.read)
                    yield fast
                    continue
                lines = [block] if isinstance(block, TooLong) else block.split(b"\n")[:-1]
                for offset, data in enumerate(lines):
                    item = jsonl_record(name, line_no + offset, number + 1, data, self.max_line_bytes)
                    if item is not None:
                        number += 1
                        yield self._event(item)
        except (OSError, EOFError, zlib.error) as error:
            raise GongSourceError(f"cannot read {name}: {error}") from None
        finally:
            stream.close()
        if self.progress is not None:
            self.progress(self.read)


def _is_file(source: Any) -> bool:
    return isinstance(source, (str, os.PathLike)) or is_object_storage_path(source)


def _label(source: Any) -> str:
    return source_name(source) if _is_file(source) else "records"


def timezone_argument(timezone: str | None, timezone_name: str | None) -> str:
    """The zone of ``timezone=`` or ``timezone_name=`` (the same option under both names), UTC when
    neither is given; both, when they differ, is an error rather than a silent pick."""
    if timezone and timezone_name and timezone != timezone_name:
        raise ValueError(f"timezone={timezone!r} and timezone_name={timezone_name!r}: give one")
    return timezone or timezone_name or "UTC"


def _check_options(max_reject_ratio: float, max_file_bytes: int) -> None:
    if not 0.0 <= max_reject_ratio <= 1.0:
        raise ValueError(f"max_reject_ratio must be between 0 and 1, got {max_reject_ratio}")
    if not 0 < max_file_bytes <= DEFAULT_MAX_FILE_BYTES:
        raise ValueError(
            f"max_file_bytes must be between 1 and {DEFAULT_MAX_FILE_BYTES} "
            f"(Gong's 200 MB limit minus the multipart envelope), got {max_file_bytes}"
        )


def _start_run(
    source: StagingSource,
    object_type: ObjectType | str,
    *,
    mapping: Mapping[str, str] | None,
    timezone: str | None,
    timezone_name: str | None,
    max_reject_ratio: float,
    max_file_bytes: int,
    custom_fields: Sequence[CustomField] | None,
    max_line_bytes: int,
    progress: ProgressCallback | None,
    unknown_fields: UnknownFieldsPolicy,
) -> _Run:
    """The options :func:`stage` and :func:`validate` share, checked, and the pass they start."""
    _check_options(max_reject_ratio, max_file_bytes)
    return _Run(
        source,
        object_type,
        mapping=mapping,
        timezone=timezone_argument(timezone, timezone_name),
        custom_fields=custom_fields,
        max_line_bytes=max_line_bytes,
        progress=progress,
        unknown_fields=unknown_fields,
    )


class _RejectsFile:
    """``rejects.ldjson`` while staging: every reject a line, the first few kept for the error."""

    def __init__(self, folder: OutputDir, encoder: msgspec.json.Encoder, tap: StagingTap | None) -> None:
        self.file = folder.open_write(REJECTS_NAME)
        self.encoder = encoder
        self.tap = tap
        self.first: list[Reject] = []

    def write(self, reject: Reject) -> None:
        self.file.write(self.encoder.encode(reject.to_dict()) + b"\n")
        if len(self.first) < FIRST_REJECTS_KEPT:
            self.first.append(reject)
        if self.tap is not None:
            self.tap.reject(reject.object_id)


def stage(
    source: StagingSource,
    *,
    object_type: ObjectType | str,
    out_dir: str | os.PathLike[str] | Any,
    mapping: Mapping[str, str] | None = None,
    timezone: str | None = None,
    max_reject_ratio: float = 0.0,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    custom_fields: Sequence[CustomField] | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    progress: ProgressCallback | None = None,
    unknown_fields: UnknownFieldsPolicy = DEFAULT_UNKNOWN_FIELDS,
    timezone_name: str | None = None,
    tap: StagingTap | None = None,
    plan_token: str | None = None,
) -> StagingManifest:
    """Stage ``source`` into ``<out_dir>/<OBJECT_TYPE>/``, replacing what a previous run wrote there.

    ``timezone`` (or its other name ``timezone_name``, as :func:`~gong_provider.changes.stage_changes`
    also takes it) is the zone naive values are read in, UTC by default. A key that is neither a
    standard field of the type nor a custom field of ``custom_fields`` rejects its record, or is
    kept with a logged warning when ``unknown_fields="warn"``.

    Raises :class:`GongRejectLimitError` when rejects exceed ``max_reject_ratio``; the staged files,
    the rejects file and the manifest are written first, so the user can read them. ``tap`` (see
    :class:`~gong_provider.staging.pipeline.StagingTap`) is shown every staged line and reject as it
    is written. ``plan_token`` is change capture's (the plan these files are staged for), recorded in
    the manifest and part of the files' clientRequestIds; plain staging leaves it None.
    """
    run = _start_run(
        source,
        object_type,
        mapping=mapping,
        timezone=timezone,
        timezone_name=timezone_name,
        max_reject_ratio=max_reject_ratio,
        max_file_bytes=max_file_bytes,
        custom_fields=custom_fields,
        max_line_bytes=max_line_bytes,
        progress=progress,
        unknown_fields=unknown_fields,
    )
    kind = run.object_type.value
    folder = OutputDir(out_dir).child(kind)
    folder.mkdir()
    folder.remove(MANIFEST_NAME)  # un-commit the previous run before touching its files
    writer = PartWriter(folder, kind, max_file_bytes)
    encoder = msgspec.json.Encoder()
    rejects = _RejectsFile(folder, encoder, tap)
    staged = 0
    try:
        for event in run:
            if isinstance(event, FastBlock):
                staged += _stage_block(event, run, writer, rejects, tap, max_file_bytes)
                continue
            # one record: kept inline, as this loop runs once per record off the fast path
            item, record, reject, generation = event
            if record is not None:
                line = encoder.encode(record) + b"\n"
                if len(line) <= max_file_bytes:
                    origin = Origin(item.source, item.line, item.number, record["objectId"])
                    placement = writer.add(generation, line, origin)
                    if tap is not None:
                        tap.record(generation, placement, line, record["objectId"])
                    staged += 1
                    continue
                reject = run.reject_too_big(
                    item.source, item.line, item.number, record["objectId"], len(line), max_file_bytes
                )
            assert reject is not None
            rejects.write(reject)
        files = writer.close()
    except BaseException:
        writer.abort()
        rejects.file.abort()
        raise
    manifest = _publish_manifest(folder, run, files, staged, rejects, plan_token)
    if rejects_exceed(run.rejected, run.read, max_reject_ratio):
        raise GongRejectLimitError(
            object_type=kind,
            records_read=run.read,
            records_rejected=run.rejected,
            max_reject_ratio=max_reject_ratio,
            rejects_path=manifest.rejects_path,
            first_rejects=[str(r) for r in rejects.first[:5]],
        )
    return manifest


def _stage_block(
    event: FastBlock,
    run: _Run,
    writer: PartWriter,
    rejects: _RejectsFile,
    tap: StagingTap | None,
    max_file_bytes: int,
) -> int:
    """Write a block of valid lines (the fast path): whole when it fits its part and is all of
    generation 0, else line by line; returns how many lines were staged."""
    source = run.sources[-1]
    count = len(event.object_ids)
    if event.generations is None and len(event.data) <= writer.room(0):
        placement = writer.add_block(
            0, event.data, count, Origin(source, event.first_line, event.first_record)
        )
        if tap is not None:
            tap.block(0, placement, event.data, event.object_ids)
        return count
    staged = 0
    generations = event.generations or [0] * count
    rows = zip(event.lines(), event.object_ids, generations, strict=True)
    for offset, (data, object_id, number) in enumerate(rows):
        if len(data) <= max_file_bytes:
            origin = Origin(source, event.first_line + offset, event.first_record + offset, object_id)
            placement = writer.add(number, data, origin)
            if tap is not None:
                tap.record(number, placement, data, object_id)
            staged += 1
            continue
        too_big = run.reject_too_big(
            source,
            event.first_line + offset,
            event.first_record + offset,
            object_id,
            len(data),
            max_file_bytes,
        )
        rejects.write(too_big)
    return staged


def _publish_manifest(
    folder: OutputDir,
    run: _Run,
    files: list[StagedFile],
    staged: int,
    rejects: _RejectsFile,
    plan_token: str | None,
) -> StagingManifest:
    """Keep the rejects file when there were rejects, then commit the run by writing its manifest."""
    if run.rejected:
        rejects.file.commit()
    else:
        rejects.file.abort()
    kind = run.object_type.value
    manifest = StagingManifest(
        object_type=kind,
        files=files,
        records_read=run.read,
        records_staged=staged,
        records_rejected=run.rejected,
        rejects_path=folder.location(REJECTS_NAME) if run.rejected else None,
        sources=run.sources or [run.source_label],
        plan_token=plan_token,
    )
    manifest.publish(folder, also_keep=[REJECTS_NAME] if run.rejected else [])
    log.info(
        "Staged %s: read %s, staged %s, rejected %s, %s file(s) in %s generation(s)",
        kind,
        run.read,
        staged,
        run.rejected,
        len(files),
        len(manifest.generations),
    )
    return manifest


def validate(
    source: StagingSource,
    *,
    object_type: ObjectType | str,
    mapping: Mapping[str, str] | None = None,
    timezone: str | None = None,
    max_reject_ratio: float = 0.0,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    custom_fields: Sequence[CustomField] | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    progress: ProgressCallback | None = None,
    unknown_fields: UnknownFieldsPolicy = DEFAULT_UNKNOWN_FIELDS,
    timezone_name: str | None = None,
    keep_rejects: int = FIRST_REJECTS_KEPT,
    references: ReferenceCollector | None = None,
) -> ValidationReport:
    """Check a source as :func:`stage` would, writing nothing; never raises for rejected records.

    ``references`` is shown every valid record (see ``gong_provider.staging.references``)."""
    run = _start_run(
        source,
        object_type,
        mapping=mapping,
        timezone=timezone,
        timezone_name=timezone_name,
        max_reject_ratio=max_reject_ratio,
        max_file_bytes=max_file_bytes,
        custom_fields=custom_fields,
        max_line_bytes=max_line_bytes,
        progress=progress,
        unknown_fields=unknown_fields,
    )
    report = ValidationReport(run.object_type.value, run.source_label, max_reject_ratio=max_reject_ratio)
    encoder = msgspec.json.Encoder()
    for event in run:
        if isinstance(event, FastBlock):
            rejects = _too_big_in_block(event, run, max_file_bytes)
            report.records_valid += len(event.object_ids) - len(rejects)
            if references is not None:
                references.add_lines(event.data, event.object_ids, run.sources[-1], event.first_line)
            report.first_rejects += rejects[: keep_rejects - len(report.first_rejects)]
            continue
        item, record, reject, _generation = event
        if record is not None:
            size = len(encoder.encode(record)) + 1
            if size <= max_file_bytes:
                report.records_valid += 1
                if references is not None:
                    references.add_record(record, item.source, item.line)
                continue
            reject = run.reject_too_big(
                item.source, item.line, item.number, record["objectId"], size, max_file_bytes
            )
        if reject is not None and len(report.first_rejects) < keep_rejects:
            report.first_rejects.append(reject)
    report.records_read = run.read
    report.records_rejected = run.rejected
    report.generations = run.generations.count
    return report


def _too_big_in_block(event: FastBlock, run: _Run, max_file_bytes: int) -> list[Reject]:
    """The lines of a fast-path block that would not fit in a file, rejected."""
    if len(event.data) <= max_file_bytes:  # no line of the block can be too big
        return []
    sizes = map(len, event.lines())
    return [
        run.reject_too_big(
            run.sources[-1],
            event.first_line + offset,
            event.first_record + offset,
            event.object_ids[offset],
            size,
            max_file_bytes,
        )
        for offset, size in enumerate(sizes)
        if size > max_file_bytes
    ]
