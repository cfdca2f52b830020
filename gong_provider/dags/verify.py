"""The verify task of gong_crm_sync (Param ``verify_sample``, default 0: off).

After a type's commit, up to ``verify_sample`` records of the files Gong reported DONE are fetched
back through ``GET /v2/crm/entities`` (the hook: at most 100 ids per call, within the rate budget)
and compared with what was sent (see :mod:`gong_provider.hooks.verify`). Mismatches and missing
records are warnings in the log and counts in the report; they do not fail the run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from gong_provider.dags.commit import final_statuses, uploads_of_plan
from gong_provider.ids import IntegrationId
from gong_provider.models import ObjectType, RequestState
from gong_provider.rows import UploadRow, WaitRow

log = logging.getLogger(__name__)

VERIFY_COLUMNS = ("verify_matched", "verify_mismatched", "verify_missing")


def done_files(uploads: Iterable[UploadRow], finished: Iterable[UploadRow | WaitRow]) -> list[str]:
    """The uploaded files whose final status the run saw as DONE, in upload order."""
    statuses = final_statuses(list(uploads), list(finished), ask_gong=lambda _request_id: None)
    return [
        path for path, status in statuses.items() if status is not None and status.status is RequestState.DONE
    ]


def verify_entity(
    object_type: str,
    *,
    sample: int,
    integration_id: IntegrationId,
    plan: Mapping[str, Any] | None,
    uploads: Iterable[UploadRow],
    finished: Iterable[UploadRow | WaitRow],
    conn_id: str,
) -> dict[str, Any] | None:
    """The verify report of one type (``VerifyReport.to_dict()``); None when there is nothing to do."""
    from gong_provider.exceptions import GongError
    from gong_provider.hooks.gong import GongCrmHook
    from gong_provider.hooks.verify import VERIFIABLE_TYPES, verify_sample

    if sample <= 0 or ObjectType(object_type) not in VERIFIABLE_TYPES:
        return None
    deletes = set((plan or {}).get("delete_files") or [])
    uploads = uploads_of_plan(uploads, (plan or {}).get("run_token"))
    paths = [path for path in done_files(uploads, finished) if path not in deletes]
    try:
        with GongCrmHook(conn_id) as hook:
            report = verify_sample(hook, integration_id, object_type, paths, sample)
    except GongError as error:  # a verification that cannot run is a warning, not a failed sync
        log.warning("%s: could not verify a sample against Gong: %s", object_type, error)
        return {"verify_error": str(error)}
    report.log(log)
    return report.to_dict()
