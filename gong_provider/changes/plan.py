"""A run's plan: what it sends and what its commit applies (the counts, the sent log, the rejects),
and how a plan is kept under the state as the run's in-flight marker.

Capture builds a plan and commit applies one; both import this module, never each other's. A plan is
computed without writing anything under the state (:func:`~gong_provider.changes.capture.preview_changes`);
:func:`write_plan` makes it the in-flight marker, before the upload.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Generic, TypeVar

import msgspec

from gong_provider.changes.errors import GongStateCorruptError
from gong_provider.changes.state import BUCKET_MASK, BUCKETS, StateStore, digest_of, key_of
from gong_provider.ids import IntegrationId, parse_integration_id
from gong_provider.staging.manifest import StagedFile, StagingManifest

SENT_UPSERT = 0
SENT_DELETED_RECORD = 1
"""The source's own ``isDeleted: true`` record: confirmed, it becomes a tombstone."""
SENT_MIRROR_DELETE = 2
SENT_WITHHELD_DELETE = 3
"""A mirror delete the guard withheld, written apart (``ChangePlan.withheld_files``): applied only
when those files are uploaded after an approval (see ``gong_provider.changes.approval``)."""
SENT_USER_DELETE = 4
"""A changed business user's delete, sent before its new version (``ChangePlan.reassociate_files``,
see ``gong_provider.changes.user_updates``): unless Gong confirmed it, the user stays pending, and a
pending business user is deleted first again."""

SentEntry = tuple[str, int, int, int, int, int, Any]
"""``(objectId, digest, kind, generation, part, line, delete fields)`` of one sent line."""

_MSGPACK = msgspec.msgpack.Encoder()


@dataclass
class ChangeCounts:
    """Per objectId (its last occurrence in the source), except ``records_uploaded``."""

    new: int = 0
    changed: int = 0
    unchanged: int = 0
    pending_retried: int = 0
    rejected: int = 0
    """Staging rejects with a valid objectId as their id's last occurrence: kept pending, never deleted."""
    deleted: int = 0
    """Mirror deletes written to the upload files."""
    deletes_withheld: int = 0
    reassociated: int = 0
    """BUSINESS_USER: changed or pending users deleted first (``ChangePlan.reassociate_files``)."""
    superseded: int = 0
    """BUSINESS_USER: earlier versions of users listed more than once, not sent (the last one is)."""
    records_uploaded: int = 0
    """Lines in the upload files (every generation, deletes included)."""


@dataclass
class ChangePlan:
    """What one run of one type sends, and what its commit applies (JSON-ready for XCom)."""

    object_type: str
    integration_id: IntegrationId
    """Kept as its digits in the JSON (64-bit: no JSON reader rounds it); parsed back by ``from_dict``."""
    state_base: str
    run_token: str
    """This attempt's token (the run's, plus a nonce): a retried or cleared run plans anew."""
    run_key: str
    mode: str
    base_generation: int | None
    """The state generation diffed against (None: no state); a commit on another fails."""
    fingerprint: str
    rebuild: bool
    """Everything sent and no delete inferred; keys confirmed earlier and absent now stay as they were
    (the next mirror run deletes them)."""
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
    deletes_dated: str = ""
    """The ``modifiedDate`` of every delete the plan sends (mirror, withheld, changed business
    users'): the wall clock when the run planned them, never the run's data interval."""
    reassociate_files: list[str] = field(default_factory=list)
    """BUSINESS_USER: deletes of the users whose details changed (or whose last change Gong did not
    confirm), to upload and see DONE before ``files``; never among the upload files."""

    @property
    def files(self) -> list[StagedFile]:
        return self.manifest.files

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["manifest"] = self.manifest.to_dict()
        data["integration_id"] = str(self.integration_id)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChangePlan:
        values = dict(data)
        values["manifest"] = StagingManifest.from_dict(dict(values["manifest"]))
        values["integration_id"] = parse_integration_id(values["integration_id"])  # the door: XCom, a file
        values["counts"] = ChangeCounts(**values.get("counts") or {})
        return cls(**values)


def utc_moment(value: datetime | str) -> datetime:
    """A moment in UTC, from an aware or naive (UTC) datetime or an ISO-8601 string (``ValueError``
    when the string is not one)."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def iso_timestamp(moment: datetime | str) -> str:
    """Gong's ``modifiedDate`` form (seconds, ``Z``) of a moment."""
    moment = utc_moment(moment)
    return f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}Z"


def delete_line(object_id: str, modified: str, extra: Any, fields: Sequence[str]) -> bytes:
    """A delete's line: objectId, ``modified`` (a plan's ``deletes_dated``), ``isDeleted: true``, and
    the ``fields`` (the type's delete fields, e.g. STAGE's ``name``) found in ``extra``."""
    record: dict[str, Any] = {"objectId": object_id, "modifiedDate": modified, "isDeleted": True}
    for name in fields:
        if isinstance(extra, dict) and extra.get(name) is not None:
            record[name] = extra[name]
    return msgspec.json.encode(record) + b"\n"


T = TypeVar("T")


class BucketSpill(Generic[T]):
    """Per-bucket buffers, spilled to a local temporary folder past a bound: the diff tap's columns
    and the sent log both use it. ``new`` makes an empty buffer, ``encode`` a frame of one, ``merge``
    adds a decoded frame to a buffer; ``size`` is the count each buffer holds."""

    def __init__(
        self,
        folder: str,
        name: str,
        *,
        new: Callable[[], T],
        encode: Callable[[T], bytes],
        merge: Callable[[T, bytes], None],
        size: Callable[[T], int],
        limit: int,
    ) -> None:
        self.folder = folder
        self.name = name
        self.new = new
        self.encode = encode
        self.merge = merge
        self.size = size
        self.limit = limit
        self.buffers: list[T] = [new() for _ in range(BUCKETS)]
        self.held = 0
        self.spilled: set[int] = set()

    def added(self, count: int) -> None:
        self.held += count
        if self.held >= self.limit:
            self.flush()

    def flush(self) -> None:
        for bucket, buffer in enumerate(self.buffers):
            if not self.size(buffer):
                continue
            frame = self.encode(buffer)
            with open(os.path.join(self.folder, f"{self.name}-{bucket}"), "ab") as handle:
                handle.write(len(frame).to_bytes(8, "little") + frame)
            self.spilled.add(bucket)
            self.buffers[bucket] = self.new()
        self.held = 0

    def load(self, bucket: int) -> T:
        """Everything added to ``bucket``, in order."""
        result = self.new()
        if bucket in self.spilled:
            with open(os.path.join(self.folder, f"{self.name}-{bucket}"), "rb") as handle:
                while head := handle.read(8):
                    self.merge(result, handle.read(int.from_bytes(head, "little")))
        self.merge(result, self.encode(self.buffers[bucket]))
        return result


SENT_SPILL_ENTRIES = 100_000
"""Sent-log entries (tuples, ~200 bytes each) held before they are spilled (~20 MB)."""


class SentLog:
    """What a commit applies, per bucket (:data:`SentEntry`); a rebuild logs every record."""

    def __init__(self, folder: str) -> None:
        self.spill: BucketSpill[list[Any]] = BucketSpill(
            folder,
            "sent",
            new=list,
            encode=_MSGPACK.encode,
            merge=lambda buffer, frame: buffer.extend(msgspec.msgpack.decode(frame)),
            size=len,
            limit=SENT_SPILL_ENTRIES,
        )

    def add(
        self, object_id: str, line: bytes, kind: int, generation: int, part: int, number: int, extra: Any
    ) -> None:
        self.spill.buffers[key_of(object_id) & BUCKET_MASK].append(
            (object_id, digest_of(line.rstrip(b"\n")), kind, generation, part, number, extra)
        )
        self.spill.added(1)

    def bucket(self, bucket: int) -> list[Any]:
        return self.spill.load(bucket)


# -- the plan as the in-flight marker ----------------------------------------------------------


def write_plan(store: StateStore, plan: ChangePlan, sent: SentLog, rejected_ids: list[str]) -> None:
    """The in-flight marker: the sent lines per bucket and the rejects, then the plan itself (last:
    a plan whose marker exists is whole)."""
    names = []
    for bucket in range(BUCKETS):
        entries = sent.bucket(bucket)
        if entries:
            name = store.plan_sent_name(plan.run_token, bucket)
            store.write_file(name, _MSGPACK.encode(entries))
            names.append(name)
        del entries
    store.write_file(store.plan_rejects_name(plan.run_token), _MSGPACK.encode(rejected_ids))
    plan.plan_files = names
    store.write_file(store.plan_name(plan.run_token), msgspec.json.encode(plan.to_dict()))


def load_plan(store: StateStore, token: str) -> ChangePlan:
    name = store.plan_name(token)
    try:
        return ChangePlan.from_dict(msgspec.json.decode(store.read_file(name)))
    except (msgspec.DecodeError, TypeError, KeyError) as error:
        raise GongStateCorruptError(store.location(name), f"unreadable plan ({error})") from None


def sent_entries(store: StateStore, plan: ChangePlan, bucket: int) -> list[SentEntry]:
    name = store.plan_sent_name(plan.run_token, bucket)
    if name not in plan.plan_files:
        return []
    try:
        entries: list[SentEntry] = msgspec.msgpack.decode(store.read_file(name))
    except msgspec.DecodeError as error:
        raise GongStateCorruptError(store.location(name), f"unreadable plan data ({error})") from None
    return entries


def rejected_by_bucket(store: StateStore, plan: ChangePlan) -> list[list[str]]:
    name = store.plan_rejects_name(plan.run_token)
    try:
        ids: list[str] = msgspec.msgpack.decode(store.read_file(name))
    except msgspec.DecodeError as error:
        raise GongStateCorruptError(store.location(name), f"unreadable plan data ({error})") from None
    by_bucket: list[list[str]] = [[] for _ in range(BUCKETS)]
    for object_id in ids:
        by_bucket[key_of(object_id) & BUCKET_MASK].append(object_id)
    return by_bucket
