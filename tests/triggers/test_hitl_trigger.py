"""HeldHITLTrigger: the approval's wait on Airflow < 3.3 holds its event like the provider's own
trigger (apache/airflow#71580), serializes to its own classpath, and fires at once outside a triggerer.

Runs on the floor (standard provider 1.12.2: the operator defers to this trigger there) and on the
pinned Airflow (whose provider still ships HITLTrigger for Airflow < 3.3: Airflow 3.2 with the newest
provider defers to it too). The trigger reads the answer through the Task SDK's supervisor channel,
as in a triggerer; here a stand-in supervisor gives the stored answer, so no database is needed.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from airflow.providers.standard.triggers.hitl import HITLTrigger
from airflow.sdk.api.datamodels._generated import HITLDetailResponse, HITLUser
from airflow.sdk.execution_time.comms import GetHITLDetailResponse
from airflow.sdk.serde import deserialize, serialize

from gong_provider.triggers.hitl import HeldHITLTrigger

pytestmark = [pytest.mark.floor]

MIN_AGE = 5.0 + 10.0  # [workers] min_heartbeat_interval (Airflow's default) + the scheduler margin
TI_ID = uuid.UUID("0199a8b4-1e2f-7c3d-9a0b-123456789abc")
ANSWERED_AT = datetime(2026, 12, 7, 3, 0, 4, tzinfo=timezone.utc)


class AnsweringSupervisor:
    """The triggerer's supervisor channel, answering "Approve" for TI_ID as the database would."""

    def __init__(self) -> None:
        self.asked: list[Any] = []

    def send(self, msg: Any) -> Any:
        self.asked.append(msg)
        assert isinstance(msg, GetHITLDetailResponse)
        assert msg.ti_id == TI_ID
        return HITLDetailResponse(
            response_received=True,
            responded_by_user=HITLUser(id="1", name="approver"),
            responded_at=ANSWERED_AT,
            chosen_options=["Approve"],
            params_input={},
        )


@pytest.fixture
def supervisor(monkeypatch: pytest.MonkeyPatch) -> AnsweringSupervisor:
    monkeypatch.setenv("AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL", "5")
    answering = AnsweringSupervisor()
    monkeypatch.setattr("airflow.sdk.execution_time.task_runner.SUPERVISOR_COMMS", answering, raising=False)
    return answering


def standard_trigger() -> HITLTrigger:
    """What the standard provider's HITLOperator defers to on Airflow < 3.3 (an approval, 24 h)."""
    return HITLTrigger(
        ti_id=TI_ID,
        options=["Approve", "Reject"],
        defaults=["Reject"],
        params={},
        multiple=False,
        timeout_datetime=datetime.now(timezone.utc) + timedelta(hours=24),
        poke_interval=0.05,
    )


def events_of(trigger: HeldHITLTrigger) -> list[dict[str, Any]]:
    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    return asyncio.run(asyncio.wait_for(collect(), 60))


def test_it_serializes_to_its_own_classpath_and_round_trips_as_the_task_sdk_sends_it() -> None:
    standard = standard_trigger()
    before = time.time()
    held = HeldHITLTrigger.holding(standard)
    classpath, kwargs = held.serialize()
    assert classpath == "gong_provider.triggers.hitl.HeldHITLTrigger"
    assert before <= kwargs["deferred_at"] <= time.time()
    assert isinstance(kwargs["deferred_at"], float)
    assert {k: v for k, v in kwargs.items() if k != "deferred_at"} == standard.serialize()[1]
    # The Task SDK sends trigger kwargs through serde (to JSON) and the triggerer builds the class back.
    sent = json.loads(json.dumps(serialize(kwargs)))
    again = HeldHITLTrigger(**deserialize(sent))
    assert again.serialize() == (classpath, kwargs)


def test_in_a_triggerer_the_answer_is_held_until_the_minimum_age(
    supervisor: AnsweringSupervisor, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    trigger = HeldHITLTrigger.holding(standard_trigger())
    trigger.trigger_id = 42  # what the triggerer sets on every trigger it runs
    deferred = trigger.deferred_at
    # Answered 4 s after the request, the trigger started 1 s after it: held for the rest of the age.
    assert trigger.hold_seconds(started_at=deferred + 1, now=deferred + 4) == MIN_AGE - 4
    assert trigger.hold_seconds(started_at=deferred + 1, now=deferred + MIN_AGE) == 0

    trigger.deferred_at = time.time() - MIN_AGE + 0.5  # half a second of the minimum age is left
    [event] = events_of(trigger)
    assert time.time() >= trigger.deferred_at + MIN_AGE
    assert event["chosen_options"] == ["Approve"]
    assert event["responded_at"] == ANSWERED_AT
    assert supervisor.asked  # the answer was read through the supervisor, as in a triggerer
    captured = capsys.readouterr()  # Airflow's structlog may print the trigger's log, or pass it on
    log = caplog.text + captured.out + captured.err
    assert f"Approval of task instance {TI_ID}: holding the event" in log
    assert "apache/airflow#71580" in log


def test_outside_a_triggerer_the_answer_fires_at_once(
    supervisor: AnsweringSupervisor, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    trigger = HeldHITLTrigger.holding(standard_trigger())  # no trigger_id: dag.test(), no executor
    assert trigger.hold_seconds(started_at=trigger.deferred_at, now=trigger.deferred_at) == 0
    [event] = events_of(trigger)
    assert event["chosen_options"] == ["Approve"]
    captured = capsys.readouterr()
    assert "holding the event" not in caplog.text + captured.out + captured.err
