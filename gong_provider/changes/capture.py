"""Stage, then keep only what Gong has not confirmed: the diff against the state, and the upload files.

While :func:`gong_provider.staging.stage` writes the staged files, a tap routes every staged line's
key, digest and place (generation, part, line, byte offset) into one of the state's hash buckets,
spilling to local temporary files past a bound. Then, one bucket at a time, the diff classifies each
objectId by its last occurrence: unchanged (its digest is what Gong confirmed), new, changed, pending
(never confirmed: always sent), or rejected by staging (kept pending, never deleted); in mirror mode
the live keys absent from the source become deletes. Finally the selected lines (every occurrence
of a selected objectId, so generations stay whole) are copied from the staged files into the upload
files, with sidecars that still point at the user's source lines, and deletes go to files of their
own. When most records must go anyway (or the state is rebuilt), the staged files are uploaded as
they are instead of being copied.

Before returning, the plan (what was sent, where, and what a commit must apply) is written under the
state location: it is the in-flight marker a later run recovers if this one dies before committing.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
from array import array
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import accumulate, compress, repeat
from operator import add, lshift, not_
from typing import Any

import msgspec

from gong_provider.changes.errors import GongDeleteGuardError
from gong_provider.changes.modes import DEFAULT_MAX_DELETE_RATIO, SYNC_MODES, SyncMode
from gong_provider.changes.state import (
    BUCKET_MASK,
    BUCKETS,
    LIVE,
    PENDING,
    TOMBSTONE,
    StateHead,
    StateStore,
    digest_of,
    key_of,
    state_fingerprint,
)
from gong_provider.changes.state import hash64 as _hash
from gong_provider.models import CustomField, ObjectType
from gong_provider.staging.fastpath import iter_blocks
from gong_provider.staging.locate import locate_lines
from gong_provider.staging.manifest import MANIFEST_NAME, StagedFile, StagingManifest
from gong_provider.staging.outdir import OutputDir, open_location
from gong_provider.staging.pipeline import DEFAULT_MAX_FILE_BYTES, StagingSource, StagingTap, stage
from gong_provider.staging.readers import DEFAULT_MAX_LINE_BYTES
from gong_provider.staging.taps import tee
from gong_provider.staging.writer import Origin, PartWriter, Placement

log = logging.getLogger(__name__)

UPLOAD_FOLDER = "upload"
SPILL_ENTRIES = 1 << 19
"""Tap entries (32 bytes each) held in memory before they are spilled to temporary files (16 MB)."""
SENT_SPILL_ENTRIES = 100_000
"""Sent-log entries (tuples, ~200 bytes each) held before they are spilled (~20 MB)."""
DENSE_SHARE = 0.5
DENSE_MIN_RECORDS = 100_000
"""When more than half of at least this many staged records must be sent, the staged files are
uploaded as they are (the unchanged records go too, harmlessly: Gong upserts by objectId): copying
most of a large file costs more, and the sorted selection would need ~45 bytes per line."""
REJECTED = 0
"""Digest that marks a staging reject in the tap (a real line's xxh3 is 0 once in 2**64)."""
_NO_PLACE = (1 << 64) - 1

SENT_UPSERT = 0
SENT_DELETED_RECORD = 1
"""The source's own ``isDeleted: true`` record: confirmed, it becomes a tombstone."""
SENT_MIRROR_DELETE = 2
SENT_WITHHELD_DELETE = 3
"""A mirror delete the guard withheld, written apart (``ChangePlan.withheld_files``): applied only
when those files are uploaded after an approval (see ``gong_provider.changes.approval``)."""


class _Line(msgspec.Struct):
    objectId: str
    isDeleted: bool | None = None


@dataclass
class ChangeCounts:
    """Per objectId (its last occurrence in the source), except ``records_uploaded``."""

    new: int = 0
    changed: int = 0
    unchanged: int = 0
    pending_retried: int = 0
    rejected: int = 0
    """Staging rejects with a readable objectId: kept pending, never deleted."""
    deleted: int = 0
    """Mirror deletes written to the upload files."""
    deletes_withheld: int = 0
    records_uploaded: int = 0
    """Lines in the upload files (every generation, deletes included)."""


@dataclass
class ChangePlan:
    """What one run of one type sends, and what its commit applies (JSON-ready for XCom)."""

    object_type: str
    integration_id: str
    state_base: str
    run_token: str
    run_key: str
    mode: str
    base_generation: int | None
    """The state generation diffed against (None: no state); a commit on another fails."""
    fingerprint: str
    rebuild: bool
    """Everything sent, no delete inferred, the new state built from this run's confirmations only."""
    rebuild_reason: str | None
    manifest: StagingManifest
    """The upload files (upserts by generation, then deletes in generation 0)."""
    delete_files: list[str] = field(default_factory=list)
    counts: ChangeCounts = field(default_factory=ChangeCounts)
    guard: str | None = None
    """Why deletes were withheld (the type fails after its upserts are committed), if they were."""
    plan_files: list[str] = field(default_factory=list)
    withheld_files: list[str] = field(default_factory=list)
    """The deletes the guard withheld (part 0, 1... in order), written but not among the upload
    files: sent only when a person approves them (the same bytes, nothing recomputed); the guard
    then no longer fails."""
    confirmed: int = 0
    """Keys a mirror delete may target when the state was diffed (the guard's denominator)."""

    @property
    def files(self) -> list[StagedFile]:
        return self.manifest.files

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["manifest"] = self.manifest.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChangePlan:
        values = dict(data)
        values["manifest"] = StagingManifest.from_dict(dict(values["manifest"]))
        values["counts"] = ChangeCounts(**values.get("counts") or {})
        return cls(**values)


ENV_STATE_BASE = "GONG_STATE_BASE"


def default_state_base(staging_base: str) -> str:
    """``$GONG_STATE_BASE``, else ``<staging_base>/state`` (a path or an ObjectStoragePath URL)."""
    return os.environ.get(ENV_STATE_BASE) or f"{str(staging_base).rstrip('/')}/state"


def run_token(run_key: str) -> str:
    """A file-name-safe token of the run (Airflow run ids hold ``:`` and ``+``)."""
    import hashlib

    return hashlib.sha256(run_key.encode()).hexdigest()[:16]


def iso_timestamp(moment: datetime | str) -> str:
    """Gong's ``modifiedDate`` form (seconds, ``Z``) of the run's moment, so a retry writes the same bytes."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Spill:
    """Per-bucket columns of unsigned 64-bit values, spilled to a local temporary folder past a bound."""

    def __init__(self, folder: str, name: str, columns: int) -> None:
        self.folder = folder
        self.name = name
        self.columns = columns
        self.buffers: list[list[array[int]]] = [[array("Q") for _ in range(columns)] for _ in range(BUCKETS)]
        self.held = 0
        self.spilled: set[int] = set()

    def flush(self) -> None:
        for bucket, columns in enumerate(self.buffers):
            if not columns[0]:
                continue
            with open(os.path.join(self.folder, f"{self.name}-{bucket}"), "ab") as handle:
                count = len(columns[0])
                handle.write(count.to_bytes(8, "little"))
                for column in columns:
                    column.tofile(handle)
            self.spilled.add(bucket)
            self.buffers[bucket] = [array("Q") for _ in range(self.columns)]
        self.held = 0

    def load(self, bucket: int) -> list[array[int]]:
        columns = [array("Q") for _ in range(self.columns)]
        if bucket in self.spilled:
            with open(os.path.join(self.folder, f"{self.name}-{bucket}"), "rb") as handle:
                while head := handle.read(8):
                    count = int.from_bytes(head, "little")
                    for column in columns:
                        column.fromfile(handle, count)
        for column, held in zip(columns, self.buffers[bucket], strict=True):
            column.extend(held)
        return columns


class _DiffTap:
    """The :class:`~gong_provider.staging.pipeline.StagingTap` of change capture: routes each staged
    line's (key, digest, generation<<32|part, line<<32|offset) to its bucket; rejects too."""

    def __init__(self, folder: str, *, diffing: bool) -> None:
        self.diffing = diffing
        self.spill = _Spill(folder, "tap", 4)
        self.rejected_ids: list[str] = []
        self.unreadable_rejects = 0

    def block(self, generation: int, placement: Placement, data: bytes, object_ids: Sequence[str]) -> None:
        if not self.diffing:
            return
        lines = data.split(b"\n")
        lines.pop()
        # all in C but the loop: keys, digests and line starts of the whole block
        keys = map(_hash, map(str.encode, object_ids))
        digests = map(_hash, lines)
        starts = accumulate(map(add, map(len, lines), repeat(1)), initial=placement.offset)
        numbers = map(lshift, range(placement.line, placement.line + len(lines)), repeat(32))
        place = (generation << 32) | placement.part
        buffers = self.spill.buffers
        for key, digest, number, start in zip(keys, digests, numbers, starts, strict=False):
            columns = buffers[key & BUCKET_MASK]
            columns[0].append(key)
            columns[1].append(digest)
            columns[2].append(place)
            columns[3].append(number | start)
        self._held(len(lines))

    def record(self, generation: int, placement: Placement, line: bytes, object_id: str) -> None:
        if self.diffing:
            self._add(
                key_of(object_id),
                digest_of(line[:-1]),
                (generation << 32) | placement.part,
                (placement.line << 32) | placement.offset,
            )

    def reject(self, object_id: str | None) -> None:
        if object_id is None:
            self.unreadable_rejects += 1
            return
        self.rejected_ids.append(object_id)
        if self.diffing:
            self._add(key_of(object_id), REJECTED, _NO_PLACE, _NO_PLACE)

    def _add(self, key: int, digest: int, place: int, where: int) -> None:
        columns = self.spill.buffers[key & BUCKET_MASK]
        columns[0].append(key)
        columns[1].append(digest)
        columns[2].append(place)
        columns[3].append(where)
        self._held(1)

    def _held(self, count: int) -> None:
        self.spill.held += count
        if self.spill.held >= SPILL_ENTRIES:
            self.spill.flush()


@dataclass
class _Diff:
    counts: ChangeCounts
    selected: list[int]
    """Packed places ``generation<<96 | part<<64 | line<<32 | offset`` of the lines to send."""
    deletes: list[tuple[str, Any]]
    confirmed: int


def _diff(store: StateStore, head: StateHead, tap: _DiffTap, *, mirror: bool) -> _Diff:
    """Classify the run's keys bucket by bucket against the state (see the module docstring)."""
    counts = ChangeCounts()
    selected: list[int] = []
    deletes: list[tuple[str, Any]] = []
    for bucket in range(BUCKETS):
        keys, digests, places, wheres = tap.spill.load(bucket)
        state = store.load_bucket(head, bucket)
        if not keys and not len(state):
            continue
        last = dict(zip(keys, digests, strict=False))
        confirmed = set(compress(state.digests, map(PENDING.__ne__, state.flags)))
        index = dict(zip(state.keys, range(len(state)), strict=False))
        differing = list(compress(last.items(), map(not_, map(confirmed.__contains__, last.values()))))
        counts.unchanged += len(last) - len(differing)
        chosen: set[int] = set()
        for key, digest in differing:
            if digest == REJECTED:
                counts.rejected += 1
                continue
            position = index.get(key)
            if position is None:
                counts.new += 1
            elif state.flags[position] == PENDING:
                counts.pending_retried += 1
            else:
                counts.changed += 1
            chosen.add(key)
        if chosen:
            for place, where in compress(zip(places, wheres, strict=False), map(chosen.__contains__, keys)):
                if place != _NO_PLACE:
                    selected.append((place << 64) | where)
        if mirror:
            for key in index.keys() - last.keys():
                position = index[key]
                if state.flags[position] != TOMBSTONE:
                    extra = state.extras[position] if state.extras is not None else None
                    deletes.append((state.ids[position], extra))
    deletes.sort(key=lambda item: item[0])
    return _Diff(counts, selected, deletes, head.confirmed)


def _delete_line(object_id: str, modified: str, extra: Any, fields: Sequence[str]) -> bytes:
    record: dict[str, Any] = {"objectId": object_id, "modifiedDate": modified, "isDeleted": True}
    for name in fields:
        if isinstance(extra, dict) and extra.get(name) is not None:
            record[name] = extra[name]
    return msgspec.json.encode(record) + b"\n"


class _SentLog:
    """What a commit applies, per bucket: ``(objectId, digest, kind, generation, part, line, extra)``,
    spilled to the local temporary folder past ``SPILL_ENTRIES`` (a rebuild logs every record)."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.entries: list[list[Any]] = [[] for _ in range(BUCKETS)]
        self.held = 0
        self.spilled: set[int] = set()

    def add(
        self, object_id: str, line: bytes, kind: int, generation: int, part: int, number: int, extra: Any
    ) -> None:
        self.entries[key_of(object_id) & BUCKET_MASK].append(
            (object_id, digest_of(line.rstrip(b"\n")), kind, generation, part, number, extra)
        )
        self.held += 1
        if self.held >= SENT_SPILL_ENTRIES:
            self._flush()

    def _flush(self) -> None:
        for bucket, entries in enumerate(self.entries):
            if entries:
                frame = _MSGPACK.encode(entries)
                with open(os.path.join(self.folder, f"sent-{bucket}"), "ab") as handle:
                    handle.write(len(frame).to_bytes(8, "little") + frame)
                self.spilled.add(bucket)
                self.entries[bucket] = []
        self.held = 0

    def bucket(self, bucket: int) -> list[Any]:
        """Every entry of ``bucket``, in the order they were added."""
        entries: list[Any] = []
        if bucket in self.spilled:
            with open(os.path.join(self.folder, f"sent-{bucket}"), "rb") as handle:
                while head := handle.read(8):
                    entries += msgspec.msgpack.decode(handle.read(int.from_bytes(head, "little")))
        return entries + self.entries[bucket]


_MSGPACK = msgspec.msgpack.Encoder()


def _extras(line: bytes, fields: Sequence[str]) -> Any:
    if not fields:
        return None
    record = msgspec.json.decode(line)
    return {name: record[name] for name in fields if record.get(name) is not None} or None


def _line_kind(decoded: _Line) -> int:
    return SENT_DELETED_RECORD if decoded.isDeleted is True else SENT_UPSERT


def _write_sparse(
    staged: StagingManifest, selected: list[int], writer: PartWriter, sent: _SentLog, fields: Sequence[str]
) -> int:
    """Copy the selected lines (sorted places) into the upload files; each keeps its generation."""
    by_place = {(f.generation, f.part): f for f in staged.files}
    decoder = msgspec.json.Decoder(_Line)
    selected.sort()
    written = 0
    start = 0
    while start < len(selected):
        place = selected[start] >> 64
        end = start
        while end < len(selected) and selected[end] >> 64 == place:
            end += 1
        generation, part = place >> 32, place & 0xFFFFFFFF
        staged_file = by_place[(generation, part)]
        wanted = [(value >> 32) & 0xFFFFFFFF for value in selected[start:end]]
        offsets = [value & 0xFFFFFFFF for value in selected[start:end]]
        locations = locate_lines(staged_file, wanted, object_ids=False)
        with open_location(staged_file.path) as handle:
            for number, offset in zip(wanted, offsets, strict=True):
                handle.seek(offset)
                line = handle.readline()
                decoded = decoder.decode(line)
                where = locations.get(number)
                origin = (
                    Origin(where.source, where.source_line, where.record or number, decoded.objectId)
                    if where is not None
                    else Origin(staged_file.path, number, number, decoded.objectId)
                )
                placement = writer.add(generation, line, origin)
                sent.add(
                    decoded.objectId,
                    line,
                    _line_kind(decoded),
                    generation,
                    placement.part,
                    placement.line,
                    _extras(line, fields),
                )
                written += 1
        start = end
    return written


def _log_dense(staged: StagingManifest, sent: _SentLog, fields: Sequence[str], max_line_bytes: int) -> int:
    """Every staged line is sent as staged: log each for the commit (one read of the files)."""
    decoder = msgspec.json.Decoder(_Line)
    written = 0
    for staged_file in sorted(staged.files, key=lambda f: (f.generation, f.part)):
        number = 0
        with open_location(staged_file.path) as handle:
            for _line_no, block, _count in iter_blocks(handle, max(max_line_bytes, staged_file.bytes)):
                lines = bytes(block).split(b"\n")
                lines.pop()
                for line, decoded in zip(lines, decoder.decode_lines(block), strict=True):
                    number += 1
                    sent.add(
                        decoded.objectId,
                        line,
                        _line_kind(decoded),
                        staged_file.generation,
                        staged_file.part,
                        number,
                        _extras(line, fields),
                    )
        written += number
    return written


def stage_changes(
    source: StagingSource,
    *,
    object_type: ObjectType | str,
    out_dir: Any,
    state_base: Any,
    integration_id: int | str,
    run_key: str,
    run_time: datetime | str,
    mode: SyncMode | str = "upsert",
    reset_state: bool = False,
    max_delete_ratio: float = DEFAULT_MAX_DELETE_RATIO,
    confirm_deletes: int | None = None,
    mapping: Mapping[str, str] | None = None,
    timezone_name: str = "UTC",
    max_reject_ratio: float = 0.0,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    custom_fields: Sequence[CustomField] | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    fingerprint_extra: Mapping[str, Any] | None = None,
    extra_tap: StagingTap | None = None,
    preview: bool = False,
) -> ChangePlan:
    """Stage ``source`` and keep, in ``<out_dir>/<OBJECT_TYPE>/upload/``, only what Gong must be sent.

    ``run_key`` names the run (e.g. Airflow's run id): a retry of the run reuses its plan and writes
    the same bytes; ``run_time`` (e.g. the data interval's end) is the ``modifiedDate`` of mirror
    deletes. Raises :class:`GongStateCorruptError` for an unusable state (nothing is planned),
    :class:`GongDeleteGuardError` for an empty source in mirror mode when the state is not empty
    (unless ``confirm_deletes`` covers every confirmed key: the type is emptied on purpose), and
    staging's own errors. ``extra_tap`` is shown every staged line too (e.g. a reference check's
    collector). ``preview=True`` (a dry run) plans exactly as a real run would but writes nothing
    under ``state_base``: no in-flight marker, no recovery of a dead run's plan (its keys are not
    counted as pending), no folder; the plan must not be uploaded or committed. Deletes over
    ``max_delete_ratio`` of the confirmed keys are withheld unless
    ``confirm_deletes`` is at least their number; the plan's ``guard`` then says why, and
    :func:`commit_changes` raises after committing the upserts.
    """
    if mode not in SYNC_MODES:
        raise ValueError(f"sync mode must be one of {', '.join(SYNC_MODES)}, got {mode!r}")
    if not 0.0 <= max_delete_ratio <= 1.0:
        raise ValueError(f"max_delete_ratio must be between 0 and 1, got {max_delete_ratio}")
    from gong_provider.changes.commit import recover_orphans

    kind = ObjectType(str(object_type))
    store = StateStore(state_base, integration_id, kind)
    if not preview:
        store.mkdir()
    token = run_token(run_key)
    fingerprint = state_fingerprint(
        kind, mapping=mapping, timezone=timezone_name, custom_fields=custom_fields, extra=fingerprint_extra
    )
    head: StateHead | None = None
    if preview:
        head = None if reset_state else store.read_head()
    elif reset_state:
        for orphan in store.plan_tokens():
            if orphan != token:
                store.remove_plan(orphan)
    else:
        recover_orphans(store, keep=token)
        head = store.read_head()
    reason = _rebuild_reason(mode, reset_state, head, fingerprint)
    modified = iso_timestamp(run_time)
    scratch = tempfile.mkdtemp(prefix="gong-changes-")
    try:
        tap = _DiffTap(scratch, diffing=reason is None)
        staged = stage(
            source,
            object_type=kind,
            out_dir=out_dir,
            mapping=mapping,
            timezone=timezone_name,
            max_reject_ratio=max_reject_ratio,
            max_file_bytes=max_file_bytes,
            custom_fields=custom_fields,
            max_line_bytes=max_line_bytes,
            tap=tee(tap, extra_tap),
        )
        folder = OutputDir(out_dir).child(kind.value).child(UPLOAD_FOLDER)
        folder.mkdir()
        folder.remove(MANIFEST_NAME)
        sent = _SentLog(scratch)
        counts = ChangeCounts()
        guard: str | None = None
        deletes: list[tuple[str, Any]] = []
        withheld: list[tuple[str, Any]] = []
        confirmed = 0
        if reason is None:
            assert head is not None
            emptied_on_purpose = confirm_deletes is not None and confirm_deletes >= head.confirmed
            if mode == "mirror" and staged.records_read == 0 and head.confirmed and not emptied_on_purpose:
                raise GongDeleteGuardError(
                    f"{kind.value}: the source has no records but Gong holds {head.confirmed} confirmed "
                    "record(s) of this type: no delete was sent. If the source really is empty now, rerun "
                    f"with confirm_deletes={head.confirmed}",
                    object_type=kind.value,
                    deletes=head.confirmed,
                    confirmed=head.confirmed,
                )
            diff = _diff(store, head, tap, mirror=mode == "mirror")
            counts = diff.counts
            confirmed = diff.confirmed
            deletes, guard, counts.deletes_withheld = _guard(
                kind.value,
                diff.deletes,
                diff.confirmed,
                tap.unreadable_rejects,
                max_delete_ratio,
                confirm_deletes,
            )
            withheld = diff.deletes if guard is not None else []  # the ratio guard: approvable
            dense = (
                staged.records_staged >= DENSE_MIN_RECORDS
                and len(diff.selected) > DENSE_SHARE * staged.records_staged
            )
            selected = diff.selected
        else:
            counts.new = staged.records_staged
            counts.rejected = len(tap.rejected_ids)
            dense = True
            selected = []
        if dense:
            files = list(staged.files)
            counts.records_uploaded = _log_dense(staged, sent, store.delete_fields, max_line_bytes)
        else:
            writer = PartWriter(folder, kind.value, max_file_bytes)
            try:
                counts.records_uploaded = _write_sparse(staged, selected, writer, sent, store.delete_fields)
                files = writer.close()
            except BaseException:
                writer.abort()
                raise
        delete_files = _write_deletes(folder, kind.value, deletes, modified, store, sent, max_file_bytes)
        withheld_files = _write_deletes(
            folder, kind.value, withheld, modified, store, sent, max_file_bytes, withheld=True
        )
        counts.deleted = len(deletes)
        counts.records_uploaded += len(deletes)
        manifest = StagingManifest(
            object_type=kind.value,
            files=[*files, *delete_files],
            records_read=staged.records_read,
            records_staged=counts.records_uploaded,
            records_rejected=staged.records_rejected,
            rejects_path=staged.rejects_path,
            sources=staged.sources,
        )
        manifest.publish(
            folder,
            also_keep=[
                os.path.basename(path) for f in withheld_files for path in (f.path, f.sources_path) if path
            ],
        )
        plan = ChangePlan(
            object_type=kind.value,
            integration_id=store.integration_id,
            state_base=str(state_base),
            run_token=token,
            run_key=run_key,
            mode=str(mode),
            base_generation=None if head is None else head.generation,
            fingerprint=fingerprint,
            rebuild=reason is not None,
            rebuild_reason=reason,
            manifest=manifest,
            delete_files=[f.path for f in delete_files],
            counts=counts,
            guard=guard,
            withheld_files=[f.path for f in sorted(withheld_files, key=lambda f: f.part)],
            confirmed=confirmed,
        )
        from gong_provider.changes.commit import write_plan

        if not preview:
            write_plan(store, plan, sent, tap.rejected_ids)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    log.info(
        "%s changes: %s new, %s changed, %s unchanged, %s pending retried, %s rejected kept pending, "
        "%s deletes, %s withheld; %s line(s) to upload%s",
        kind.value,
        counts.new,
        counts.changed,
        counts.unchanged,
        counts.pending_retried,
        counts.rejected,
        counts.deleted,
        counts.deletes_withheld,
        counts.records_uploaded,
        f" (rebuilding the state: {reason})" if reason else "",
    )
    return plan


def _rebuild_reason(mode: str, reset_state: bool, head: StateHead | None, fingerprint: str) -> str | None:
    if reset_state:
        return "reset_state"
    if mode == "full":
        return "full mode"
    if head is None:
        return "no state yet (first run)"
    if head.rebuild_next:
        return "a run rebuilding the state died before its commit"
    if head.fingerprint != fingerprint:
        return "the mapping, normalization options or custom fields changed"
    return None


def _guard(
    object_type: str,
    deletes: list[tuple[str, Any]],
    confirmed: int,
    unreadable_rejects: int,
    max_delete_ratio: float,
    confirm_deletes: int | None,
) -> tuple[list[tuple[str, Any]], str | None, int]:
    """``(deletes to send, why the rest were withheld, how many were withheld)``."""
    if not deletes:
        return deletes, None, 0
    if unreadable_rejects:
        log.warning(
            "%s: %s staging reject(s) without a readable objectId: none of the %s delete(s) is sent",
            object_type,
            unreadable_rejects,
            len(deletes),
        )
        return [], None, len(deletes)
    allowed = max_delete_ratio * confirmed
    if len(deletes) > allowed and (confirm_deletes is None or confirm_deletes < len(deletes)):
        message = (
            f"{object_type}: {len(deletes)} record(s) confirmed in Gong are gone from the source, more than "
            f"max_delete_ratio={max_delete_ratio:g} of the {confirmed} confirmed; the deletes were withheld "
            f"(new and changed records were sent). To send them, rerun with confirm_deletes={len(deletes)}"
        )
        return [], message, len(deletes)
    return deletes, None, 0


def _write_deletes(
    folder: OutputDir,
    kind: str,
    deletes: list[tuple[str, Any]],
    modified: str,
    store: StateStore,
    sent: _SentLog,
    max_file_bytes: int,
    *,
    withheld: bool = False,
) -> list[StagedFile]:
    if not deletes:
        return []
    writer = PartWriter(folder, f"{kind}_{'withheld_' if withheld else ''}deletes", max_file_bytes)
    sent_kind = SENT_WITHHELD_DELETE if withheld else SENT_MIRROR_DELETE
    try:
        for number, (object_id, extra) in enumerate(deletes, start=1):
            line = _delete_line(object_id, modified, extra, store.delete_fields)
            placement = writer.add(
                0, line, Origin("mirror delete (gone from the source)", None, number, object_id)
            )
            sent.add(object_id, line, sent_kind, 0, placement.part, placement.line, extra)
        files = writer.close()
    except BaseException:
        writer.abort()
        raise
    return [dataclasses.replace(f, object_type=kind) for f in files]


def iter_state(store: StateStore) -> Iterator[tuple[str, int, int, Any]]:
    """Every entry of the committed state: ``(objectId, digest, flag, delete fields)``."""
    head = store.read_head()
    for bucket in range(BUCKETS):
        entries = store.load_bucket(head, bucket)
        extras = entries.extras if entries.extras is not None else repeat(None)
        yield from zip(entries.ids, entries.digests, entries.flags, extras, strict=False)


__all__ = [
    "DEFAULT_MAX_DELETE_RATIO",
    "LIVE",
    "SYNC_MODES",
    "ChangeCounts",
    "ChangePlan",
    "SyncMode",
    "default_state_base",
    "iso_timestamp",
    "iter_state",
    "run_token",
    "stage_changes",
]
