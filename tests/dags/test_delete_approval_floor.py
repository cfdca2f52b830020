"""The sync's approval of withheld deletes builds on the Airflow floor too (standard provider 1.12.2
there): the ApprovalOperator subclass takes its arguments, a timeout rejects, and the request's text
names the type, the counts and the sample. The approval itself (deferred, answered in the UI) is
proven by the browser test (tests/e2e) on the pinned Airflow."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

import airflow
import pytest
from packaging.version import Version

pytestmark = [pytest.mark.floor]

WITHHELD = {
    "object_type": "CONTACT",
    "deletes": 3,
    "confirmed": 4,
    "ratio": 0.75,
    "sample": ["c1", "c2", "c3"],
    "files": ["CONTACT_withheld_deletes-g0-p0.ldjson"],
}
TI_ID = uuid.UUID("0199a8b4-1e2f-7c3d-9a0b-123456789abc")


def test_the_approval_task_builds_on_this_airflow() -> None:
    from airflow.providers.standard.operators.hitl import ApprovalOperator
    from airflow.sdk import DAG

    from gong_provider.dags.approval import GongDeleteApprovalOperator, approval_text

    with DAG("approval_floor", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc)):
        approve = GongDeleteApprovalOperator(task_id="approve_deletes", stage_task_id="stage")
    assert isinstance(approve, ApprovalOperator)
    assert approve.options == [ApprovalOperator.APPROVE, ApprovalOperator.REJECT]
    assert approve.defaults == [ApprovalOperator.REJECT]  # no answer in time: rejected, nothing sent
    subject, body = approval_text(WITHHELD)
    assert subject == "Gong CONTACT: delete 3 record(s) gone from the source?"
    assert "**75.0%** of the **4** confirmed" in body
    assert "- `c3`" in body


# apache/airflow#71580: an answer given within seconds of the request must not resume the task
# before the scheduler has read the executor's report of the deferral. Before Airflow 3.3 the
# operator waits in a trigger, which the provider swaps for one that holds its event; from 3.3 the
# task parks in AWAITING_INPUT and the API resumes it directly (no trigger to hold: docs/dags.md).

AIRFLOW_3_3 = Version(Version(airflow.__version__).base_version) >= Version("3.3.0")
SUSPENDING = ("TaskDeferred", "TaskAwaitingInput")  # the second only from Airflow 3.3


class RecordingSupervisor:
    """The worker's supervisor channel: takes the approval request the task writes."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, msg: Any) -> None:
        self.sent.append(msg)


def approval_task() -> Any:
    from airflow.sdk import DAG

    from gong_provider.dags.approval import GongDeleteApprovalOperator

    with DAG("approval_hold", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc)):
        return GongDeleteApprovalOperator(task_id="approve_deletes", stage_task_id="stage")


def run_execute(monkeypatch: pytest.MonkeyPatch) -> tuple[Any, RecordingSupervisor]:
    """The task's execute as a worker runs it, up to the exception that suspends it."""
    from airflow.sdk import exceptions

    suspending = tuple(getattr(exceptions, name) for name in SUSPENDING if hasattr(exceptions, name))
    supervisor = RecordingSupervisor()
    monkeypatch.setattr("airflow.sdk.execution_time.task_runner.SUPERVISOR_COMMS", supervisor, raising=False)
    ti = SimpleNamespace(id=TI_ID, xcom_pull=lambda task_ids, key: WITHHELD if key == "withheld" else None)
    with pytest.raises(suspending) as raised:
        approval_task().execute({"ti": ti, "task_instance": ti, "params": {}})
    return raised.value, supervisor


@pytest.mark.skipif(AIRFLOW_3_3, reason="Airflow 3.3+ parks the task in AWAITING_INPUT: no trigger")
def test_before_airflow_3_3_the_approval_waits_in_the_held_trigger(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.exceptions import TaskDeferred

    from gong_provider.triggers.hitl import HeldHITLTrigger

    before = time.time()
    suspended, supervisor = run_execute(monkeypatch)
    assert isinstance(suspended, TaskDeferred)
    assert isinstance(suspended.trigger, HeldHITLTrigger)
    classpath, kwargs = suspended.trigger.serialize()
    assert classpath == "gong_provider.triggers.hitl.HeldHITLTrigger"
    assert kwargs["ti_id"] == TI_ID
    assert kwargs["defaults"] == ["Reject"]
    assert before <= kwargs["deferred_at"] <= time.time()
    assert suspended.method_name == "execute_complete"
    assert [type(msg).__name__ for msg in supervisor.sent] == ["CreateHITLDetailPayload"]


@pytest.mark.skipif(not AIRFLOW_3_3, reason="before Airflow 3.3 the approval defers to a trigger")
def test_on_airflow_3_3_the_approval_parks_awaiting_input_without_a_trigger(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow.sdk.exceptions import TaskAwaitingInput

    suspended, supervisor = run_execute(monkeypatch)
    assert isinstance(suspended, TaskAwaitingInput)  # the API's answer resumes it: nothing to hold
    assert [type(msg).__name__ for msg in supervisor.sent] == ["CreateHITLDetailPayload"]


def test_the_operator_swaps_the_standard_trigger_for_the_held_one() -> None:
    """Also with the newest standard provider on Airflow 3.2 (it still defers there)."""
    from airflow.providers.standard.triggers.hitl import HITLTrigger
    from airflow.sdk.exceptions import TaskDeferred

    from gong_provider.triggers.hitl import HeldHITLTrigger

    standard = HITLTrigger(
        ti_id=TI_ID, options=["Approve", "Reject"], defaults=["Reject"], params={}, timeout_datetime=None
    )
    with pytest.raises(TaskDeferred) as deferred:
        approval_task().defer(trigger=standard, method_name="execute_complete")
    assert isinstance(deferred.value.trigger, HeldHITLTrigger)
    _, kwargs = deferred.value.trigger.serialize()
    assert {k: v for k, v in kwargs.items() if k != "deferred_at"} == standard.serialize()[1]
