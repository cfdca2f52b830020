"""GongRequestStatusTrigger's run() against the emulator, and its serialized form."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gong_provider.emulator.client import EmulatorClient
from gong_provider.emulator.process import EmulatorProcess
from gong_provider.hooks.gong import GongCrmHook
from gong_provider.triggers.gong import GongRequestStatusTrigger
from tests.support.gong_tasks import contact, run_trigger, write_ldjson

STATUS_PATH = "/v2/crm/request-status"


def upload(emulator: EmulatorProcess, path: Path, request_id: str, object_type: str = "CONTACT") -> None:
    with GongCrmHook() as hook:
        hook.upload_entities(emulator.integration_id, object_type, request_id, path)


def trigger_for(emulator: EmulatorProcess, request_id: str, *, wait: float = 30) -> GongRequestStatusTrigger:
    return GongRequestStatusTrigger(
        integration_id=emulator.integration_id,
        client_request_id=request_id,
        end_time=time.time() + wait,
        poll_interval=0.05,
        max_poll_interval=0.2,
    )


def test_serialize_round_trip_holds_no_secret(emulator: EmulatorProcess, conn: str) -> None:
    trigger = trigger_for(emulator, "t-serialize")
    classpath, kwargs = trigger.serialize()
    assert classpath == "gong_provider.triggers.gong.GongRequestStatusTrigger"
    assert kwargs["integration_id"] == "2271307570613351879" == str(emulator.integration_id)
    text = repr(kwargs)
    for secret in (emulator.access_key, emulator.access_key_secret, emulator.token):
        assert secret not in text
    assert all(isinstance(v, (str, int, float)) for v in kwargs.values())
    again = GongRequestStatusTrigger(**kwargs)
    assert again.serialize() == (classpath, kwargs)
    assert again.integration_id == emulator.integration_id


def test_done(emulator: EmulatorProcess, conn: str, tmp_path: Path) -> None:
    upload(emulator, write_ldjson(tmp_path / "c.ldjson", [contact("c-1"), contact("c-2")]), "t-done")
    [event] = run_trigger(trigger_for(emulator, "t-done"))
    assert event["status"] == "DONE"
    assert event["result"]["total_success_count"] == 2
    assert event["integration_id"] == str(emulator.integration_id)


def test_failed_with_record_errors(emulator: EmulatorProcess, conn: str, tmp_path: Path) -> None:
    records = [contact("c-1"), contact("c-2", modifiedDate="yesterday")]
    upload(emulator, write_ldjson(tmp_path / "c.ldjson", records), "t-failed")
    [event] = run_trigger(trigger_for(emulator, "t-failed"))
    assert event["status"] == "FAILED"
    assert [e["line"] for e in event["result"]["errors"]] == [2]


def test_timeout_is_an_event_not_an_exception(
    emulator: EmulatorProcess, emulator_client: EmulatorClient, conn: str, tmp_path: Path
) -> None:
    emulator_client.configure(processing_delay=30)
    upload(emulator, write_ldjson(tmp_path / "c.ldjson", [contact("c-1")]), "t-timeout")
    [event] = run_trigger(trigger_for(emulator, "t-timeout", wait=0.5))
    assert event["status"] == "TIMEOUT"
    assert "t-timeout" in event["message"]


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_server_errors_and_429_while_polling_are_waited_out(
    emulator: EmulatorProcess, emulator_client: EmulatorClient, conn: str, tmp_path: Path, status: int
) -> None:
    upload(emulator, write_ldjson(tmp_path / "c.ldjson", [contact("c-1")]), f"t-{status}")
    emulator_client.inject_fault("status", status=status, count=3, path=STATUS_PATH, retry_after=1)
    [event] = run_trigger(trigger_for(emulator, f"t-{status}"))
    assert event["status"] == "DONE"
    answers = [c["status"] for c in emulator_client.requests_log() if c["path"] == STATUS_PATH]
    assert answers == [status] * 3 + [200]


def test_dropped_connections_while_polling_are_waited_out(
    emulator: EmulatorProcess, emulator_client: EmulatorClient, conn: str, tmp_path: Path
) -> None:
    upload(emulator, write_ldjson(tmp_path / "c.ldjson", [contact("c-1")]), "t-drop")
    emulator_client.inject_fault("drop_after_store", count=2, path=STATUS_PATH)
    [event] = run_trigger(trigger_for(emulator, "t-drop"))
    assert event["status"] == "DONE"


def test_unknown_request_ends_with_an_error_event(emulator: EmulatorProcess, conn: str) -> None:
    [event] = run_trigger(trigger_for(emulator, "t-never-uploaded"))
    assert event["status"] == "ERROR"
    assert "t-never-uploaded" in event["message"]


def test_the_session_is_closed_after_the_event(emulator: EmulatorProcess, conn: str, tmp_path: Path) -> None:
    upload(emulator, write_ldjson(tmp_path / "c.ldjson", [contact("c-1")]), "t-close")
    trigger = trigger_for(emulator, "t-close")
    run_trigger(trigger)
    assert trigger._hook is None


def test_wrong_credentials_end_with_an_error_event_without_the_secret(
    emulator: EmulatorProcess, emulator_client: EmulatorClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    conn = json.loads(emulator.connection_json()) | {
        "password": "wrong-secret-value",
        "extra": {"max_retries": 0},
    }
    monkeypatch.setenv("AIRFLOW_CONN_GONG_DEFAULT", json.dumps(conn))
    [event] = run_trigger(trigger_for(emulator, "t-auth"))
    assert event["status"] == "ERROR"
    assert "401" in event["message"]
    assert "wrong-secret-value" not in json.dumps(event)


# apache/airflow#71580: in a triggerer, the event waits until the executor's late report of the
# deferring try has reached the scheduler; outside one (dag.test), there is no executor to wait for.

MIN_AGE = 5.0 + 10.0  # [workers] min_heartbeat_interval (Airflow's default) + the scheduler margin


@pytest.fixture
def default_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL", "5")


def in_triggerer(trigger: GongRequestStatusTrigger) -> GongRequestStatusTrigger:
    trigger.trigger_id = 42  # what the triggerer sets on every trigger it runs
    return trigger


def test_deferred_at_defaults_to_when_the_trigger_is_built_and_is_serialized(
    emulator: EmulatorProcess,
) -> None:
    before = time.time()
    trigger = trigger_for(emulator, "t-deferred-at")
    assert before <= trigger.deferred_at <= time.time()
    _, kwargs = trigger.serialize()
    assert kwargs["deferred_at"] == trigger.deferred_at
    assert GongRequestStatusTrigger(**kwargs).deferred_at == trigger.deferred_at


@pytest.mark.usefixtures("default_heartbeat")
def test_in_a_triggerer_the_event_is_held_until_the_minimum_age_after_the_deferral(
    emulator: EmulatorProcess,
) -> None:
    trigger = in_triggerer(trigger_for(emulator, "t-hold"))
    deferred = trigger.deferred_at
    # Started 1 s after the deferral, DONE 2 s after it: held for the rest of the minimum age.
    assert trigger.hold_seconds(started_at=deferred + 1, now=deferred + 2) == MIN_AGE - 2
    assert trigger.hold_seconds(started_at=deferred + 1, now=deferred + MIN_AGE) == 0
    # A triggerer restart long after the deferral: the new start adds no wait.
    assert trigger.hold_seconds(started_at=deferred + 600, now=deferred + 601) == 0


@pytest.mark.usefixtures("default_heartbeat")
def test_a_worker_clock_ahead_never_holds_longer_than_the_minimum_age_from_the_start(
    emulator: EmulatorProcess,
) -> None:
    trigger = in_triggerer(trigger_for(emulator, "t-skew"))
    started = trigger.deferred_at - 3600  # the worker's clock is an hour ahead of the triggerer's
    assert trigger.hold_seconds(started_at=started, now=started) == MIN_AGE


def test_the_minimum_age_follows_the_workers_heartbeat_interval(
    emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The supervisor notices a deferred task's exit only at its next wake-up, up to this interval.
    monkeypatch.setenv("AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL", "30")
    trigger = in_triggerer(trigger_for(emulator, "t-interval"))
    assert trigger.hold_seconds(started_at=trigger.deferred_at, now=trigger.deferred_at) == 30 + 10


def test_outside_a_triggerer_nothing_is_held(emulator: EmulatorProcess) -> None:
    trigger = trigger_for(emulator, "t-inline")  # dag.test() runs it in the task's own process
    assert trigger.hold_seconds(started_at=trigger.deferred_at, now=trigger.deferred_at) == 0


@pytest.mark.usefixtures("default_heartbeat")
def test_run_in_a_triggerer_never_fires_before_the_minimum_age(
    emulator: EmulatorProcess,
    conn: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    upload(emulator, write_ldjson(tmp_path / "c.ldjson", [contact("c-1")]), "t-held")
    deferred_at = time.time() - MIN_AGE + 0.5  # half a second of the minimum age is left
    trigger = in_triggerer(trigger_for(emulator, "t-held"))
    trigger.deferred_at = deferred_at
    [event] = run_trigger(trigger)
    assert time.time() >= deferred_at + MIN_AGE
    assert event["status"] == "DONE"
    captured = capsys.readouterr()  # Airflow's structlog may print the trigger's log, or pass it on
    log = caplog.text + captured.out + captured.err
    assert "t-held: holding the event" in log
    assert "apache/airflow#71580" in log
