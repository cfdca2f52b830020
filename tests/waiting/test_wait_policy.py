"""The one wait policy: its decisions, and the trigger, the synchronous wait and the sensor side by side
on the same scripted answers from the emulator (issue 20's one wait policy, issue 21's cases 5-7, 9)."""

from __future__ import annotations

import inspect
import time
from pathlib import Path
from typing import Any

import pytest

from gong_provider.emulator.client import EmulatorClient
from gong_provider.emulator.process import EmulatorProcess
from gong_provider.exceptions import GongBadRequestError, GongError, GongQuotaExhausted, GongRateLimitError
from gong_provider.hooks.gong import GongCrmHook
from gong_provider.models import RequestStatus
from gong_provider.sensors.gong import GongRequestStatusSensor
from gong_provider.triggers.gong import GongRequestStatusTrigger
from gong_provider.waiting.policy import QUOTA, TIMEOUT, CheckAfter, Finished, StatusWait, Stopped
from gong_provider.waiting.poll_schedule import poke_interval_after
from gong_provider.waiting.polling import wait_until_finished
from tests.support.gong_tasks import connect, contact, run_trigger, task_context, write_ldjson

STATUS_PATH = "/v2/crm/request-status"
DONE = RequestStatus.from_json({"requestId": "r", "status": "DONE"})
PENDING = RequestStatus.from_json({"requestId": "r", "status": "IN_PROGRESS"})


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def policy(clock: Clock, deadline_in: float, ids: tuple[str, ...] = ("a",)) -> StatusWait:
    return StatusWait(
        list(ids), deadline=clock.now + deadline_in, poll_interval=5, max_poll_interval=60, clock=clock
    )


# -- the decisions ----------------------------------------------------------------------------


def test_the_schedule_grows_and_is_capped_by_the_deadline() -> None:
    clock = Clock()
    wait = policy(clock, 30)
    assert wait.start() == CheckAfter(5)
    waits = []
    for _ in range(3):
        wait.record("a", PENDING)
        decision = wait.after_round()
        assert isinstance(decision, CheckAfter)
        waits.append(decision.seconds)
        clock.now += decision.seconds
    assert waits == [7.5, 11.25, 30 - 5 - 7.5 - 11.25 + 5]  # the last one capped by the time left
    wait.record("a", PENDING)
    clock.now = wait.deadline
    assert wait.after_round() == Stopped(TIMEOUT, wait.timeout_message())
    assert "after 4 status check(s)" in wait.timeout_message()


def test_at_least_one_check_before_a_timeout() -> None:
    clock = Clock()
    wait = policy(clock, -10)
    assert wait.start() == CheckAfter(0.0)
    wait.record("a", DONE)
    assert wait.after_round() == Finished({"a": DONE})


def test_a_retry_after_longer_than_the_time_left_is_the_quota() -> None:
    clock = Clock()
    wait = policy(clock, 2)
    decision = wait.after_round(GongRateLimitError("limit", retry_after=3600))
    assert isinstance(decision, Stopped)
    assert decision.kind == QUOTA
    assert "quota is spent" in decision.message
    assert "3600 s (Retry-After)" in decision.message
    shorter = policy(clock, 100).after_round(GongRateLimitError("limit", retry_after=20))
    assert shorter == CheckAfter(20)  # waited out, longer than the schedule's 5 s


def test_a_non_transient_error_ends_the_wait() -> None:
    decision = policy(Clock(), 100).after_round(GongBadRequestError("unknown request"))
    assert isinstance(decision, Stopped)
    assert decision.kind == "ERROR"


def test_several_requests_finish_when_all_have() -> None:
    wait = policy(Clock(), 100, ("a", "b"))
    wait.record("a", DONE)
    wait.record("b", PENDING)
    assert wait.pending == ["b"]
    assert isinstance(wait.after_round(), CheckAfter)
    wait.record("b", DONE)
    assert wait.after_round() == Finished({"a": DONE, "b": DONE})


# -- side by side against the emulator ----------------------------------------------------------


def uploaded(emulator: EmulatorProcess, tmp_path: Path, crid: str) -> str:
    path = write_ldjson(tmp_path / f"{crid}.ldjson", [contact("c-1")])
    with GongCrmHook() as hook:
        hook.upload_entities(emulator.integration_id, "CONTACT", crid, path)
    return crid


def sync_outcome(emulator: EmulatorProcess, crid: str, deadline_in: float) -> str:
    wait = StatusWait([crid], deadline=time.time() + deadline_in, poll_interval=0.05, max_poll_interval=0.2)
    try:
        with GongCrmHook() as hook:
            return wait_until_finished(hook, emulator.integration_id, wait)[crid].status.value
    except GongQuotaExhausted:
        return QUOTA
    except GongError as error:
        return type(error).__name__


def trigger_outcome(emulator: EmulatorProcess, crid: str, deadline_in: float) -> str:
    trigger = GongRequestStatusTrigger(
        integration_id=str(emulator.integration_id),
        client_request_id=crid,
        end_time=time.time() + deadline_in,
        poll_interval=0.05,
        max_poll_interval=0.2,
    )
    [event] = run_trigger(trigger)
    return str(event["status"])


def status_codes(client: EmulatorClient, crid: str) -> list[int]:
    return [
        c["status"]
        for c in client.requests_log()
        if c["path"] == STATUS_PATH and c["clientRequestId"] == crid
    ]


SCRIPTS: dict[str, tuple[list[dict[str, Any]], dict[str, Any], float, str, list[int]]] = {
    # name: (faults on the status path, connection extras, deadline, outcome, status codes seen)
    "500 then 429 then done": (
        [{"status": 500}, {"status": 429, "retry_after": 1}],
        {},
        30,
        "DONE",
        [500, 429, 200],
    ),
    # case 6: the daily quota spent; the synchronous wait polled on, 8 calls in 12 s
    "a long Retry-After": ([{"status": 429, "retry_after": 3600, "count": 8}], {}, 30, QUOTA, [429]),
    # case 5: the hook's own retries ran past a 2 s deadline (18 s: Retry-After 6 s, three times)
    "hook retries past the deadline": (
        [{"status": 429, "retry_after": 6, "count": 3}],
        {"max_retries": 3},
        2,
        QUOTA,
        [429],
    ),
}


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_the_trigger_and_the_synchronous_wait_behave_alike(
    emulator: EmulatorProcess,
    emulator_client: EmulatorClient,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    script: str,
) -> None:
    faults, extras, deadline_in, outcome, codes = SCRIPTS[script]
    connect(emulator, monkeypatch, **extras)
    seen = {}
    for side, wait in (("sync", sync_outcome), ("trigger", trigger_outcome)):
        crid = uploaded(emulator, tmp_path, f"{side}-{len(seen)}")
        for fault in faults:
            emulator_client.inject_fault("status", path=STATUS_PATH, **fault)
        seen[side] = (wait(emulator, crid, deadline_in), status_codes(emulator_client, crid))
        emulator_client.clear_faults()
    assert seen["sync"] == seen["trigger"] == (outcome, codes)


def test_an_unknown_request_ends_both_waits(emulator: EmulatorProcess, conn: str) -> None:
    assert sync_outcome(emulator, "never-uploaded", 5) == GongBadRequestError.__name__
    assert trigger_outcome(emulator, "never-uploaded", 5) == "ERROR"


# -- the sensor ------------------------------------------------------------------------------------


def test_the_sensor_fails_on_the_quota_after_one_call(
    emulator: EmulatorProcess, emulator_client: EmulatorClient, conn: str, tmp_path: Path
) -> None:
    crid = uploaded(emulator, tmp_path, "sensed")
    emulator_client.inject_fault("status", path=STATUS_PATH, status=429, retry_after=3600, count=8)
    sensor = GongRequestStatusSensor(
        task_id="wait", integration_id=str(emulator.integration_id), client_request_id=crid,
        deferrable=False, poke_interval=0.05, max_poll_interval=0.2, timeout=30,
    )  # fmt: skip
    with pytest.raises(GongQuotaExhausted, match="quota"):
        sensor.execute(task_context())
    assert status_codes(emulator_client, crid) == [429]


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_case7_the_sensors_poke_interval_grows_in_every_mode(mode: str) -> None:
    """Was: the non-deferrable sensor poked every 5 s for ever (720 calls an hour, not 65)."""
    sensor = GongRequestStatusSensor(
        task_id="wait", integration_id="1", client_request_id="x", deferrable=False, mode=mode,
        poke_interval=5, max_poll_interval=60, timeout=3600,
    )  # fmt: skip
    elapsed, waits = 0.0, []
    for count in range(1, 9):
        wait = sensor._get_next_poke_interval(0.0, lambda: elapsed, count)  # noqa: B023
        waits.append(wait)
        elapsed += wait
    assert waits == [5, 7.5, 11.25, 16.875, 25.3125, 37.96875, 56.953125, 60]
    pokes, elapsed = 1, 0.0
    while elapsed < 3600:
        elapsed += sensor._get_next_poke_interval(0.0, lambda: elapsed, pokes)  # noqa: B023
        pokes += 1
    assert pokes <= 70  # the growing schedule's 65 an hour, not 720


def test_the_sensor_hook_airflow_calls_is_still_there() -> None:
    """Pinned: Airflow's BaseSensorOperator asks ``_get_next_poke_interval(started_at, run_duration,
    poke_count)`` for the next wait; a release that renames it would leave the sensor at fixed pokes."""
    from airflow.sdk import BaseSensorOperator

    parameters = list(inspect.signature(BaseSensorOperator._get_next_poke_interval).parameters)
    assert parameters == ["self", "started_at", "run_duration", "poke_count"]
    assert "_get_next_poke_interval" in inspect.getsource(BaseSensorOperator.execute)
    assert poke_interval_after(0, 5, 60) == 5


def test_case7_a_poking_sensor_spends_the_growing_schedules_calls(
    emulator: EmulatorProcess, emulator_client: EmulatorClient, conn: str, tmp_path: Path
) -> None:
    """Through the sensor as a DAG runs it in poke mode: Gong needs 1.5 s; a fixed 0.05 s poke spent
    about 30 calls, the growing schedule (0.05 s x1.5 up to 0.4 s) about 9."""
    emulator_client.configure(processing_delay=1.5)
    crid = uploaded(emulator, tmp_path, "poked")
    sensor = GongRequestStatusSensor(
        task_id="wait", integration_id=str(emulator.integration_id), client_request_id=crid,
        deferrable=False, mode="poke", poke_interval=0.05, max_poll_interval=0.4, timeout=60,
    )  # fmt: skip
    assert sensor.execute(task_context())["status"] == "DONE"
    assert 2 <= len(status_codes(emulator_client, crid)) <= 12


def test_a_trigger_for_several_requests_survives_serialization_and_one_for_one_keeps_its_kwargs() -> None:
    """The triggerer rebuilds a trigger from its kwargs: several ids come back; a single one keeps the
    earlier release's kwargs (``client_request_id`` only), so its rows still load."""
    several = GongRequestStatusTrigger(integration_id="1", client_request_ids=["a", "b"], end_time=4e9)
    _, kwargs = several.serialize()
    assert GongRequestStatusTrigger(**kwargs).client_request_ids == ["a", "b"]
    _, single = GongRequestStatusTrigger(integration_id="1", client_request_id="a", end_time=4e9).serialize()
    assert "client_request_ids" not in single
    assert GongRequestStatusTrigger(**single).client_request_ids == ["a"]
    with pytest.raises(ValueError, match="client_request_id"):
        GongRequestStatusTrigger(integration_id="1", end_time=4e9)
