"""GongRequestStatusTrigger's run() against the emulator, and its serialized form."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gong_provider.emulator.client import EmulatorClient
from gong_provider.emulator.process import EmulatorProcess
from gong_provider.hooks.gong import GongCrmHook
from gong_provider.triggers.gong import GongRequestStatusTrigger
from tests.gong_test_support import contact, run_trigger, write_ldjson

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
