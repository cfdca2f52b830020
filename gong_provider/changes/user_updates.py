"""Business users changed the way Gong documents it: delete, then send the new version separately.

Gong: "To update an existing user: delete the existing user by uploading it with isDeleted=true; in
a new request, send the new user details." A plain upsert keeps the old email-to-user association,
so a rep's new email would never re-associate their activity.

While :func:`~gong_provider.changes.stage_changes` plans a BUSINESS_USER run, before it writes the
plan's in-flight marker, :func:`plan_user_deletes` writes a delete of each user to re-associate
into ``ChangePlan.reassociate_files`` and logs them in the plan: the caller uploads those files,
waits until Gong reports them DONE, and only then uploads the plan's files (the new versions).

A user is re-associated when the state holds it as live with other content (changed), or as
pending: Gong did not confirm its last change, so it may hold any earlier version under its old
email (a delete that failed, a run that died, an answer that proved nothing). The commit leaves a
user pending unless Gong confirmed its delete *and* its new version, so a failed or lost delete is
sent again, first, by the next run: pending is how the state remembers "re-associate". New users
(not in the state) and unchanged live ones (not in the plan) are untouched.

A user listed more than once in one export is sent once, as its **last** version (change capture
keeps only its last staged place): every other type sends each version in a generation of its own,
one after another, but a user's later version would then go as a plain upsert on the user its earlier version
just created (Gong would keep the first email while the state records the last). The earlier
versions are superseded: counted (``ChangeCounts.superseded``) and logged with file, line and
objectId.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import msgspec

from gong_provider.changes.plan import (
    SENT_USER_DELETE,
    ChangePlan,
    SentLog,
    delete_line,
    iso_timestamp,
    utc_moment,
)
from gong_provider.changes.state import LIVE, PENDING, StateStore, digest_of, iter_state
from gong_provider.models import ObjectType
from gong_provider.staging.manifest import StagingManifest
from gong_provider.staging.outdir import OutputDir, open_location
from gong_provider.staging.writer import Origin, PartWriter

log = logging.getLogger(__name__)

REASSOCIATE_FOLDER = "reassociate"
"""Under ``<out_dir>/BUSINESS_USER/``: the deletes that go before the users' new versions."""
_FILE_BYTES = 199_000_000


class _User(msgspec.Struct):
    objectId: str
    isDeleted: Any = None
    modifiedDate: Any = None


def reassociation_dated(new_version_modified: Any, deletes_dated: str) -> str:
    """The ``modifiedDate`` of a user's re-association delete: one second before its new version's
    own ``modifiedDate``, and never after the plan's ``deletes_dated``.

    Gong documents no ordering by ``modifiedDate``; were it to keep the last-modified version, a
    delete dated after the new version (the plan's wall clock) would win over it and leave the user
    deleted while the state records it live. Dated just before, the delete and then the new version
    take effect in either reading. A new version without a readable date (or dated in the first
    second of year 1) keeps ``deletes_dated``.
    """
    try:
        before = utc_moment(str(new_version_modified)) - timedelta(seconds=1)
    except (ValueError, OverflowError):
        return deletes_dated
    if deletes_dated and utc_moment(deletes_dated) <= before:
        return deletes_dated  # a new version dated ahead of the clock
    return iso_timestamp(before)


def sends_last_version_only(object_type: ObjectType) -> bool:
    """Whether a type sends only the last version of an objectId listed more than once in one export
    (BUSINESS_USER: a later version must never go as a plain upsert on the user an earlier one
    created); every other type sends each version, one generation after another."""
    return object_type is ObjectType.BUSINESS_USER


def users_to_reassociate(store: StateStore, plan: ChangePlan) -> dict[str, Any]:
    """ObjectIds of the plan's BUSINESS_USER upserts that the state holds as pending, or as live
    with other content, in upload order, each with its new version's ``modifiedDate``; empty for any
    other type, or without a readable state."""
    if plan.object_type != ObjectType.BUSINESS_USER.value or plan.base_generation is None:
        return {}
    known = {
        object_id: (digest, flag)
        for object_id, digest, flag, _ in iter_state(store)
        if flag in (LIVE, PENDING)
    }
    if not known:
        return {}
    skip = set(plan.delete_files) | set(plan.withheld_files)
    decoder = msgspec.json.Decoder(_User)
    users: dict[str, Any] = {}
    for staged in plan.files:
        if staged.path in skip:
            continue
        with open_location(staged.path) as handle:
            for line in handle:
                body = line.rstrip(b"\r\n")
                user = decoder.decode(body)
                digest, flag = known.get(user.objectId, (0, None))
                if user.isDeleted is True or flag is None:
                    continue
                if flag == PENDING or digest_of(body) != digest:
                    users[user.objectId] = user.modifiedDate
    return users


def plan_user_deletes(store: StateStore, plan: ChangePlan, sent: SentLog, out_dir: Any) -> None:
    """Write a delete (dated by :func:`reassociation_dated`) of each user to re-associate into
    ``<out_dir>/BUSINESS_USER/reassociate/``, log them in ``sent`` for the commit, and set
    ``plan.reassociate_files`` and ``plan.counts.reassociated``. A retry rewrites the folder."""
    folder = OutputDir(out_dir).child(plan.object_type).child(REASSOCIATE_FOLDER)
    folder.mkdir()
    for name in folder.names():
        folder.remove(name)
    users = users_to_reassociate(store, plan)
    object_ids = list(users)
    plan.counts.reassociated = len(object_ids)
    plan.reassociate_files = []
    if not object_ids:
        return
    writer = PartWriter(folder, "business_user_reassociate", _FILE_BYTES)
    try:
        for number, object_id in enumerate(object_ids, start=1):
            dated = reassociation_dated(users[object_id], plan.deletes_dated)
            line = delete_line(object_id, dated, None, store.delete_fields)
            placement = writer.add(
                0, line, Origin("changed business user (re-association)", None, number, object_id)
            )
            sent.add(object_id, line, SENT_USER_DELETE, 0, placement.part, placement.line, None)
        files = writer.close()
    except BaseException:
        writer.abort()
        raise
    # the folder's manifest names the plan: its deletes get clientRequestIds of this attempt's own
    StagingManifest(
        plan.object_type, files, records_staged=len(object_ids), plan_token=plan.run_token
    ).publish(folder)
    plan.reassociate_files = [staged.path for staged in files]
    log.info(
        "BUSINESS_USER: %s changed or unconfirmed user(s) are deleted first, then sent again in a "
        "separate request (Gong's documented way to update a user): %s",
        len(object_ids),
        ", ".join(object_ids[:20]),
    )
