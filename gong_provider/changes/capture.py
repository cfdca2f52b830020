"""Stage, then keep only what Gong has not confirmed: the diff against the state, and the upload files.

A run's steps (:func:`stage_changes`; docs/state.md draws them with what a crash at each leaves):

1. **Hold the state**: take its lease (two runs never overlap) and recover every plan left in flight
   (its keys become pending), whatever run or attempt wrote it.
2. **Decide**: diff against HEAD, or rebuild (``full``, ``reset_state``, no state, a fingerprint
   change, a rebuilding run that died).
3. **Stage and tap**: while :func:`gong_provider.staging.stage` writes the staged files, a tap routes
   every staged line's key, canonical digest and place into one of the state's hash buckets (spilled
   to local temporary files past a bound), and every reject's normalized objectId.
4. **Select**: one bucket at a time, each objectId is classified by its last occurrence: unchanged,
   new, changed, pending (always sent), or rejected (kept pending, never deleted); in mirror mode the
   confirmed keys absent from the source are counted as deletes, then the guard decides.
5. **Write**: the selected lines (every occurrence of a selected objectId, so generations stay whole)
   are copied into the upload files with sidecars pointing at the user's source lines (or, when most
   must go anyway, the staged files are uploaded as they are); deletes are streamed, bucket by bucket,
   to files of their own. BUSINESS_USER sends only an objectId's last occurrence (user_updates.py).
6. **Mark**: the plan (what was sent, where) is written under the state: the in-flight marker.

:func:`preview_changes` runs steps 2 to 5 without writing anything under the state.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import shutil
import tempfile
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import accumulate, compress, repeat
from operator import add, lshift, not_
from typing import TYPE_CHECKING, Any, TypedDict

import msgspec

from gong_provider.changes.commit import recover_orphans
from gong_provider.changes.errors import GongDeleteGuardError, GongStateCorruptError
from gong_provider.changes.modes import DEFAULT_MAX_DELETE_RATIO, SYNC_MODES, SyncMode, parse_sync_mode
from gong_provider.changes.plan import (
    SENT_DELETED_RECORD,
    SENT_MIRROR_DELETE,
    SENT_UPSERT,
    SENT_WITHHELD_DELETE,
    BucketSpill,
    ChangeCounts,
    ChangePlan,
    SentLog,
    delete_line,
    iso_timestamp,
    write_plan,
)
from gong_provider.changes.state import (
    BUCKET_MASK,
    BUCKETS,
    DEFAULT_LEASE_SECONDS,
    LIVE,
    PENDING,
    TOMBSTONE,
    StateHead,
    StateStore,
    digest_of,
    iter_state,
    key_of,
    maybe_spaced,
    state_fingerprint,
    utcnow,
)
from gong_provider.changes.state import hash64 as _hash
from gong_provider.changes.user_updates import plan_user_deletes, sends_last_version_only
from gong_provider.ids import IntegrationId, parse_integration_id
from gong_provider.models import CustomField, ObjectType
from gong_provider.staging.fastpath import iter_blocks
from gong_provider.staging.field_names import DEFAULT_UNKNOWN_FIELDS, UnknownFieldsPolicy
from gong_provider.staging.locate import locate_lines
from gong_provider.staging.manifest import MANIFEST_NAME, StagedFile, StagingManifest
from gong_provider.staging.normalize import FieldError, normalize_object_id
from gong_provider.staging.outdir import OutputDir, open_location
from gong_provider.staging.pipeline import (
    DEFAULT_MAX_FILE_BYTES,
    StagingSource,
    StagingTap,
    stage,
    timezone_argument,
)
from gong_provider.staging.readers import DEFAULT_MAX_LINE_BYTES
from gong_provider.staging.taps import tee
from gong_provider.staging.writer import Origin, PartWriter, Placement

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing's from Python 3.11; annotations only

log = logging.getLogger(__name__)

UPLOAD_FOLDER = "upload"
SPILL_ENTRIES = 1 << 19
"""Tap entries (32 bytes each) held in memory before they are spilled to temporary files (16 MB)."""
DENSE_SHARE = 0.5
DENSE_MIN_RECORDS = 100_000
"""When more than half of at least this many staged records must be sent, the staged files are
uploaded as they are (the unchanged records go too, harmlessly: Gong upserts by objectId): copying
most of a large file costs more, and the sorted selection would need ~45 bytes per line."""
REJECTED = 0
"""Digest that marks a staging reject in the tap (a real line's xxh3 is 0 once in 2**64)."""
_NO_PLACE = (1 << 64) - 1

__all__ = [
    "DEFAULT_MAX_DELETE_RATIO",
    "LIVE",
    "SYNC_MODES",
    "ChangeCounts",
    "ChangePlan",
    "PlanOptions",
    "SyncMode",
    "default_state_base",
    "iso_timestamp",
    "iter_state",
    "preview_changes",
    "run_token",
    "stage_changes",
]


class _Line(msgspec.Struct):
    objectId: str
    isDeleted: bool | None = None


ENV_STATE_BASE = "GONG_STATE_BASE"


def default_state_base(staging_base: str) -> str:
    """``$GONG_STATE_BASE``, else ``<staging_base>/state`` (a path or an ObjectStoragePath URL)."""
    return os.environ.get(ENV_STATE_BASE) or f"{str(staging_base).rstrip('/')}/state"


def run_token(run_key: str) -> str:
    """A file-name-safe token of the run (Airflow run ids hold ``:`` and ``+``)."""
    import hashlib

    return hashlib.sha256(run_key.encode()).hexdigest()[:16]


def attempt_token(run_key: str) -> str:
    """The token of one attempt at planning the run: the run's token and a nonce, so that a retried
    or cleared run never mistakes its earlier attempt's marker for its own plan."""
    return f"{run_token(run_key)}-{secrets.token_hex(4)}"


# -- the tap ------------------------------------------------------------------------------------

_Columns = list[array]  # type: ignore[type-arg]


def _new_columns() -> _Columns:
    return [array("Q") for _ in range(4)]


def _encode_columns(columns: _Columns) -> bytes:
    return len(columns[0]).to_bytes(8, "little") + b"".join(column.tobytes() for column in columns)


def _merge_columns(columns: _Columns, frame: bytes) -> None:
    count = int.from_bytes(frame[:8], "little")
    width = count * 8
    for index, column in enumerate(columns):
        column.frombytes(frame[8 + index * width : 8 + (index + 1) * width])


class _DiffTap:
    """The :class:`~gong_provider.staging.pipeline.StagingTap` of change capture: routes each staged
    line's (key, canonical digest, generation<<32|part, line<<32|offset) to its bucket, and each
    reject's key (its objectId normalized exactly like a staged one's)."""

    def __init__(self, folder: str) -> None:
        self.spill: BucketSpill[_Columns] = BucketSpill(
            folder,
            "tap",
            new=_new_columns,
            encode=_encode_columns,
            merge=_merge_columns,
            size=lambda columns: len(columns[0]),
            limit=SPILL_ENTRIES,
        )
        self.rejected_ids: set[str] = set()
        self.unreadable_rejects = 0

    def block(self, generation: int, placement: Placement, data: bytes, object_ids: Sequence[str]) -> None:
        lines = data.split(b"\n")
        lines.pop()
        # all in C but the loop: keys, digests and line starts of the whole block
        keys = map(_hash, map(str.encode, object_ids))
        digests = map(digest_of if maybe_spaced(data) else _hash, lines)
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
        self.spill.added(len(lines))

    def record(self, generation: int, placement: Placement, line: bytes, object_id: str) -> None:
        self._add(
            key_of(object_id),
            digest_of(line[:-1]),
            (generation << 32) | placement.part,
            (placement.line << 32) | placement.offset,
        )

    def reject(self, object_id: str | None) -> None:
        try:
            normalized = normalize_object_id(object_id) if object_id is not None else None
        except FieldError:
            normalized = None  # " c5" is not c5's key: it could be any record, like an unreadable one
        if normalized is None:
            self.unreadable_rejects += 1
            return
        self.rejected_ids.add(normalized)
        self._add(key_of(normalized), REJECTED, _NO_PLACE, _NO_PLACE)

    def _add(self, key: int, digest: int, place: int, where: int) -> None:
        columns = self.spill.buffers[key & BUCKET_MASK]
        columns[0].append(key)
        columns[1].append(digest)
        columns[2].append(place)
        columns[3].append(where)
        self.spill.added(1)


# -- select -------------------------------------------------------------------------------------


@dataclass
class _Selection:
    counts: ChangeCounts
    selected: list[int]
    """Packed places ``generation<<96 | part<<64 | line<<32 | offset`` of the lines to send."""
    rejected_keys: set[int]
    """Keys whose last occurrence is a reject: they stay pending."""
    deletes: int
    """Confirmed keys absent from the source (mirror mode), counted, never listed."""
    superseded: list[int] = dataclasses.field(default_factory=list)
    """``last_only``: packed places of the earlier versions of objectIds listed more than once."""


def _select(
    store: StateStore, head: StateHead | None, tap: _DiffTap, *, mirror: bool, last_only: bool = False
) -> _Selection:
    """Classify the run's keys bucket by bucket against ``head`` (None: everything is new);
    ``last_only`` selects only the last version of each key (see :func:`_last_versions`)."""
    counts = ChangeCounts()
    selected: list[int] = []
    superseded: list[int] = []
    rejected_keys: set[int] = set()
    deletes = 0
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
                rejected_keys.add(key)
                continue
            position = index.get(key)
            if position is None:
                counts.new += 1
            elif state.flags[position] == PENDING:
                counts.pending_retried += 1
            else:
                counts.changed += 1
            chosen.add(key)
        if last_only:
            last_places, earlier = _last_versions(keys, places, wheres, _NO_PLACE)
            superseded += earlier
            selected += [packed for key, packed in last_places.items() if key in chosen]
        elif chosen:
            for place, where in compress(zip(places, wheres, strict=False), map(chosen.__contains__, keys)):
                if place != _NO_PLACE:
                    selected.append((place << 64) | where)
        if mirror:
            deletes += sum(1 for key in index.keys() - last.keys() if state.flags[index[key]] != TOMBSTONE)
    counts.superseded = len(superseded)
    return _Selection(counts, selected, rejected_keys, deletes, superseded)


_SUPERSEDED_LOGGED = 50
"""Superseded versions named one by one in the log (the rest are counted)."""


def _last_versions(
    keys: Iterable[int], places: Iterable[int], wheres: Iterable[int], no_place: int
) -> tuple[dict[int, int], list[int]]:
    """``(key -> packed place of its last staged version, the packed places of the earlier ones)``
    from change capture's tap columns of one bucket (``no_place``: a reject's). A packed place is
    ``generation<<96 | part<<64 | line<<32 | offset``; the n-th version of an objectId is staged in
    generation n-1, so the greatest is the last."""
    last: dict[int, int] = {}
    earlier: list[int] = []
    for key, place, where in zip(keys, places, wheres, strict=False):
        if place == no_place:
            continue
        packed = (place << 64) | where
        known = last.get(key)
        if known is None:
            last[key] = packed
            continue
        earlier.append(min(known, packed))
        last[key] = max(known, packed)
    return last, earlier


def _log_superseded(object_type: str, staged: StagingManifest, superseded: list[int]) -> None:
    """Log the versions :func:`_last_versions` left out, each with its source file, line and objectId
    (the first ``_SUPERSEDED_LOGGED``; the rest are counted)."""
    if not superseded:
        return
    by_place = {(f.generation, f.part): f for f in staged.files}
    wanted: dict[tuple[int, int], list[int]] = {}
    for packed in sorted(superseded)[:_SUPERSEDED_LOGGED]:
        place = packed >> 64
        wanted.setdefault((place >> 32, place & 0xFFFFFFFF), []).append((packed >> 32) & 0xFFFFFFFF)
    named: list[str] = []
    for (generation, part), numbers in wanted.items():
        staged_file = by_place[(generation, part)]
        where = locate_lines(staged_file, numbers)
        for number in numbers:
            found = where.get(number)
            named.append(str(found) if found is not None else f"{staged_file.path}, line {number}")
    more = len(superseded) - len(named)
    log.warning(
        "%s: %s version(s) of objectIds listed more than once are superseded by their last version "
        "and not sent (a user is sent once, as its last version, after its delete): %s%s",
        object_type,
        len(superseded),
        "; ".join(named),
        f"; and {more} more" if more > 0 else "",
    )


def _iter_deletes(store: StateStore, head: StateHead, tap: _DiffTap) -> Iterator[tuple[str, Any]]:
    """The confirmed keys absent from the source, bucket by bucket (sorted within one): streamed,
    so that a truncated export of millions of keys never lists them in memory."""
    for bucket in range(BUCKETS):
        present = set(tap.spill.load(bucket)[0])
        state = store.load_bucket(head, bucket)
        extras = state.extras if state.extras is not None else repeat(None)
        gone = [
            (object_id, extra)
            for object_id, key, flag, extra in zip(state.ids, state.keys, state.flags, extras, strict=False)
            if flag != TOMBSTONE and key not in present
        ]
        gone.sort(key=lambda item: item[0])
        yield from gone


def _guard(
    object_type: str,
    deletes: int,
    confirmed: int,
    unreadable_rejects: int,
    max_delete_ratio: float,
    confirm_deletes: int | None,
) -> tuple[bool, str | None]:
    """``(send the deletes, why they were withheld if the type must fail)``."""
    if not deletes:
        return False, None
    if unreadable_rejects:
        log.warning(
            "%s: %s staging reject(s) without a valid objectId: none of the %s delete(s) is sent",
            object_type,
            unreadable_rejects,
            deletes,
        )
        return False, None
    allowed = max_delete_ratio * confirmed
    if deletes > allowed and (confirm_deletes is None or confirm_deletes < deletes):
        message = (
            f"{object_type}: {deletes} record(s) confirmed in Gong are gone from the source, more than "
            f"max_delete_ratio={max_delete_ratio:g} of the {confirmed} confirmed; the deletes were withheld "
            f"(new and changed records were sent). To send them, rerun with confirm_deletes={deletes}"
        )
        return False, message
    return True, None


# -- write ----------------------------------------------------------------------------------------


def _extras(line: bytes, fields: Sequence[str]) -> Any:
    if not fields:
        return None
    record = msgspec.json.decode(line)
    return {name: record[name] for name in fields if record.get(name) is not None} or None


def _line_kind(decoded: _Line) -> int:
    return SENT_DELETED_RECORD if decoded.isDeleted is True else SENT_UPSERT


def _write_sparse(
    staged: StagingManifest,
    selected: list[int],
    writer: PartWriter,
    sent: SentLog,
    fields: Sequence[str],
    *,
    one_generation: bool = False,
) -> int:
    """Copy the selected lines (sorted places) into the upload files; each keeps its generation
    (``one_generation``: each goes to generation 0, for a selection of one version per key)."""
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
                written_in = 0 if one_generation else generation
                placement = writer.add(written_in, line, origin)
                sent.add(
                    decoded.objectId,
                    line,
                    _line_kind(decoded),
                    written_in,
                    placement.part,
                    placement.line,
                    _extras(line, fields),
                )
                written += 1
        start = end
    return written


def _log_dense(staged: StagingManifest, sent: SentLog, fields: Sequence[str], max_line_bytes: int) -> int:
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


def _write_deletes(
    folder: OutputDir,
    kind: str,
    deletes: Iterator[tuple[str, Any]],
    modified: str,
    store: StateStore,
    sent: SentLog,
    max_file_bytes: int,
    *,
    withheld: bool = False,
) -> list[StagedFile]:
    """Stream ``deletes`` to ``<kind>_deletes`` files, or ``<kind>_withheld_deletes`` (logged as
    :data:`SENT_WITHHELD_DELETE`: applied only once a person approved and they were sent)."""
    writer = PartWriter(folder, f"{kind}_{'withheld_' if withheld else ''}deletes", max_file_bytes)
    sent_kind = SENT_WITHHELD_DELETE if withheld else SENT_MIRROR_DELETE
    try:
        for number, (object_id, extra) in enumerate(deletes, start=1):
            line = delete_line(object_id, modified, extra, store.delete_fields)
            placement = writer.add(
                0, line, Origin("mirror delete (gone from the source)", None, number, object_id)
            )
            sent.add(object_id, line, sent_kind, 0, placement.part, placement.line, extra)
        files = writer.close()
    except BaseException:
        writer.abort()
        raise
    return [dataclasses.replace(f, object_type=kind) for f in files]


# -- the run --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Options:
    """What one run was asked to do, checked once."""

    kind: ObjectType
    mode: SyncMode
    reset_state: bool
    max_delete_ratio: float
    confirm_deletes: int | None
    mapping: Mapping[str, str] | None
    timezone_name: str
    max_reject_ratio: float
    max_file_bytes: int
    custom_fields: Sequence[CustomField] | None
    max_line_bytes: int
    unknown_fields: UnknownFieldsPolicy
    fingerprint: str
    deletes_dated: str
    """``modifiedDate`` of mirror deletes: the wall clock when the run planned them (see docs/state.md)."""


class PlanOptions(TypedDict, total=False):
    """The options of :func:`~gong_provider.changes.stage_changes` and
    :func:`~gong_provider.changes.preview_changes` besides the source, the
    state and the run (defaults in parentheses): ``mode`` (``"upsert"``), ``reset_state`` (False),
    ``max_delete_ratio`` (0.05), ``confirm_deletes`` (None), and staging's ``mapping``,
    ``timezone_name`` or ``timezone``, ``max_reject_ratio`` (0.0), ``max_file_bytes``,
    ``custom_fields``, ``max_line_bytes``, ``unknown_fields``; ``fingerprint_extra`` is added to
    the state's fingerprint (a change rebuilds the state)."""

    mode: SyncMode | str
    reset_state: bool
    max_delete_ratio: float
    confirm_deletes: int | None
    mapping: Mapping[str, str] | None
    timezone_name: str | None
    timezone: str | None
    max_reject_ratio: float
    max_file_bytes: int
    custom_fields: Sequence[CustomField] | None
    max_line_bytes: int
    fingerprint_extra: Mapping[str, Any] | None
    unknown_fields: UnknownFieldsPolicy


def _options(
    object_type: ObjectType | str,
    *,
    mode: SyncMode | str = "upsert",
    reset_state: bool = False,
    max_delete_ratio: float = DEFAULT_MAX_DELETE_RATIO,
    confirm_deletes: int | None = None,
    mapping: Mapping[str, str] | None = None,
    timezone_name: str | None = None,
    timezone: str | None = None,
    max_reject_ratio: float = 0.0,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    custom_fields: Sequence[CustomField] | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    fingerprint_extra: Mapping[str, Any] | None = None,
    unknown_fields: UnknownFieldsPolicy = DEFAULT_UNKNOWN_FIELDS,
) -> _Options:
    """The run's options, checked once (the defaults' one home)."""
    checked_mode = parse_sync_mode(str(mode))  # a library door: an enum member or text
    timezone_name = timezone_argument(timezone, timezone_name)
    if not 0.0 <= max_delete_ratio <= 1.0:
        raise ValueError(f"max_delete_ratio must be between 0 and 1, got {max_delete_ratio}")
    kind = ObjectType(str(object_type))
    fingerprint = state_fingerprint(
        kind, mapping=mapping, timezone=timezone_name, custom_fields=custom_fields, extra=fingerprint_extra
    )
    return _Options(
        kind,
        checked_mode,
        reset_state,
        max_delete_ratio,
        confirm_deletes,
        mapping,
        timezone_name,
        max_reject_ratio,
        max_file_bytes,
        custom_fields,
        max_line_bytes,
        unknown_fields,
        fingerprint,
        iso_timestamp(utcnow()),
    )


def _decide(store: StateStore, options: _Options) -> tuple[StateHead | None, str | None]:
    """HEAD (None: none, or an unreadable one that ``reset_state`` replaces) and why the run rebuilds."""
    try:
        head = store.read_head()
        if options.reset_state and head is not None:
            for bucket in range(BUCKETS):  # a rebuild keeps the old keys: they must all be readable
                store.load_bucket(head, bucket)
    except GongStateCorruptError as error:
        if not options.reset_state:
            raise
        log.warning(
            "%s: reset_state replaces an unusable state (%s): keys confirmed earlier and absent from "
            "the source now cannot be deleted by a later mirror run",
            options.kind.value,
            error.problem,
        )
        head = None
    reason = _rebuild_reason(options.mode, options.reset_state, head, options.fingerprint)
    return head, reason


def _rebuild_reason(
    mode: SyncMode, reset_state: bool, head: StateHead | None, fingerprint: str
) -> str | None:
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


def _check_not_emptied(options: _Options, head: StateHead, records_read: int) -> None:
    confirm = options.confirm_deletes
    emptied_on_purpose = confirm is not None and confirm >= head.confirmed
    if options.mode == "mirror" and records_read == 0 and head.confirmed and not emptied_on_purpose:
        raise GongDeleteGuardError(
            f"{options.kind.value}: the source has no records but Gong holds {head.confirmed} confirmed "
            "record(s) of this type: no delete was sent. If the source really is empty now, rerun "
            f"with confirm_deletes={head.confirmed}",
            object_type=options.kind.value,
            deletes=head.confirmed,
            confirmed=head.confirmed,
        )


@dataclass
class _Planned:
    plan: ChangePlan
    sent: SentLog
    rejected_ids: list[str]


@dataclass(frozen=True)
class _Run:
    """One planning of one type: where its state and its files are, and who plans."""

    store: StateStore
    options: _Options
    out_dir: Any
    state_base: Any
    token: str
    run_key: str
    extra_tap: StagingTap | None


def _compute(source: StagingSource, run: _Run, scratch: str) -> _Planned:
    """Step 3 (after the recovery): diff against HEAD or rebuild, stage with the tap (and
    ``extra_tap``), select, guard the deletes, write the upload files (nothing under the state is
    written)."""
    store, options, out_dir = run.store, run.options, run.out_dir
    kind = options.kind
    head, reason = _decide(store, options)
    tap = _DiffTap(scratch)
    staged = _stage_tapped(source, run, tap)
    if reason is None:
        assert head is not None
        _check_not_emptied(options, head, staged.records_read)
    diffed = head if reason is None else None
    last_only = sends_last_version_only(kind) and len(staged.generations) > 1
    selection = _select(store, diffed, tap, mirror=options.mode == "mirror", last_only=last_only)
    _log_superseded(kind.value, staged, selection.superseded)
    counts = selection.counts
    deletes, withheld, guard = _guard_deletes(store, options, diffed, tap, selection)
    dense = not last_only and (
        reason is not None
        or (
            staged.records_staged >= DENSE_MIN_RECORDS
            and len(selection.selected) > DENSE_SHARE * staged.records_staged
        )
    )
    sent = SentLog(scratch)
    manifest, delete_files, withheld_files = _write_upload(
        store, options, out_dir, staged, selection, sent, deletes, withheld, dense=dense, plan_token=run.token
    )
    plan = ChangePlan(
        object_type=kind.value,
        integration_id=store.integration_id,
        state_base=str(run.state_base),
        run_token=run.token,
        run_key=run.run_key,
        mode=options.mode,
        base_generation=None if head is None else head.generation,
        fingerprint=options.fingerprint,
        rebuild=reason is not None,
        rebuild_reason=reason,
        manifest=manifest,
        delete_files=delete_files,
        counts=counts,
        guard=guard,
        withheld_files=withheld_files,
        confirmed=0 if diffed is None else diffed.confirmed,
        deletes_dated=options.deletes_dated,
    )
    rejected = sorted(i for i in tap.rejected_ids if key_of(i) in selection.rejected_keys)
    _log_counts(kind.value, counts, reason)
    return _Planned(plan, sent, rejected)


def _stage_tapped(source: StagingSource, run: _Run, tap: _DiffTap) -> StagingManifest:
    """Stage ``source`` into the run's folder, showing every staged line to the diff's ``tap`` (and
    the run's ``extra_tap``)."""
    options = run.options
    return stage(
        source,
        object_type=options.kind,
        out_dir=run.out_dir,
        mapping=options.mapping,
        timezone=options.timezone_name,
        max_reject_ratio=options.max_reject_ratio,
        max_file_bytes=options.max_file_bytes,
        custom_fields=options.custom_fields,
        max_line_bytes=options.max_line_bytes,
        tap=tee(tap, run.extra_tap),
        unknown_fields=options.unknown_fields,
        plan_token=run.token,  # a file sent as it is staged (dense) is this plan's, as a copied one
    )


_Deletes = Iterator[tuple[str, Any]]


def _guard_deletes(
    store: StateStore, options: _Options, diffed: StateHead | None, tap: _DiffTap, selection: _Selection
) -> tuple[_Deletes | None, _Deletes | None, str | None]:
    """The mirror deletes through the guard: ``(the deletes to send, the deletes withheld for an
    approval, why they were withheld)``, the two streamed from the state when written. A rebuild
    infers no delete; deletes not sent are counted as withheld."""
    send_deletes, guard = False, None
    if diffed is not None:
        send_deletes, guard = _guard(
            options.kind.value,
            selection.deletes,
            diffed.confirmed,
            tap.unreadable_rejects,
            options.max_delete_ratio,
            options.confirm_deletes,
        )
    if not send_deletes:
        selection.counts.deletes_withheld = selection.deletes
    deletes = _iter_deletes(store, diffed, tap) if send_deletes and diffed is not None else None
    # the ratio guard's deletes are written apart for an approval (an unreadable reject's are not)
    withheld = _iter_deletes(store, diffed, tap) if guard is not None and diffed is not None else None
    return deletes, withheld, guard


def _write_upload(
    store: StateStore,
    options: _Options,
    out_dir: Any,
    staged: StagingManifest,
    selection: _Selection,
    sent: SentLog,
    deletes: _Deletes | None,
    withheld: _Deletes | None,
    *,
    dense: bool,
    plan_token: str,
) -> tuple[StagingManifest, list[str], list[str]]:
    """Write the upload files (the staged files as they are, or the selected lines copied), then the
    deletes streamed to files of their own, the withheld deletes to files kept apart (not in the
    manifest), then the manifest; ``sent`` logs every line written. Returns the manifest, the delete
    files and the withheld files (in part order)."""
    kind, counts = options.kind, selection.counts
    folder = OutputDir(out_dir).child(kind.value).child(UPLOAD_FOLDER)
    folder.mkdir()
    folder.remove(MANIFEST_NAME)
    files = _write_upserts(folder, store, options, staged, selection, sent, dense=dense)
    delete_files: list[StagedFile] = []
    if deletes is not None:
        delete_files = _write_deletes(
            folder, kind.value, deletes, options.deletes_dated, store, sent, options.max_file_bytes
        )
        counts.deleted = selection.deletes
        counts.records_uploaded += selection.deletes
    withheld_files: list[StagedFile] = []
    if withheld is not None:
        withheld_files = _write_deletes(
            folder,
            kind.value,
            withheld,
            options.deletes_dated,
            store,
            sent,
            options.max_file_bytes,
            withheld=True,
        )
        withheld_files.sort(key=lambda f: f.part)
    manifest = _publish_manifest(
        folder, kind.value, staged, counts, [*files, *delete_files], withheld_files, plan_token
    )
    return manifest, [f.path for f in delete_files], [f.path for f in withheld_files]


def _write_upserts(
    folder: OutputDir,
    store: StateStore,
    options: _Options,
    staged: StagingManifest,
    selection: _Selection,
    sent: SentLog,
    *,
    dense: bool,
) -> list[StagedFile]:
    """The new and changed lines: when most lines are sent (``dense``), the staged files as they
    are, each line logged; otherwise the selected lines copied to new files. Counts them as
    uploaded."""
    counts = selection.counts
    if dense:
        counts.records_uploaded = _log_dense(staged, sent, store.delete_fields, options.max_line_bytes)
        return list(staged.files)
    writer = PartWriter(folder, options.kind.value, options.max_file_bytes)
    try:
        counts.records_uploaded = _write_sparse(
            staged,
            selection.selected,
            writer,
            sent,
            store.delete_fields,
            one_generation=bool(selection.superseded),
        )
        return writer.close()
    except BaseException:
        writer.abort()
        raise


def _publish_manifest(
    folder: OutputDir,
    kind: str,
    staged: StagingManifest,
    counts: ChangeCounts,
    files: list[StagedFile],
    withheld_files: list[StagedFile],
    plan_token: str,
) -> StagingManifest:
    """The upload's manifest, written last: it lists the upsert and delete files; the withheld
    files are kept beside it, unlisted, for an approval. Its ``plan_token`` (this attempt's) goes
    into the clientRequestIds of every file in the folder, the withheld ones included."""
    manifest = StagingManifest(
        object_type=kind,
        files=files,
        records_read=staged.records_read,
        records_staged=counts.records_uploaded,
        records_rejected=staged.records_rejected,
        rejects_path=staged.rejects_path,
        sources=staged.sources,
        plan_token=plan_token,
    )
    manifest.publish(
        folder,
        also_keep=[
            os.path.basename(path) for f in withheld_files for path in (f.path, f.sources_path) if path
        ],
    )
    return manifest


def _log_counts(kind: str, counts: ChangeCounts, reason: str | None) -> None:
    log.info(
        "%s changes: %s new, %s changed, %s unchanged, %s pending retried, %s rejected kept pending, "
        "%s deletes, %s withheld; %s line(s) to upload%s",
        kind,
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


def stage_changes(
    source: StagingSource,
    *,
    object_type: ObjectType | str,
    out_dir: Any,
    state_base: Any,
    integration_id: IntegrationId | int | str,
    run_key: str,
    run_time: datetime | str | None = None,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    extra_tap: StagingTap | None = None,
    **options: Unpack[PlanOptions],
) -> ChangePlan:
    """Stage ``source`` and keep, in ``<out_dir>/<OBJECT_TYPE>/upload/``, only what Gong must be sent.

    ``run_key`` names the run (e.g. Airflow's run id): a retried or cleared run plans anew, after every
    key of its earlier attempt's plan became pending. The run holds the state's lease for
    ``lease_seconds`` (until its commit): another run of the same state raises
    :class:`GongStateConflictError` meanwhile. Every delete is dated with the wall clock when
    planned (``ChangePlan.deletes_dated``); ``run_time`` is accepted for earlier callers and no
    longer used (an old interval's end would back-date them). Raises :class:`GongStateCorruptError`
    for an unusable state (nothing is planned), :class:`GongDeleteGuardError` for an empty source in
    mirror mode when the state is not empty (unless ``confirm_deletes`` covers every confirmed key:
    the type is emptied on purpose), and staging's own errors. Deletes over ``max_delete_ratio`` of
    the confirmed keys are withheld unless ``confirm_deletes`` is at least their number; the plan's
    ``guard`` then says why, they are written apart (``withheld_files``) for an approval, and
    :func:`commit_changes` raises after committing the upserts unless they were approved and sent.
    ``extra_tap`` is shown every staged line too (e.g. a reference check's collector). ``options``:
    :class:`~gong_provider.changes.capture.PlanOptions`.
    """
    del run_time
    checked = _options(object_type, **options)
    store = StateStore(state_base, parse_integration_id(integration_id), checked.kind)  # a library door
    token = attempt_token(run_key)
    store.acquire_lease(token, run_key, lease_seconds)
    try:
        return _plan(
            source, _Run(store, checked, out_dir, state_base, token, run_key, extra_tap), in_flight=True
        )
    except BaseException:
        store.release_lease(token)  # nothing of this attempt is in flight
        raise


def preview_changes(
    source: StagingSource,
    *,
    object_type: ObjectType | str,
    out_dir: Any,
    state_base: Any,
    integration_id: IntegrationId | int | str,
    extra_tap: StagingTap | None = None,
    **options: Unpack[PlanOptions],
) -> ChangePlan:
    """What :func:`stage_changes` would send now, against the committed state, writing nothing under
    the state (no lease, no recovery, no marker): a dry run. The upload files are written to
    ``out_dir`` for inspection; a plan left in flight by a dead run is not counted (the real run
    would resend its keys too). ``options``: :class:`~gong_provider.changes.capture.PlanOptions`."""
    checked = _options(object_type, **options)
    store = StateStore(state_base, parse_integration_id(integration_id), checked.kind)  # a library door
    run = _Run(store, checked, out_dir, state_base, "preview", "preview", extra_tap)
    return _plan(source, run, in_flight=False)


def _plan(source: StagingSource, run: _Run, *, in_flight: bool) -> ChangePlan:
    """Steps 2 and 3 in a scratch folder; ``in_flight`` (a real run, holding the lease): recover the
    plans left in flight first, and write this plan as the in-flight marker last."""
    store = run.store
    scratch = tempfile.mkdtemp(prefix="gong-changes-")
    try:
        if in_flight:
            recover_orphans(store, by=run.token, reset_state=run.options.reset_state)
        planned = _compute(source, run, scratch)
        if in_flight:
            if run.options.kind is ObjectType.BUSINESS_USER:  # in the marker: a crash leaves them pending
                plan_user_deletes(store, planned.plan, planned.sent, run.out_dir)
            write_plan(store, planned.plan, planned.sent, planned.rejected_ids)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return planned.plan
