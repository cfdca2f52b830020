"""Commit: advance the state for what Gong confirmed, after a type's uploads are terminal.

A sent line is confirmed only when its file's answer proves it was stored
(:meth:`~gong_provider.models.RequestStatus.refused_lines`: DONE without errors, or a complete
error list that does not name the line). Anything else (a listed line, an incomplete list, a
general error, FAILED with nothing listed, a file never uploaded or still processing) leaves its
objectId pending: the next run sends it again under a new clientRequestId. For an objectId sent in
several generations, its last line decides; a reject as the last occurrence leaves it pending.

A commit checks that its run still holds the state's lease, claims the next generation, writes the
generation's buckets, moves ``HEAD.json`` (naming the plan as committed), removes the plan, the old
generations, and releases the lease. Each step is idempotent: a commit retried after a crash at any
write finishes the same way, and a plan HEAD names as committed is never recovered as in flight.
"""

from __future__ import annotations

import dataclasses
import logging
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from itertools import compress
from typing import Any

from gong_provider.changes.approval import approved_withheld
from gong_provider.changes.errors import (
    GongDeleteGuardError,
    GongStateConflictError,
    GongStateCorruptError,
)
from gong_provider.changes.plan import (
    SENT_DELETED_RECORD,
    SENT_MIRROR_DELETE,
    SENT_USER_DELETE,
    SENT_WITHHELD_DELETE,
    ChangeCounts,
    ChangePlan,
    SentEntry,
    load_plan,
    rejected_by_bucket,
    sent_entries,
)
from gong_provider.changes.state import (
    BUCKETS,
    COMMITTED_TOKENS_KEPT,
    LIVE,
    PENDING,
    TOMBSTONE,
    Bucket,
    BucketRef,
    StateHead,
    StateStore,
    key_of,
    utcnow,
)
from gong_provider.exceptions import GongRowError
from gong_provider.models import RecordError, RequestState, RequestStatus
from gong_provider.rows import UploadRow, WaitRow, upload_rows

log = logging.getLogger(__name__)

_REMOVED = 255
RECOVERED = "~"
"""Prefix of a plan token in ``HEAD.committed_tokens`` when another run recovered the plan (its keys
made pending) rather than the plan's run committing it."""
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


def file_outcome(outcome: Outcome) -> _FileOutcome:
    """Which lines of one uploaded file Gong's answer proves stored (see the module docstring)."""
    status = request_status_of(outcome)
    if status is None:
        return _UNCONFIRMED
    refused = status.refused_lines()
    return _UNCONFIRMED if refused is None else _FileOutcome(True, refused)


def request_status_of(outcome: Outcome) -> RequestStatus | None:
    """An outcome as a :class:`~gong_provider.models.RequestStatus`. A dict names its form by its
    request id's key: ``request_id`` is ``RequestStatus.to_dict()``, ``requestId`` Gong's answer."""
    if outcome is None or isinstance(outcome, RequestStatus):
        return outcome
    if "request_id" in outcome:
        return RequestStatus.from_dict(dict(outcome))
    if "requestId" in outcome:
        return RequestStatus.from_json(dict(outcome))
    raise GongRowError(
        "A final status names its request id 'request_id' (RequestStatus.to_dict()) or 'requestId' "
        f"(Gong's answer); this has neither: {dict(outcome)!r}"
    )


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
    The withheld delete files (``plan.withheld_files``) are named only once a person approved them
    and they were sent: with a confirming answer their keys are removed; named with None (sent, no
    answer) their keys are pending; not named (not approved) their keys stay as they were.

    Idempotent: a retry after the commit, or after a crash at any of its writes, gives the same state.
    Raises :class:`GongStateConflictError` when another run took the state over since this one was
    planned (its lease expired): this run's keys are pending then, and the next run sends them again.
    Deletes withheld by the guard do not raise here: call :meth:`CommitReport.raise_for_guard`.
    """
    if not isinstance(plan, ChangePlan):
        plan = ChangePlan.from_dict(plan)
    store = StateStore(plan.state_base, plan.integration_id, plan.object_type)
    head = _head_for_commit(store, plan)
    committed = head.committed_tokens if head is not None else []
    if plan.run_token in committed:
        assert head is not None
        log.info("%s: this run already committed state generation %s", plan.object_type, head.generation)
        _finish(store, plan.run_token)
        report = (
            CommitReport.from_dict(head.report)
            if head.run_token == plan.run_token
            else CommitReport(
                plan.object_type,
                head.generation,
                plan.counts,
                0,
                0,
                head.live,
                head.tombstones,
                head.pending,
                plan.guard,
            )
        )
        report.already_committed = True
        return report
    if RECOVERED + plan.run_token in committed or not store.holds_lease(plan.run_token):
        raise GongStateConflictError(
            f"{plan.object_type}: run {plan.run_key} lost the state at {store.label} to another run before "
            "its commit (its lease expired and was taken over): what it sent is pending, and the next "
            "run sends it again"
        )
    if plan.rebuild and plan.base_generation is None:
        head = None  # reset_state replaces an unusable state (or there was none)
    current = head.generation if head is not None else None
    if current != plan.base_generation:
        raise GongStateConflictError(
            f"{plan.object_type}: the state at {store.label} moved from generation "
            f"{plan.base_generation} to {current} since this run diffed it (another run committed): "
            "this run's changes stay pending and the next run sends them again"
        )
    by_file = {path: file_outcome(status) for path, status in outcomes.items()}
    report = _apply(store, plan, head, by_file, now=now)
    _finish(store, plan.run_token)
    return report


def _finish(store: StateStore, token: str) -> None:
    """What follows HEAD, each step safe to repeat: the plan's marker, old generations, the lease."""
    store.remove_plan(token)
    store.collect_garbage()
    store.release_lease(token)


def _head_for_commit(store: StateStore, plan: ChangePlan) -> StateHead | None:
    try:
        return store.read_head()
    except GongStateCorruptError:
        if plan.rebuild and plan.base_generation is None:
            return None  # reset_state replaces an unreadable state
        raise


def _apply(
    store: StateStore,
    plan: ChangePlan,
    head: StateHead | None,
    by_file: Mapping[str, _FileOutcome],
    *,
    now: datetime | None,
    recovered_by: str | None = None,
) -> CommitReport:
    """Write the new generation onto ``head`` and move HEAD. A rebuild starts from ``head`` too: keys
    confirmed earlier and absent from this run stay, so that a later mirror run deletes them.
    ``recovered_by``: the token of the run recovering this plan (nothing confirmed, HEAD names it)."""
    committer = recovered_by or plan.run_token
    answers = _Answers.of(plan, by_file, recovering=recovered_by is not None)
    generation = store.claim(head, committer)  # step 6
    written = _write_buckets(store, plan, head, answers, generation, committer)  # step 7
    report = _report(plan, generation, written, by_file)
    _move_head(store, plan, head, generation, committer, written, report, now=now, recovered_by=recovered_by)
    log.info(
        "%s: committed state generation %s (%s confirmed line(s), %s objectId(s) left pending; "
        "state: %s live, %s tombstones, %s pending)",
        plan.object_type,
        generation,
        written.confirmed,
        written.left_pending,
        written.totals[LIVE],
        written.totals[TOMBSTONE],
        written.totals[PENDING],
    )
    return report


@dataclass(frozen=True)
class _Answers:
    """What Gong's answers proved, per file of the plan, keyed the way the sent log names the file."""

    upserts: dict[tuple[int, int], _FileOutcome]
    """By ``(generation, part)``."""
    deletes: dict[int, _FileOutcome]
    """Mirror deletes, by part."""
    withheld: dict[int, _FileOutcome]
    """Withheld deletes, by part: only those sent (approved; in a recovery, all of them)."""
    user_deletes: dict[int, _FileOutcome]
    """Business users' deletes before their new version, by part."""

    @classmethod
    def of(cls, plan: ChangePlan, by_file: Mapping[str, _FileOutcome], *, recovering: bool) -> _Answers:
        """A withheld delete file counts as sent when ``by_file`` names it (with or without an answer)
        and, in a recovery, always: a dead run may have sent it after an approval."""
        deletes = set(plan.delete_files)
        return cls(
            upserts={
                (f.generation, f.part): by_file.get(f.path, _UNCONFIRMED)
                for f in plan.files
                if f.path not in deletes
            },
            deletes={f.part: by_file.get(f.path, _UNCONFIRMED) for f in plan.files if f.path in deletes},
            withheld={
                part: by_file.get(path, _UNCONFIRMED)
                for part, path in enumerate(plan.withheld_files)
                if recovering or path in by_file
            },
            user_deletes={
                part: by_file.get(path, _UNCONFIRMED) for part, path in enumerate(plan.reassociate_files)
            },
        )


@dataclass
class _Written:
    """The new generation's buckets, and what the commit counted writing them."""

    refs: dict[int, BucketRef] = field(default_factory=dict)
    totals: dict[int, int] = field(default_factory=lambda: {LIVE: 0, TOMBSTONE: 0, PENDING: 0})
    confirmed: int = 0
    """Sent lines Gong confirmed."""
    left_pending: int = 0
    """ObjectIds whose change Gong did not confirm."""


def _write_buckets(
    store: StateStore,
    plan: ChangePlan,
    head: StateHead | None,
    answers: _Answers,
    generation: int,
    committer: str,
) -> _Written:
    """Step 7: every bucket the run sent to (or rejected in) gets the answers applied and is written
    under ``generation``; an untouched bucket's file is shared with the new generation."""
    rejected = rejected_by_bucket(store, plan)
    written = _Written()
    for bucket in range(BUCKETS):
        entries = store.load_bucket(head, bucket)
        sent = sent_entries(store, plan, bucket)
        touched = bool(sent or rejected[bucket])
        if touched:
            entries = _apply_answers(entries, sent, rejected[bucket], answers, written)
        for flag in (LIVE, TOMBSTONE, PENDING):
            written.totals[flag] += entries.flags.count(flag)
        untouched = head.buckets.get(bucket) if head is not None and not touched else None
        if untouched is not None:
            written.refs[bucket] = untouched  # immutable: the new generation shares the file
        elif len(entries):
            written.refs[bucket] = store.write_bucket(generation, committer, bucket, entries)
    return written


def _apply_answers(
    entries: Bucket,
    sent: list[SentEntry],
    rejected: Iterable[str],
    answers: _Answers,
    written: _Written,
) -> Bucket:
    """One bucket's entries after the answers: for each objectId its last sent line decides (live,
    tombstone, removed, or pending if unconfirmed); a rejected key and a business user whose delete
    is unconfirmed are pending. Counts the confirmed lines and the keys left pending in ``written``."""
    # bound once per bucket, not looked up per line
    user_deletes, withheld, deletes = answers.user_deletes, answers.withheld, answers.deletes
    upserts = answers.upserts
    index = dict(zip(entries.ids, range(len(entries)), strict=False))
    final: dict[str, int] = {}
    not_reassociated: list[str] = []
    confirmed_lines = 0
    for object_id, digest, kind, generation_no, part, line, extra in sent:
        if kind == SENT_USER_DELETE:  # a business user's delete, before its new version
            if not user_deletes.get(part, _UNCONFIRMED).accepts(line):
                not_reassociated.append(object_id)
            continue
        if kind == SENT_WITHHELD_DELETE:  # sent only once approved
            if part not in withheld:
                continue  # not sent (not approved): the key stays as it was
            outcome = withheld[part]  # sent: removed once confirmed, else pending like any delete
            kind = SENT_MIRROR_DELETE
        else:
            outcome = (
                deletes.get(part, _UNCONFIRMED)
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
    # its delete unconfirmed, Gong may keep the old email-to-user association whatever the
    # new version's answer: pending, so the next run deletes the user first again
    for object_id in [*not_reassociated, *rejected]:
        position = _position(entries, index, object_id, None)
        entries.flags[position] = PENDING
        final[object_id] = PENDING
    written.confirmed += confirmed_lines
    written.left_pending += sum(1 for flag in final.values() if flag == PENDING)
    return _without_removed(entries)


def _report(
    plan: ChangePlan, generation: int, written: _Written, by_file: Mapping[str, _FileOutcome]
) -> CommitReport:
    """The commit's report (also kept in HEAD); notes the withheld deletes as approved if all were sent."""
    report = CommitReport(
        object_type=plan.object_type,
        generation=generation,
        counts=plan.counts,
        confirmed=written.confirmed,
        left_pending=written.left_pending,
        live=written.totals[LIVE],
        tombstones=written.totals[TOMBSTONE],
        pending=written.totals[PENDING],
        guard=plan.guard,
    )
    if plan.withheld_files and all(
        path in by_file and by_file[path].confirmed for path in plan.withheld_files
    ):
        approved_withheld(report)  # the withheld deletes were approved, sent and answered
    return report


def _move_head(
    store: StateStore,
    plan: ChangePlan,
    head: StateHead | None,
    generation: int,
    committer: str,
    written: _Written,
    report: CommitReport,
    *,
    now: datetime | None,
    recovered_by: str | None,
) -> None:
    """Step 8: HEAD names the new generation's buckets, the counts, and the plan's token among the
    committed ones (marked as recovered when another run recovered it)."""
    recovering = recovered_by is not None
    marker = RECOVERED + plan.run_token if recovering else plan.run_token
    earlier = head.committed_tokens if head is not None else []
    store.write_head(
        StateHead(
            generation=generation,
            fingerprint=head.fingerprint if recovering and head is not None else plan.fingerprint,
            buckets=written.refs,
            run_token=committer,
            committed_at=(now or utcnow()).isoformat(),
            live=written.totals[LIVE],
            tombstones=written.totals[TOMBSTONE],
            pending=written.totals[PENDING],
            rebuild_next=(recovering and plan.rebuild)
            or (recovering and head is not None and head.rebuild_next),
            report=report.to_dict(),
            committed_tokens=[*earlier, marker][-COMMITTED_TOKENS_KEPT:],
        )
    )


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


def recover_orphans(store: StateStore, *, by: str, reset_state: bool = False) -> list[int]:
    """Under ``by``'s lease, settle every plan left under the state, whatever run or attempt wrote
    it: one HEAD names as committed (its commit died before removing it) is removed; any other was
    in flight, and every key it sent becomes pending (a rebuilding one makes the next run rebuild).
    With ``reset_state`` and an unreadable HEAD the plans are dropped (the state is rebuilt anyway).
    Returns the generations written."""
    generations = []
    for token in store.plan_tokens():
        try:
            head = store.read_head()
            done = head.committed_tokens if head is not None else []
            if token in done or RECOVERED + token in done:
                log.info(
                    "%s: removing the marker of plan %s, committed already", store.object_type.value, token
                )
                store.remove_plan(token)
                continue
            plan = load_plan(store, token)
            log.warning(
                "%s: run %s (plan %s) died or lost the state between its upload and its commit: the "
                "objectIds it sent are pending again",
                plan.object_type,
                plan.run_key,
                token,
            )
            report = _apply(store, plan, head, {}, now=None, recovered_by=f"recovered-by-{by}")
        except GongStateCorruptError:
            if not reset_state:
                raise
            log.warning(
                "%s: plan %s dropped: reset_state replaces an unusable state", store.object_type.value, token
            )
        else:
            generations.append(report.generation)
        store.remove_plan(token)
    return generations


def status_of_row(row: UploadRow | WaitRow) -> RequestStatus | None:
    """The final status in one XCom row (the upload operator's with ``wait_for_completion``, the wait
    sensor's: :mod:`gong_provider.rows`); None when the row holds none."""
    if "status" not in row:
        return None
    return RequestStatus(
        request_id=row.get("request_status_id"),
        status=RequestState(row["status"]),
        errors=[RecordError(**error) for error in row.get("errors") or []],
        total_error_count=int(row.get("total_error_count") or 0),
        total_success_count=int(row.get("total_success_count") or 0),
    )


def statuses_by_file(rows: Iterable[Mapping[str, Any]]) -> dict[str, Outcome]:
    """``{file: status}`` from the upload operator's XCom rows (validated here: a row without
    ``file`` or another key the operator writes is refused, naming it)."""
    return {row["file"]: status_of_row(row) for row in upload_rows(list(rows), source="the upload task")}
