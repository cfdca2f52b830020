"""The rows tasks hand each other and the trigger's event: their keys, typed, in one place.

Each is a ``TypedDict``: a plain JSON dict on the wire (XCom, trigger event), checked by mypy in every
module that writes or reads it. Keys every writer sets are required; the rest sit in a ``total=False``
subclass. A row that enters from an XCom or an event is validated once there
(:func:`upload_rows`, :func:`wait_row`, :func:`status_event`), with an error naming the missing key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict, cast

from gong_provider.exceptions import GongEventError, GongRowError


class RecordErrorRow(TypedDict):
    """One of Gong's line errors (line 0: a general error of the file)."""

    line: int
    description: str


class RequestStatusRow(TypedDict):
    """``RequestStatus.to_dict()``: a terminal status inside a trigger event."""

    request_id: str | None
    status: str
    errors: list[RecordErrorRow]
    total_error_count: int
    total_success_count: int


class StatusFields(TypedDict):
    """A finished request's fields in a task's XCom (:func:`~gong_provider.waiting.events.status_summary`)."""

    status: str
    request_status_id: str | None
    total_success_count: int
    total_error_count: int
    errors: list[RecordErrorRow]


class _UploadRowKeys(TypedDict):
    client_request_id: str | None
    request_id: str | None
    integration_id: str
    object_type: str
    file: str
    records: int
    bytes: int
    already_accepted: bool


class UploadRow(_UploadRowKeys, total=False):
    """The upload operator's XCom, one per file; the :class:`StatusFields` once it waited
    (``wait_for_completion``) and Gong finished the file."""

    plan_token: str | None
    """The change-capture plan that staged the file (the token in its id; None: a file staged without
    one). Rows of earlier releases have no such key: their token is unknown."""
    status: str
    request_status_id: str | None
    total_success_count: int
    total_error_count: int
    errors: list[RecordErrorRow]


class WaitRow(StatusFields):
    """The wait sensor's XCom: the request it waited for and Gong's final status."""

    client_request_id: str
    integration_id: str


class _StatusEventKeys(TypedDict):
    status: str
    """DONE or FAILED (a status), or TIMEOUT, ERROR, QUOTA (a wait without one)."""
    client_request_id: str | None
    """None when the wait was for several requests (``client_request_ids``)."""
    integration_id: str
    message: str
    result: RequestStatusRow | None


class StatusEvent(_StatusEventKeys, total=False):
    """The one event ``GongRequestStatusTrigger`` yields (see :mod:`gong_provider.waiting.events`);
    events of earlier releases have no ``results``."""

    results: dict[str, RequestStatusRow]
    client_request_ids: list[str]
    carry: dict[str, Any]


class _StageSummaryKeys(TypedDict):
    object_type: str
    source: str
    manifest: str
    """The manifest of the staged files (once planned: of those to upload)."""
    records_read: int
    records_staged: int
    records_rejected: int
    rejects: str | None
    """The rejects file; None when nothing was rejected."""
    files: int
    generations: int
    dry_run: bool


class ChangeCountFields(TypedDict, total=False):
    """Change capture's counts of a plan, in the report's columns (set together, once planned)."""

    new: int
    changed: int
    unchanged: int
    pending_retried: int
    deleted: int
    deletes_withheld: int


class StageSummary(_StageSummaryKeys, ChangeCountFields, total=False):
    """The stage task's ``summary`` XCom: one type's counts for ``summarize`` and the report
    (``gong_provider.dags.stage.stage_summary``). A stage that failed after staging pushes the
    required keys alone; the optional ones come with the reject ratio, the plan and the reference
    check."""

    max_reject_ratio: float
    rejects_over_limit: str | None
    """Why the run must fail for this type's rejects; None when within ``max_reject_ratio``."""
    records_to_upload: int
    records_planned: int
    """A dry run's: what a real run would upload (``records_to_upload`` is 0)."""
    sync_mode: str
    state_rebuilt: str | None
    """Why change capture rebuilt the state; None when it did not."""
    users_reassociated: int
    users_superseded: int
    """BUSINESS_USER objectIds listed more than once: only their last version is sent."""
    references_dangling: int
    references_missing: int
    reference_examples: list[str]
    references_unchecked: list[str]


class _StageResultKeys(TypedDict):
    summary: StageSummary
    """The stage's counts for the report (read by ``gong_provider.dags.report``)."""
    uploads: list[dict[str, Any]]
    """Generation 0's files, one ``{"file": path}`` each: the upload operator's mapped kwargs."""
    later_files: list[dict[str, Any]]
    """The later generations' staged files (``StagedFile`` as dicts), uploaded one after another."""
    plan: dict[str, Any] | None
    """``ChangePlan.to_dict()``; None in a dry run."""
    withheld: dict[str, Any] | None
    """The withheld deletes to approve; None when none were withheld."""


class StageResult(_StageResultKeys, total=False):
    """What the sync DAG's stage step returns (``gong_provider.dags.stage.stage_entity``); the task
    pushes each part as its own XCom and returns ``uploads``."""

    reassociate_files: list[Any]
    """BUSINESS_USER: the deletes of changed users, sent before the uploads."""


class _ReportRowKeys(TypedDict):
    outcome: str
    records_read: int
    records_staged: int
    records_rejected: int
    new: int
    changed: int
    unchanged: int
    pending_retried: int
    deleted: int
    deletes_withheld: int
    references_dangling: int
    references_missing: int
    verify_matched: int
    verify_mismatched: int
    verify_missing: int
    files: int
    records_uploaded: int
    already_accepted: int
    gong_success: int
    gong_errors: int
    state_generation: int | None


class ReportRow(_ReportRowKeys, total=False):
    """One type's row of the sync DAG's report (``gong_provider.dags.report.build_report``)."""

    asset: str
    verify_examples: dict[str, Any]
    reference_examples: Any
    rejects: str
    rejects_over_limit: str
    refused: list[str]


def _checked(value: object, required: frozenset[str], what: str, error: type[Exception]) -> dict[str, Any]:
    """``value`` as a dict holding every ``required`` key; else ``error`` naming what is missing."""
    if not isinstance(value, Mapping):
        raise error(f"{what}: expected a dict, got {value!r}")
    missing = sorted(required - value.keys())
    if missing:
        raise error(f"{what}: missing key(s) {', '.join(repr(k) for k in missing)} in {dict(value)!r}")
    return dict(value)


def upload_row(value: object, *, source: str = "the upload task") -> UploadRow:
    """One upload XCom row, validated where it is pulled (``plan_token`` may be absent: a row of an
    earlier release)."""
    what = f"XCom row of {source}"
    checked = _checked(value, UploadRow.__required_keys__, what, GongRowError)
    token = checked.get("plan_token")
    if token is not None and not isinstance(token, str):
        raise GongRowError(f"{what}: 'plan_token' is neither text nor null in {checked!r}")
    return cast(UploadRow, checked)


def wait_row(value: object, *, source: str = "the wait task") -> WaitRow:
    """One wait sensor XCom row, validated where it is pulled."""
    return cast(WaitRow, _checked(value, WaitRow.__required_keys__, f"XCom row of {source}", GongRowError))


def stage_summary_row(value: object, *, source: str = "the stage task") -> StageSummary:
    """The stage task's ``summary`` XCom, validated where it is pulled (``summarize``, the report)."""
    checked = _checked(value, StageSummary.__required_keys__, f"summary XCom of {source}", GongRowError)
    return cast(StageSummary, checked)


def _flattened(value: Any) -> list[Any]:
    """The items of a pulled XCom, however ``xcom_pull`` shaped them (one dict, a list of dicts, a
    list of lists for mapped tasks that uploaded several files, None for a missing one)."""
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, (list, tuple)):
        return [row for item in value for row in _flattened(item)]
    return []


def upload_rows(value: Any, *, source: str = "the upload task") -> list[UploadRow]:
    """The upload operator's rows in a pulled XCom, each validated."""
    return [upload_row(row, source=source) for row in _flattened(value)]


def wait_rows(value: Any, *, source: str = "the wait task") -> list[WaitRow]:
    """The wait sensor's rows in a pulled XCom, each validated."""
    return [wait_row(row, source=source) for row in _flattened(value)]


def status_event(value: object, *, waiting_for: str) -> StatusEvent:
    """The trigger's event, validated where the task resumes with it; raises
    :class:`~gong_provider.exceptions.GongEventError` naming the missing key."""
    what = f"Unexpected event for Gong request(s) {waiting_for}"
    checked = _checked(value, StatusEvent.__required_keys__, what, GongEventError)
    if not isinstance(checked["status"], str):
        raise GongEventError(f"{what}: 'status' is not a word: {value!r}")
    return cast(StatusEvent, checked)
