"""The sync's commit task and the approval of withheld deletes: once a person approved them they may
have reached Gong, so a send that left no row (it failed while waiting) leaves their keys pending."""

from __future__ import annotations

from pathlib import Path

import pytest

from gong_provider.changes.plan import ChangePlan
from gong_provider.changes.state import LIVE, PENDING
from gong_provider.dags.approval import was_approved
from gong_provider.dags.commit import commit_entity
from gong_provider.rows import UploadRow
from tests.changes.test_changes import Sync, contact


def _done(plan: ChangePlan) -> list[UploadRow]:
    """The upload task's rows for the plan's files, each answered DONE."""
    return [
        UploadRow(
            client_request_id=f"gong-contact-{n}",
            request_id=None,
            integration_id="7",
            object_type="CONTACT",
            file=staged.path,
            records=staged.records,
            bytes=0,
            already_accepted=False,
            status="DONE",
            request_status_id=f"r{n}",
            total_success_count=staged.records,
            total_error_count=0,
            errors=[],
        )
        for n, staged in enumerate(plan.files)
    ]


@pytest.mark.parametrize(("approved", "flag"), [(True, PENDING), (False, LIVE)])
def test_withheld_keys_after_an_approval_whose_send_left_no_row(
    tmp_path: Path, conn: str, approved: bool, flag: int
) -> None:
    sync = Sync(tmp_path)
    sync.sync([contact(n) for n in range(10)])
    plan = sync.stage([contact(n) for n in range(4)])
    assert plan.counts.deletes_withheld == 6
    report, _ = commit_entity(
        plan.to_dict(), uploads=_done(plan), finished=[], conn_id=conn, withheld_sent=approved
    )
    state = sync.state()
    assert {state[f"c{n}"][1] for n in range(4, 10)} == {flag}
    assert report.counts.deletes_withheld == 6  # unconfirmed: not reported as deleted


def test_only_an_approve_answer_counts_as_approved() -> None:
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    assert was_approved({"chosen_options": [ApprovalOperator.APPROVE], "params_input": {}})
    assert not was_approved({"chosen_options": [ApprovalOperator.REJECT], "params_input": {}})
    assert not was_approved(None)  # skipped: nothing withheld, or no approval asked
