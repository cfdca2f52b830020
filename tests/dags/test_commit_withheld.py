"""The sync's commit task: the approval of withheld deletes (once a person approved them they may
have reached Gong, so a send that left no row leaves their keys pending), and the upload rows of
another planning attempt (ignored: their files' records stay pending)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


def test_the_commit_ignores_the_upload_rows_of_an_earlier_planning_attempt(
    tmp_path: Path, conn: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The user clears ``stage`` and ``commit`` but not the upload tasks: the new attempt's files sit
    at the paths of the earlier attempt's, whose upload rows (DONE) are still in XCom. They vouch for
    lines this plan never sent, so the commit ignores them (warning naming them): the keys stay
    pending, and the next run sends them."""
    sync = Sync(tmp_path)
    sync.sync([contact(n) for n in range(3)])
    attempt_1 = sync.stage([contact(n, version=1) for n in range(3)], run_key="run-r")
    rows: list[Any] = [{**row, "plan_token": attempt_1.run_token} for row in _done(attempt_1)]
    attempt_2 = sync.stage([contact(n, version=2) for n in range(3)], run_key="run-r")  # stage cleared
    assert [f.path for f in attempt_2.files] == [f.path for f in attempt_1.files]
    assert attempt_2.run_token != attempt_1.run_token
    _, gong = commit_entity(attempt_2.to_dict(), uploads=rows, finished=rows, conn_id=conn)
    assert {sync.state()[f"c{n}"][1] for n in range(3)} == {PENDING}
    assert gong["refused"] == []
    assert "Ignored the upload row of " + attempt_2.files[0].path in caplog.text
    assert attempt_1.run_token in caplog.text


@pytest.mark.parametrize("token", ["own", None, "absent"])
def test_the_commit_applies_rows_of_its_plan_and_rows_without_a_token(
    tmp_path: Path, conn: str, token: str | None
) -> None:
    """Rows naming the plan's token count; so do rows without one (``None``: a folder staged without
    a token; no key: an earlier release's operator, a try during a rolling upgrade), which cannot be
    told apart and come from the attempt an upgrade went through."""
    sync = Sync(tmp_path)
    sync.sync([contact(n) for n in range(3)])
    plan = sync.stage([contact(n, version=1) for n in range(3)])
    rows: list[Any] = _done(plan)
    if token != "absent":
        rows = [{**row, "plan_token": plan.run_token if token == "own" else None} for row in rows]
    commit_entity(plan.to_dict(), uploads=rows, finished=rows, conn_id=conn)
    assert {sync.state()[f"c{n}"][1] for n in range(3)} == {LIVE}
