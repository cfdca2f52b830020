"""The poll schedule, the event validation and the failure messages (no server needed)."""

from __future__ import annotations

import itertools

import pytest

from gong_provider.airflow_compat import AirflowFailException
from gong_provider.models import RecordError, RequestState, RequestStatus
from gong_provider.staging.failure_report import describe_failure
from gong_provider.waiting.events import (
    GongEventError,
    GongUploadFailed,
    GongWaitTimeout,
    check_status,
    reason_event,
    status_event,
    status_from_event,
)
from gong_provider.waiting.poll_schedule import checks_until, poll_intervals

ID = "gong-contact-abc"
BIG = 2271307570613351879


def test_intervals_grow_to_the_maximum() -> None:
    waits = list(itertools.islice(poll_intervals(5, 60), 9))
    assert waits[:4] == [5, 7.5, 11.25, 16.875]
    assert waits == sorted(waits)
    assert waits[-1] == 60


def test_a_60_second_wait_costs_at_most_5_checks_where_a_fixed_poll_costs_12() -> None:
    assert checks_until(60) <= 5
    assert checks_until(60, factor=1.0) == 12


def test_fixed_interval_when_maximum_is_below_start() -> None:
    assert list(itertools.islice(poll_intervals(10, 1), 3)) == [10, 10, 10]


def test_done_event_round_trip() -> None:
    status = RequestStatus("r1", RequestState.DONE, [], 0, 3)
    assert status_from_event(status_event(ID, BIG, status), client_request_id=ID) == status


@pytest.mark.parametrize(
    ("event", "error"),
    [
        (None, GongEventError),
        ({"status": "DONE"}, GongEventError),
        ({"status": "PENDING", "result": {"status": "PENDING"}}, GongEventError),
        ({"status": "DONE", "client_request_id": "other", "result": {"status": "DONE"}}, GongEventError),
        ({"status": "DONE", "result": {"status": "FAILED"}}, GongEventError),
        (reason_event("TIMEOUT", ID, BIG, "too slow"), GongWaitTimeout),
        (reason_event("ERROR", ID, BIG, "401"), GongEventError),
    ],
)
def test_anything_but_a_terminal_status_fails(event: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        status_from_event(event, client_request_id=ID)


def failed(*errors: RecordError, total: int | None = None) -> RequestStatus:
    return RequestStatus("r2", RequestState.FAILED, list(errors), len(errors) if total is None else total, 5)


def test_record_errors_fail_without_retry_by_default() -> None:
    with pytest.raises(GongUploadFailed) as info:
        check_status(failed(RecordError(2, "bad date")), client_request_id=ID)
    assert isinstance(info.value, AirflowFailException)
    assert "line 2: bad date" in str(info.value)
    assert "r2" in str(info.value)


def test_record_errors_tolerated_when_asked(caplog: pytest.LogCaptureFixture) -> None:
    status = failed(RecordError(2, "bad date"))
    assert check_status(status, client_request_id=ID, fail_on_record_errors=False) is status
    assert "bad date" in caplog.text


def test_a_general_error_always_fails() -> None:
    with pytest.raises(GongUploadFailed, match="general error: broken file"):
        check_status(failed(RecordError(0, "broken file")), client_request_id=ID, fail_on_record_errors=False)


def test_message_lists_at_most_20_errors_and_says_how_many_more() -> None:
    status = failed(*(RecordError(n, f"e{n}") for n in range(1, 21)), total=57)
    message = describe_failure(status, client_request_id=ID)
    assert message.count("\n  line ") == 20
    assert "37 more error(s)" in message
    assert "57 record error(s), 5 record(s) stored" in message
