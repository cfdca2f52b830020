"""Business users changed the way Gong documents it: delete, then send the new version separately.

Gong: "To update an existing user: delete the existing user by uploading it with isDeleted=true; in
a new request, send the new user details." A plain upsert keeps the old email-to-user association,
so a rep's new email would never re-associate their activity. After
:func:`~gong_provider.changes.stage_changes` planned a BUSINESS_USER run, :func:`changed_users`
finds the users Gong confirmed (live in the state) whose line to upload differs from the confirmed
one, and :func:`write_user_deletes` writes a delete for each into its own file: the caller uploads
it, waits until Gong reports it DONE, and only then uploads the plan's files (the new versions).
New users (not in the state) and unchanged ones (not in the plan) are untouched. The plan and its
commit are unchanged: the deletes are not recorded in the state, which the new versions' outcome
governs. Read-only on the state (:func:`~gong_provider.changes.capture.iter_state`).
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from gong_provider.changes.capture import iso_timestamp, iter_state
from gong_provider.changes.plan import ChangePlan
from gong_provider.changes.state import LIVE, StateStore, digest_of
from gong_provider.models import ObjectType
from gong_provider.staging.outdir import OutputDir, open_location
from gong_provider.staging.writer import Origin, PartWriter

log = logging.getLogger(__name__)

REASSOCIATE_FOLDER = "reassociate"
"""Under ``<out_dir>/BUSINESS_USER/``: the deletes that go before the changed users' new versions."""


class _User(msgspec.Struct):
    objectId: str
    isDeleted: Any = None


def changed_users(plan: ChangePlan) -> list[str]:
    """ObjectIds of the plan's BUSINESS_USER upserts that Gong holds (live in the state) with other
    content, in upload order; empty for any other type."""
    if plan.object_type != ObjectType.BUSINESS_USER.value:
        return []
    store = StateStore(plan.state_base, plan.integration_id, plan.object_type)
    live = {object_id: digest for object_id, digest, flag, _ in iter_state(store) if flag == LIVE}
    if not live:
        return []
    deletes = set(plan.delete_files) | set(plan.withheld_files)
    decoder = msgspec.json.Decoder(_User)
    changed: dict[str, None] = {}
    for staged in plan.files:
        if staged.path in deletes:
            continue
        with open_location(staged.path) as handle:
            for line in handle:
                body = line.rstrip(b"\r\n")
                user = decoder.decode(body)
                confirmed = live.get(user.objectId)
                if user.isDeleted is not True and confirmed is not None and digest_of(body) != confirmed:
                    changed[user.objectId] = None
    return list(changed)


def write_user_deletes(plan: ChangePlan, out_dir: Any, run_time: Any, object_ids: list[str]) -> list[str]:
    """Write a delete (``isDeleted: true``, ``modifiedDate`` the run's time) of each user into
    ``<out_dir>/BUSINESS_USER/reassociate/``; returns the files (none when there is nothing)."""
    folder = OutputDir(out_dir).child(plan.object_type).child(REASSOCIATE_FOLDER)
    folder.mkdir()
    for name in folder.names():  # a retry of the run rewrites the same bytes
        folder.remove(name)
    if not object_ids:
        return []
    modified = iso_timestamp(run_time)
    encoder = msgspec.json.Encoder()
    writer = PartWriter(folder, "business_user_reassociate", 199_000_000)
    try:
        for number, object_id in enumerate(object_ids, start=1):
            line = encoder.encode({"objectId": object_id, "modifiedDate": modified, "isDeleted": True})
            writer.add(
                0, line + b"\n", Origin("changed business user (re-association)", None, number, object_id)
            )
        files = writer.close()
    except BaseException:
        writer.abort()
        raise
    log.info(
        "BUSINESS_USER: %s changed user(s) are deleted first, then sent again in a separate request "
        "(Gong's documented way to update a user): %s",
        len(object_ids),
        ", ".join(object_ids[:20]),
    )
    return [staged.path for staged in files]
