"""Commit: advance the state for what Gong confirmed, after a type's uploads are terminal.

A sent line is confirmed when its file is DONE, or FAILED with a complete error list (``errors``
holds ``totalErrorCount`` items and no general error) that does not name the line. Anything else
(a listed line, an incomplete list, a general error, a file never uploaded or still processing)
leaves its objectId pending: the next run sends it again under a new clientRequestId. For an
objectId sent in several generations, its last line decides.

The commit writes the new generation's buckets, claims the generation (two runs that read the same
state cannot both commit), then moves ``HEAD.json``, then removes the plan and old generations.
A commit retried after it moved HEAD finds HEAD naming its own run and returns the same report.
"""

from __future__ import annotations

import dataclasses
import logging
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import compress
from typing import Any

import msgspec

from gong_provider.changes.approval import approved_withheld
from gong_provider.changes.capture import (
    SENT_DELETED_RECORD,
    SENT_MIRROR_DELETE,
    SENT_WITHHELD_DELETE,
    ChangeCounts,
    ChangePlan,
    _SentLog,
)
from gong_provider.changes.errors import (
    GongDeleteGuardError,
    GongStateConflictError,
    GongStateCorruptError,
)
from gong_provider.changes.state import (
    BUCKET_MASK,
    BUCKETS,
    LIVE,
    PENDING,
    TOMBSTONE,
    Bucket,
    BucketRef,
    StateHead,
    StateStore,
    key_of,
)
from gong_provider.models import RequestState, RequestStatus

log = logging.getLogger(__name__)

_REMOVED = 255
_ENCODER = msgspec.msgpack.Encoder()
Outcome = RequestStatus | Mapping[str, Any] | None


@dataclass
class CommitReport:
    """What a commit did, for the DAG's report (JSON-ready)."""

    object_type: str
    generation: int
    counts: ChangeCounts
    confirmed: int
    """Sent lines Gong confirmed."""
    left_pending: int
    """ObjectIds whose change Gong did not confirm: sent again next run."""
    live: int
    tombstones: int
    pending: int
    guard: str | None = None
    already_committed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CommitReport:
        values = dict(data)
        values["counts"] = ChangeCounts(**values["counts"])
        return cls(**values)

    def raise_for_guard(self) -> None:
        """Fail the type when its deletes were withheld (the upserts are committed by then)."""
        if self.guard:
            raise GongDeleteGuardError(
                self.guard,
                object_type=self.object_type,
                deletes=self.counts.deletes_withheld,
                confirmed=self.live + self.pending,
            )


@dataclass
class _FileOutcome:
    confirmed: bool
    failed_lines: frozenset[int] = field(default_factory=frozenset)

    def accepts(self, line: int) -> bool:
        return self.confirmed and line not in self.failed_lines


_UNCONFIRMED = _FileOutcome(False)


def file_outcome(status: Outcome) -> _FileOutcome:
    """Which lines of one uploaded file Gong confirmed, from its request status (see the docstring)."""
    if status is None:
        return _UNCONFIRMED
    if not isinstance(status, RequestStatus):
        status = (
            RequestStatus.from_json(dict(status))
            if "totalErrorCount" in status or "requestId" in status
            else RequestStatus.from_dict(dict(status))
        )
    if status.status is RequestState.DONE:
        return _FileOutcome(True)
    if status.status is not RequestState.FAILED or status.has_general_error:
        return _UNCONFIRMED
    if status.total_error_count > len(status.errors):
        return _UNCONFIRMED  # Gong lists at most 20 errors: the others are unknown
    return _FileOutcome(True, frozenset(error.line for error in status.errors))


# -- plans ------------------------------------------------------------------------------------


def _plan_names(token: str) -> tuple[str, str]:
    return f"plan-{token}.json", f"plan-{token}-rejects.msgpack"


def _sent_name(token: str, bucket: int) -> str:
    return f"plan-{token}-s{bucket:02d}.msgpack"


def write_plan(store: StateStore, plan: ChangePlan, sent: _SentLog, rejected_ids: list[str]) -> None:
    """The in-flight marker: the sent lines per bucket and the rejects, then the plan itself."""
    marker, rejects = _plan_names(plan.run_token)
    names = []
    for bucket in range(BUCKETS):
        entries = sent.bucket(bucket)
        if entries:
            store.write_blob(_sent_name(plan.run_token, bucket), _ENCODER.encode(entries))
            names.append(_sent_name(plan.run_token, bucket))
        del entries
    store.write_blob(rejects, _ENCODER.encode(rejected_ids))
    plan.plan_files = names
    store.write_blob(marker, plan_json(plan).encode())


def plan_json(plan: ChangePlan) -> str:
    return msgspec.json.encode(plan.to_dict()).decode()


def load_plan(store: StateStore, token: str) -> ChangePlan:
    marker, _ = _plan_names(token)
    try:
        return ChangePlan.from_dict(msgspec.json.decode(store.read_blob(marker)))
    except (msgspec.DecodeError, TypeError, KeyError) as error:
        raise GongStateCorruptError(store.folder.location(marker), f"unreadable plan ({error})") from None


def _sent_entries(store: StateStore, plan: ChangePlan, bucket: int) -> list[Any]:
    name = _sent_name(plan.run_token, bucket)
    if name not in plan.plan_files:
        return []
    try:
        entries: list[Any] = msgspec.msgpack.decode(store.read_blob(name))
    except msgspec.DecodeError as error:
        raise GongStateCorruptError(store.folder.location(name), f"unreadable plan data ({error})") from None
    return entries


def _rejected(store: StateStore, plan: ChangePlan) -> list[list[str]]:
    _, name = _plan_names(plan.run_token)
    try:
        ids: list[str] = msgspec.msgpack.decode(store.read_blob(name))
    except msgspec.DecodeError as error:
        raise GongStateCorruptError(store.folder.location(name), f"unreadable plan data ({error})") from None
    by_bucket: list[list[str]] = [[] for _ in range(BUCKETS)]
    for object_id in ids:
        by_bucket[key_of(object_id) & BUCKET_MASK].append(object_id)
    return by_bucket


# -- commit -----------------------------------------------------------------------------------


def commit_changes(
    plan: ChangePlan | Mapping[str, Any],
    outcomes: Mapping[str, Outcome],
    *,
    now: datetime | None = None,
) -> CommitReport:
    """Advance the state for what Gong confirmed; ``outcomes`` maps each uploaded file's path (as in
    ``plan.files``) to its final request status (a :class:`~gong_provider.models.RequestStatus`, its
    ``to_dict()``, Gong's JSON, or None for a file that was not uploaded or has no final status).

    Raises :class:`GongStateConflictError` when another run committed since this one was planned.
    Deletes withheld by the guard do not raise here: call :meth:`CommitReport.raise_for_guard`.
    """
    if not isinstance(plan, ChangePlan):
        plan = ChangePlan.from_dict(plan)
    store = StateStore(plan.state_base, plan.integration_id, plan.object_type)
    marker, _ = _plan_names(plan.run_token)
    head = _head_for_commit(store, plan)
    if head is not None and head.run_token == plan.run_token and marker not in store.folder.names():
        log.info("%s: this run already committed state generation %s", plan.object_type, head.generation)
        report = CommitReport.from_dict(head.report)
        report.already_committed = True
        return report
    if not plan.rebuild or plan.base_generation is not None:
        current = head.generation if head is not None else None
        if current != plan.base_generation:
            raise GongStateConflictError(
                f"{plan.object_type}: the state at {store.label} moved from generation "
                f"{plan.base_generation} to {current} since this run diffed it (another run committed): "
                "this run's changes stay pending and the next run sends them again"
            )
    by_file = {path: file_outcome(status) for path, status in outcomes.items()}
    return _apply(store, plan, head, by_file, now=now)


def _head_for_commit(store: StateStore, plan: ChangePlan) -> StateHead | None:
    try:
        return store.read_head()
    except GongStateCorruptError:
        if plan.rebuild and plan.base_generation is None:
            return None  # reset_state replaces an unreadable state
        raise


def _next_generation(store: StateStore, head: StateHead | None) -> int:
    if head is not None:
        return head.generation + 1
    names = store.folder.names()  # one listing (real I/O on object storage)
    found = [int(name[4:12]) for name in names if name.startswith("gen-") and name[4:12].isdigit()]
    found += [int(name[6:14]) for name in names if name.startswith("claim-") and name[6:14].isdigit()]
    return max(found, default=0) + 1


def _apply(
    store: StateStore,
    plan: ChangePlan,
    head: StateHead | None,
    by_file: Mapping[str, _FileOutcome],
    *,
    now: datetime | None,
    recovering: bool = False,
    rebuild_next: bool = False,
    committer: str | None = None,
) -> CommitReport:
    """Write the new generation (``committer``: the token HEAD names, the plan's own unless a later
    run recovers the plan, so that the planning run, if alive after all, finds a conflict)."""
    committer = committer or plan.run_token
    deletes = set(plan.delete_files)
    upserts = {
        (f.generation, f.part): by_file.get(f.path, _UNCONFIRMED) for f in plan.files if f.path not in deletes
    }
    delete_parts = {f.part: by_file.get(f.path, _UNCONFIRMED) for f in plan.files if f.path in deletes}
    withheld_parts = {part: by_file[path] for part, path in enumerate(plan.withheld_files) if path in by_file}
    generation = _next_generation(store, head)
    rejected = _rejected(store, plan)
    refs: dict[int, BucketRef] = {}
    totals = {LIVE: 0, TOMBSTONE: 0, PENDING: 0}
    confirmed_lines = 0
    left_pending = 0
    base = None if plan.rebuild else head
    for bucket in range(BUCKETS):
        entries = store.load_bucket(base, bucket)
        sent = _sent_entries(store, plan, bucket)
        if sent or rejected[bucket]:
            index = dict(zip(entries.ids, range(len(entries)), strict=False))
            final: dict[str, int] = {}
            for object_id, digest, kind, generation_no, part, line, extra in sent:
                if kind == SENT_WITHHELD_DELETE:  # sent only once approved
                    outcome = withheld_parts.get(part, _UNCONFIRMED)
                    if not outcome.accepts(line):
                        continue  # not approved, or not confirmed: the key stays as it was
                    kind = SENT_MIRROR_DELETE
                else:
                    outcome = (
                        delete_parts.get(part, _UNCONFIRMED)
                        if kind == SENT_MIRROR_DELETE
                        else upserts.get((generation_no, part), _UNCONFIRMED)
                    )
                accepted = outcome.accepts(line)
                confirmed_lines += accepted
                position = _position(entries, index, object_id, extra)
                if not accepted:
                    entries.flags[position] = PENDING
                elif kind == SENT_MIRROR_DELETE:
                    entries.flags[position] = _REMOVED
                else:
                    entries.digests[position] = digest
                    entries.flags[position] = TOMBSTONE if kind == SENT_DELETED_RECORD else LIVE
                    if entries.extras is not None:
                        entries.extras[position] = extra
                final[object_id] = entries.flags[position]
            for object_id in rejected[bucket]:
                position = _position(entries, index, object_id, None)
                entries.flags[position] = PENDING
                final[object_id] = PENDING
            left_pending += sum(1 for flag in final.values() if flag == PENDING)
            entries = _without_removed(entries)
        for flag in (LIVE, TOMBSTONE, PENDING):
            totals[flag] += entries.flags.count(flag)
        untouched = base.buckets.get(bucket) if base is not None and not (sent or rejected[bucket]) else None
        if untouched is not None:
            refs[bucket] = untouched  # immutable: the new generation shares the file
        elif len(entries):
            refs[bucket] = store.write_bucket(generation, committer, bucket, entries)
    report = CommitReport(
        object_type=plan.object_type,
        generation=generation,
        counts=plan.counts,
        confirmed=confirmed_lines,
        left_pending=left_pending,
        live=totals[LIVE],
        tombstones=totals[TOMBSTONE],
        pending=totals[PENDING],
        guard=plan.guard,
    )
    if plan.withheld_files and all(path in by_file for path in plan.withheld_files):
        approved_withheld(report)  # the withheld deletes were approved and sent
    new_head = StateHead(
        generation=generation,
        fingerprint=head.fingerprint if recovering and head is not None else plan.fingerprint,
        buckets=refs,
        run_token=committer,
        committed_at=(now or datetime.now(timezone.utc)).isoformat(),
        live=totals[LIVE],
        tombstones=totals[TOMBSTONE],
        pending=totals[PENDING],
        rebuild_next=rebuild_next or (recovering and head is not None and head.rebuild_next),
        report=report.to_dict(),
    )
    store.claim(generation, committer)
    store.write_head(new_head)
    store.remove_plan(plan.run_token)
    store.collect_garbage(new_head)
    log.info(
        "%s: committed state generation %s (%s confirmed line(s), %s objectId(s) left pending; "
        "state: %s live, %s tombstones, %s pending)",
        plan.object_type,
        generation,
        confirmed_lines,
        left_pending,
        totals[LIVE],
        totals[TOMBSTONE],
        totals[PENDING],
    )
    return report


def _position(entries: Bucket, index: dict[str, int], object_id: str, extra: Any) -> int:
    """The entry of ``object_id``, appended as pending (nothing confirmed yet) if it is new."""
    position = index.get(object_id)
    if position is None:
        position = index[object_id] = len(entries)
        entries.ids.append(object_id)
        entries.keys.append(key_of(object_id))
        entries.digests.append(0)
        entries.flags.append(PENDING)
        if entries.extras is not None:
            entries.extras.append(extra)
    return position


def _without_removed(entries: Bucket) -> Bucket:
    if _REMOVED not in entries.flags:
        return entries
    keep = [flag != _REMOVED for flag in entries.flags]
    return Bucket(
        list(compress(entries.ids, keep)),
        array("Q", compress(entries.keys, keep)),
        array("Q", compress(entries.digests, keep)),
        bytearray(compress(entries.flags, keep)),
        list(compress(entries.extras, keep)) if entries.extras is not None else None,
    )


def recover_orphans(store: StateStore, *, keep: str) -> list[int]:
    """Commit the plans of runs that died in flight (every key they sent becomes pending); a plan of
    a run that was rebuilding the state makes the next run rebuild too. Returns the generations."""
    generations = []
    for token in store.plan_tokens():
        if token == keep:
            continue
        plan = load_plan(store, token)
        head = store.read_head()
        log.warning(
            "%s: run %s died between its upload and its commit: the objectIds it sent are pending again",
            plan.object_type,
            plan.run_key,
        )
        # on the current state, whatever the plan was diffed against: pending only means "send again"
        onto = dataclasses.replace(plan, rebuild=False)
        report = _apply(
            store,
            onto,
            head,
            {},
            now=None,
            recovering=True,
            rebuild_next=plan.rebuild,
            committer=f"recovered-by-{keep}",
        )
        generations.append(report.generation)
    return generations


def status_of_row(row: Mapping[str, Any]) -> Outcome:
    """The final status in one XCom row: the upload operator's (``wait_for_completion``) and the wait
    sensor's rows hold ``status`` as a word beside ``total_error_count``, ``errors`` and so on."""
    status = row.get("status")
    if isinstance(status, str):
        return {
            "request_id": row.get("request_status_id"),
            "status": status,
            "errors": list(row.get("errors") or []),
            "total_error_count": int(row.get("total_error_count") or 0),
            "total_success_count": int(row.get("total_success_count") or 0),
        }
    return status


def statuses_by_file(rows: Iterable[Mapping[str, Any]]) -> dict[str, Outcome]:
    """``{file: status}`` from rows that carry ``file`` and ``status`` (the upload operator's XCom)."""
    result: dict[str, Outcome] = {}
    for row in rows:
        if row and row.get("file"):
            result[str(row["file"])] = status_of_row(row)
    return result
