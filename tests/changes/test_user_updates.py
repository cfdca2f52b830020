"""A changed business user goes to Gong as a delete, then (once DONE) its new version in a separate
request: the emulator, which keeps the email a user was created with, then associates the new email.
New and unchanged users are untouched."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gong_provider.changes import ChangePlan, commit_changes, stage_changes
from gong_provider.changes.user_updates import changed_users, write_user_deletes
from gong_provider.emulator.client import EmulatorClient
from gong_provider.emulator.process import EmulatorProcess
from gong_provider.models import RequestState, RequestStatus
from tests.fixtures.emulator import GongApi

MODIFIED = "2026-01-01T00:00:00Z"
RUN_TIME = "2026-02-01T00:00:00+00:00"


def user(object_id: str, email: str) -> dict[str, Any]:
    return {"objectId": object_id, "emailAddress": email, "modifiedDate": MODIFIED}


def plan_for(tmp_path: Path, emulator: EmulatorProcess, run: str, users: list[dict[str, Any]]) -> ChangePlan:
    source = tmp_path / f"{run}.jsonl"
    source.write_text("".join(json.dumps(u) + "\n" for u in users), encoding="utf-8")
    return stage_changes(
        source,
        object_type="BUSINESS_USER",
        out_dir=tmp_path / run,
        state_base=tmp_path / "state",
        integration_id=emulator.integration_id,
        run_key=run,
        run_time=RUN_TIME,
    )


def send(gong_api: GongApi, name: str, paths: list[str]) -> dict[str, Any]:
    statuses: dict[str, Any] = {}
    for number, path in enumerate(paths):
        status = gong_api.upload_and_wait("BUSINESS_USER", f"{name}-{number}", Path(path))
        assert status["status"] == "DONE", status
        statuses[path] = RequestStatus(None, RequestState.DONE)
    return statuses


def test_a_changed_user_is_deleted_then_sent_again_and_re_associated(
    tmp_path: Path, emulator: EmulatorProcess, emulator_client: EmulatorClient, gong_api: GongApi
) -> None:
    first = plan_for(tmp_path, emulator, "run1", [user("rep1", "old@acme.com"), user("rep2", "two@acme.com")])
    assert changed_users(first) == []  # nothing confirmed yet: every user is new
    commit_changes(first, send(gong_api, "run1", [f.path for f in first.files]))

    second = plan_for(
        tmp_path,
        emulator,
        "run2",
        [user("rep1", "new@acme.com"), user("rep2", "two@acme.com"), user("rep3", "three@acme.com")],
    )
    assert changed_users(second) == ["rep1"]  # rep2 unchanged, rep3 new: untouched
    deletes = write_user_deletes(second, tmp_path / "run2", RUN_TIME, changed_users(second))
    assert [json.loads(line) for line in Path(deletes[0]).read_text().splitlines()] == [
        {"objectId": "rep1", "modifiedDate": "2026-02-01T00:00:00Z", "isDeleted": True}
    ]
    send(gong_api, "run2-deletes", deletes)  # one request, DONE...
    commit_changes(second, send(gong_api, "run2", [f.path for f in second.files]))  # ...then the rest

    assert emulator_client.user_emails() == {
        "rep1": "new@acme.com",
        "rep2": "two@acme.com",
        "rep3": "three@acme.com",
    }
    assert emulator_client.record_counts("BUSINESS_USER") == {"rep1": 3, "rep2": 1, "rep3": 1}
    third = plan_for(tmp_path, emulator, "run3", [user("rep1", "new@acme.com")])
    assert changed_users(third) == []  # confirmed at its new content
    assert write_user_deletes(third, tmp_path / "run3", RUN_TIME, []) == []
