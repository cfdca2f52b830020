"""A changed business user goes to Gong as a delete, then (once DONE) its new version in a separate
request: the emulator, which keeps the email a user was created with, then associates the new email.
New and unchanged users are untouched."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from gong_provider.changes import ChangePlan, commit_changes, stage_changes
from gong_provider.changes.capture import iter_state
from gong_provider.changes.state import LIVE, PENDING, StateStore
from gong_provider.changes.user_updates import reassociation_dated
from gong_provider.emulator.client import EmulatorClient
from gong_provider.emulator.process import EmulatorProcess
from gong_provider.models import RequestState, RequestStatus
from tests.fixtures.emulator import GongApi

MODIFIED = "2026-01-01T00:00:00Z"


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
    assert first.reassociate_files == []  # nothing confirmed yet: every user is new
    commit_changes(first, send(gong_api, "run1", [f.path for f in first.files]))

    second = plan_for(
        tmp_path,
        emulator,
        "run2",
        [user("rep1", "new@acme.com"), user("rep2", "two@acme.com"), user("rep3", "three@acme.com")],
    )
    assert second.counts.reassociated == 1  # rep2 unchanged, rep3 new: untouched
    (deletes,) = second.reassociate_files
    assert deletes not in {f.path for f in second.files}
    assert [json.loads(line) for line in Path(deletes).read_text().splitlines()] == [
        {
            "objectId": "rep1",
            "modifiedDate": reassociation_dated(MODIFIED, second.deletes_dated),
            "isDeleted": True,
        }
    ]
    statuses = send(gong_api, "run2-deletes", [deletes])  # one request, DONE...
    statuses.update(send(gong_api, "run2", [f.path for f in second.files]))  # ...then the rest
    commit_changes(second, statuses)

    assert emulator_client.user_emails() == {
        "rep1": "new@acme.com",
        "rep2": "two@acme.com",
        "rep3": "three@acme.com",
    }
    assert emulator_client.record_counts("BUSINESS_USER") == {"rep1": 3, "rep2": 1, "rep3": 1}
    third = plan_for(tmp_path, emulator, "run3", [user("rep1", "new@acme.com")])
    assert third.reassociate_files == []  # confirmed at its new content
    assert third.counts.reassociated == 0


def test_a_new_version_confirmed_without_its_delete_is_not_confirmed(
    tmp_path: Path, emulator: EmulatorProcess, emulator_client: EmulatorClient, gong_api: GongApi
) -> None:
    """A caller that sends the new version although the delete was not confirmed: Gong keeps the old
    association, so the state must not say the user is live at its new content."""
    first = plan_for(tmp_path, emulator, "run1", [user("rep1", "old@acme.com")])
    commit_changes(first, send(gong_api, "run1", [f.path for f in first.files]))
    second = plan_for(tmp_path, emulator, "run2", [user("rep1", "new@acme.com")])
    assert len(second.reassociate_files) == 1
    report = commit_changes(second, send(gong_api, "run2", [f.path for f in second.files]))
    assert emulator_client.user_emails() == {"rep1": "old@acme.com"}
    assert report.left_pending == 1
    store = StateStore(tmp_path / "state", emulator.integration_id, "BUSINESS_USER")
    assert [flag for _, _, flag, _ in iter_state(store)] == [PENDING]

    third = plan_for(tmp_path, emulator, "run3", [user("rep1", "new@acme.com")])
    statuses = send(gong_api, "run3-deletes", third.reassociate_files)
    statuses.update(send(gong_api, "run3", [f.path for f in third.files]))
    commit_changes(third, statuses)
    assert emulator_client.user_emails() == {"rep1": "new@acme.com"}
    assert [flag for _, _, flag, _ in iter_state(store)] == [LIVE]


def send_as_the_dag(gong_api: GongApi, name: str, plan: ChangePlan) -> dict[str, Any]:
    """The sync DAG's order: the deletes, then each generation once the one before is DONE."""
    statuses = send(gong_api, f"{name}-deletes", plan.reassociate_files)
    for number, generation in enumerate(plan.manifest.generations):
        statuses.update(send(gong_api, f"{name}-g{number}", [f.path for f in generation]))
    return statuses


def test_a_user_listed_twice_is_sent_once_as_its_last_version(
    tmp_path: Path,
    emulator: EmulatorProcess,
    emulator_client: EmulatorClient,
    gong_api: GongApi,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A changed user and a new one, each listed twice with different emails: Gong must associate
    the last email (a second version sent as a plain upsert after the first would keep the first
    one), the state must be live at the last version, and a rerun sends nothing."""
    first = plan_for(tmp_path, emulator, "run1", [user("rep1", "old@acme.com"), user("rep2", "two@acme.com")])
    commit_changes(first, send_as_the_dag(gong_api, "run1", first))

    export = [
        user("rep1", "mid@acme.com"),
        user("rep3", "first@acme.com"),
        user("rep2", "two@acme.com"),
        user("rep1", "new@acme.com"),
        user("rep3", "last@acme.com"),
    ]
    with caplog.at_level(logging.WARNING, logger="gong_provider.changes.user_updates"):
        second = plan_for(tmp_path, emulator, "run2", export)
    assert second.counts.superseded == 2
    assert len(second.manifest.generations) == 1  # one version per user: no later generation
    sent = [json.loads(line) for f in second.files for line in Path(f.path).read_text().splitlines()]
    assert sorted((r["objectId"], r["emailAddress"]) for r in sent) == [
        ("rep1", "new@acme.com"),
        ("rep3", "last@acme.com"),
    ]
    warning = "\n".join(r.getMessage() for r in caplog.records)
    source = str(tmp_path / "run2.jsonl")
    assert f"objectId rep1 ({source}, line 1)" in warning
    assert f"objectId rep3 ({source}, line 2)" in warning
    commit_changes(second, send_as_the_dag(gong_api, "run2", second))

    assert emulator_client.user_emails() == {
        "rep1": "new@acme.com",
        "rep2": "two@acme.com",
        "rep3": "last@acme.com",
    }
    store = StateStore(tmp_path / "state", emulator.integration_id, "BUSINESS_USER")
    assert {object_id: flag for object_id, _, flag, _ in iter_state(store)} == dict.fromkeys(
        ("rep1", "rep2", "rep3"), LIVE
    )
    rerun = plan_for(tmp_path, emulator, "run3", export)
    assert (rerun.reassociate_files, rerun.files) == ([], [])  # live at the last version: unchanged


def test_a_new_user_listed_twice_on_the_first_run_gets_its_last_email(
    tmp_path: Path, emulator: EmulatorProcess, emulator_client: EmulatorClient, gong_api: GongApi
) -> None:
    """No state yet (the staged files would be sent as they are): still one version per user."""
    export = [user("rep9", "first@acme.com"), user("rep9", "last@acme.com")]
    first = plan_for(tmp_path, emulator, "run1", export)
    assert first.counts.superseded == 1
    commit_changes(first, send_as_the_dag(gong_api, "run1", first))
    assert emulator_client.user_emails() == {"rep9": "last@acme.com"}
    store = StateStore(tmp_path / "state", emulator.integration_id, "BUSINESS_USER")
    assert [flag for _, _, flag, _ in iter_state(store)] == [LIVE]
    rerun = plan_for(tmp_path, emulator, "run2", export)
    assert (rerun.reassociate_files, rerun.files) == ([], [])
