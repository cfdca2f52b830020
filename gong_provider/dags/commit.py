"""The commit task of gong_crm_sync: advance one type's change-capture state for what Gong confirmed.

It runs once every upload, wait and later generation of the type is finished, whatever their
outcome (trigger rule ``all_done``): a FAILED file's listed lines, a file whose wait failed or timed
out, or a file never uploaded stay pending, and the next run sends them again; everything Gong
confirmed is committed. The final status of each uploaded file comes from its wait (or the later
generations' task) when that finished, else from one request-status call to Gong. Only rows of
this plan count (``uploads_of_plan``): a clear of ``stage`` and ``commit`` without the uploads
leaves an earlier attempt's rows, for the same paths.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from gong_provider.changes.commit import status_of_row
from gong_provider.ids import IntegrationId
from gong_provider.models import RequestStatus
from gong_provider.rows import UploadRow, WaitRow
from gong_provider.rows import upload_rows as upload_rows
from gong_provider.rows import wait_rows as wait_rows

log = logging.getLogger(__name__)


def uploads_of_plan(uploads: Iterable[UploadRow], run_token: str | None) -> list[UploadRow]:
    """The rows of files this plan (``ChangePlan.run_token``) staged; rows of another planning attempt
    are left out, with a warning: paths repeat across attempts, so a row of an upload task the user
    did not clear with ``stage`` and ``commit`` would vouch for lines this plan never sent. Their
    files count as not uploaded (pending). A row without a token (an earlier release's operator, or
    a folder staged without one) cannot be told apart and is kept: it only comes from a try or stage
    that ran before tokens existed, that is within the attempt an upgrade went through, and leaving
    it out would keep that attempt's confirmed lines pending."""
    kept: list[UploadRow] = []
    for row in uploads:
        token = row.get("plan_token")
        if token is None or run_token is None or token == run_token:
            kept.append(row)
        else:
            log.warning(
                "Ignored the upload row of %s (clientRequestId %s): it is of planning attempt %s, not "
                "of this plan's %s (an upload task not cleared with the stage); its records stay pending",
                row["file"],
                row["client_request_id"],
                token,
                run_token,
            )
    return kept


def final_statuses(
    uploads: Iterable[UploadRow],
    finished: Iterable[UploadRow | WaitRow],
    *,
    ask_gong: Any,
) -> dict[str, RequestStatus | None]:
    """``{file: final status or None}`` of every uploaded file.

    ``finished`` are rows that carry a terminal ``status`` (waits, the later generations' results),
    matched to the uploads by clientRequestId; ``ask_gong(client_request_id)`` gives the status of an
    upload whose wait did not finish (None when Gong cannot tell: the file stays pending).
    """
    known: dict[str, UploadRow | WaitRow] = {
        row["client_request_id"]: row
        for row in finished
        if row["client_request_id"] and row.get("status") in ("DONE", "FAILED")
    }
    statuses: dict[str, RequestStatus | None] = {}
    for upload in uploads:
        path, request_id = upload["file"], upload["client_request_id"]
        if not path or not request_id:
            continue
        row = known.get(request_id) or (upload if upload.get("status") in ("DONE", "FAILED") else None)
        statuses[path] = status_of_row(row) if row is not None else ask_gong(request_id)
    return statuses


def ask_gong(hook: Any, integration_id: IntegrationId, client_request_id: str) -> RequestStatus | None:
    """Gong's terminal status of an upload, or None (unknown to Gong, still processing, or unreachable
    now): then its records stay pending and the next run sends them again."""
    from gong_provider.exceptions import GongError

    try:
        status: RequestStatus = hook.get_request_status(integration_id, client_request_id)
    except GongError as error:
        log.warning("No final status for %s (%s): its records stay pending", client_request_id, error)
        return None
    if not status.status.is_terminal:
        log.warning("%s is still %s: its records stay pending", client_request_id, status.status.value)
        return None
    return status


def commit_entity(
    plan: Mapping[str, Any],
    *,
    uploads: Iterable[UploadRow],
    finished: Iterable[UploadRow | WaitRow],
    conn_id: str,
    withheld_sent: bool = False,
) -> tuple[Any, dict[str, Any]]:
    """Commit one type's plan; returns the :class:`~gong_provider.changes.CommitReport` (the caller
    records it, then calls ``raise_for_guard()``) and what Gong said of the uploads: the report's
    upload columns and the lines Gong refused (true even when a wait failed, which skips summarize).

    ``withheld_sent``: a person approved the withheld deletes, so they may have reached Gong even
    when their upload task left no row (it failed while waiting): without a final status their keys
    stay pending, not live."""
    from gong_provider.changes import ChangePlan, commit_changes
    from gong_provider.dags.summary import upload_totals
    from gong_provider.hooks.gong import GongCrmHook

    change_plan = ChangePlan.from_dict(plan)
    integration_id = change_plan.integration_id
    uploads = uploads_of_plan(uploads, change_plan.run_token)
    with GongCrmHook(conn_id) as hook:
        statuses = final_statuses(
            uploads,
            list(finished),
            ask_gong=lambda request_id: ask_gong(hook, integration_id, request_id),
        )
    planned = {staged.path for staged in change_plan.files}
    missing = sorted(planned - set(statuses))
    if missing:
        log.warning("%s file(s) were not uploaded: their records stay pending: %s", len(missing), missing)
    approved = set(change_plan.withheld_files)  # sent only after an approval (dags/approval.py)
    if withheld_sent:
        for path in approved:
            statuses.setdefault(path, None)
    user_deletes = set(change_plan.reassociate_files)  # BUSINESS_USER: sent before the upload
    report = commit_changes(
        change_plan,
        {path: status for path, status in statuses.items() if path in planned | approved | user_deletes},
    )
    gong = {**upload_totals(uploads, statuses.values()), "refused": refused_lines(statuses)}
    return report, gong


def refused_lines(statuses: Mapping[str, RequestStatus | None], limit: int = 20) -> list[str]:
    """``<file> line <n>: <Gong's description>`` for the first ``limit`` errors Gong listed (line 0:
    a general error of the file), so the run's failure names what Gong refused."""
    found: list[str] = []
    for path, status in sorted(statuses.items()):
        for error in status.errors if status is not None else []:
            found.append(f"{path} line {error.line}: {error.description}")
            if len(found) >= limit:
                return found
    return found
