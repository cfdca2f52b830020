"""The sync's approval of withheld deletes builds on the Airflow floor too (standard provider 1.12.2
there): the ApprovalOperator subclass takes its arguments, a timeout rejects, and the request's text
names the type, the counts and the sample. The approval itself (deferred, answered in the UI) is
proven by the browser test (tests/e2e) on the pinned Airflow."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

pytestmark = [pytest.mark.floor]

WITHHELD = {
    "object_type": "CONTACT",
    "deletes": 3,
    "confirmed": 4,
    "ratio": 0.75,
    "sample": ["c1", "c2", "c3"],
    "files": ["CONTACT_withheld_deletes-g0-p0.ldjson"],
}


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
