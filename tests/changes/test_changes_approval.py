"""Withheld deletes approved by a person: the plan keeps them apart, the same bytes go once approved,
and the commit then removes exactly those keys; without approval nothing changes for them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gong_provider.changes import GongDeleteGuardError, commit_changes
from gong_provider.changes.approval import withheld_request
from gong_provider.changes.state import LIVE, PENDING
from tests.changes.clock import Clock
from tests.changes.test_changes import DONE, Sync, contact


def test_withheld_deletes_are_written_apart_and_applied_only_once_approved(tmp_path: Path) -> None:
    sync = Sync(tmp_path)
    sync.sync([contact(n) for n in range(100)])
    plan = sync.stage([contact(n) for n in range(70)])
    assert plan.counts.deletes_withheld == 30
    assert plan.delete_files == []
    assert len(plan.withheld_files) == 1
    assert plan.withheld_files[0] not in {f.path for f in plan.files}  # never uploaded by default
    lines = [json.loads(line) for line in Path(plan.withheld_files[0]).read_text().splitlines()]
    assert sorted(line["objectId"] for line in lines) == sorted(f"c{n}" for n in range(70, 100))
    assert all(line["isDeleted"] is True for line in lines)

    request = withheld_request(plan.to_dict(), sample=5)
    assert request is not None
    assert (request["object_type"], request["deletes"], request["confirmed"]) == ("CONTACT", 30, 100)
    assert request["ratio"] == pytest.approx(0.3)
    assert len(request["sample"]) == 5
    assert set(request["sample"]) <= {f"c{n}" for n in range(70, 100)}

    # approved: the same files go, and the commit removes those keys; the guard no longer fails
    outcomes = {f.path: DONE for f in plan.files} | dict.fromkeys(plan.withheld_files, DONE)
    report = commit_changes(plan, outcomes)
    report.raise_for_guard()
    assert (report.counts.deleted, report.counts.deletes_withheld) == (30, 0)
    assert sorted(sync.state()) == sorted(f"c{n}" for n in range(70))


def test_without_approval_the_withheld_keys_stay_and_the_guard_fails(tmp_path: Path) -> None:
    sync = Sync(tmp_path)
    sync.sync([contact(n) for n in range(100)])
    plan, report = sync.sync([contact(n) for n in range(70)])
    with pytest.raises(GongDeleteGuardError, match=r"30 record\(s\).*confirm_deletes=30"):
        report.raise_for_guard()
    state = sync.state()
    assert len(state) == 100
    assert all(state[f"c{n}"][1] == LIVE for n in range(70, 100))  # still live, not pending
    assert withheld_request(plan.to_dict()) is not None
    # confirm_deletes still sends them without an approval (unattended runs)
    plan, report = sync.sync([contact(n) for n in range(70)], confirm_deletes=30)
    assert (plan.counts.deleted, plan.withheld_files) == (30, [])
    assert len(sync.state()) == 70


def test_approved_deletes_without_an_answer_leave_their_keys_pending(tmp_path: Path) -> None:
    """Approved and sent, but no answer reached the commit (the send failed while waiting): Gong may
    have deleted them, so the keys are pending, not live, and the guard is not cleared."""
    sync = Sync(tmp_path)
    sync.sync([contact(n) for n in range(100)])
    plan = sync.stage([contact(n) for n in range(70)])
    outcomes = {f.path: DONE for f in plan.files} | dict.fromkeys(plan.withheld_files, None)
    report = commit_changes(plan, outcomes)
    state = sync.state()
    assert {state[f"c{n}"][1] for n in range(70, 100)} == {PENDING}
    assert {state[f"c{n}"][1] for n in range(70)} == {LIVE}
    assert report.counts.deletes_withheld == 30  # not reported as deleted
    # the source still lacks them: the next mirror run plans their deletes again
    again = sync.stage([contact(n) for n in range(70)])
    assert again.counts.deletes_withheld + again.counts.deleted == 30


def test_a_recovered_plan_leaves_its_withheld_keys_pending(tmp_path: Path, clock: Clock) -> None:
    """The commit died after an approved send: the next run cannot know whether the deletes went,
    so it recovers the withheld keys as pending, as every key the dead plan may have sent."""
    sync = Sync(tmp_path)
    sync.sync([contact(n) for n in range(100)])
    sync.stage([contact(n) for n in range(70)])  # withheld, maybe approved and sent; never committed
    clock.advance(days=1)  # the dead run's lease expired
    plan = sync.stage([contact(n) for n in range(70)])  # recovers the dead plan first
    state = sync.state()
    assert {state[f"c{n}"][1] for n in range(70, 100)} == {PENDING}
    assert plan.counts.deletes_withheld + plan.counts.deleted == 30
