"""The stage task's code for BUSINESS_USER: the deletes of changed users come out apart from the
uploads (the DAG sends them first); a dry run writes none."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gong_provider.changes import commit_changes
from gong_provider.changes.plan import ChangePlan
from gong_provider.emulator.client import EmulatorClient
from gong_provider.emulator.process import EmulatorProcess
from gong_provider.models import RequestState, RequestStatus
from tests.fixtures.emulator import GongApi
from tests.support.stage_task import stage_type

DONE = RequestStatus(None, RequestState.DONE)


def stage(tmp_path: Path, run_id: str, emails: dict[str, str], **params: Any) -> dict[str, Any]:
    folder = tmp_path / "export"
    folder.mkdir(exist_ok=True)
    users = [
        {"objectId": i, "emailAddress": e, "modifiedDate": "2026-01-01T00:00:00Z"} for i, e in emails.items()
    ]
    (folder / "business_users.jsonl").write_text(
        "".join(json.dumps(u) + "\n" for u in users), encoding="utf-8"
    )
    conf = {"integration_id": "7", "entity_types": ["BUSINESS_USER"], **params}
    return stage_type(tmp_path, run_id, "BUSINESS_USER", **conf)


def test_changed_users_are_deleted_in_a_file_of_their_own(tmp_path: Path) -> None:
    first = stage(tmp_path, "run1", {"u1": "a@x.com", "u2": "b@x.com"})
    assert first["reassociate_files"] == []
    plan = ChangePlan.from_dict(first["plan"])
    commit_changes(plan, {f.path: DONE for f in plan.files})

    assert "reassociate_files" not in stage(tmp_path, "dry", {"u1": "new@x.com"}, dry_run=True)
    second = stage(tmp_path, "run2", {"u1": "new@x.com", "u2": "b@x.com", "u3": "c@x.com"})
    (path,) = second["reassociate_files"]
    assert [json.loads(line)["objectId"] for line in Path(path).read_text().splitlines()] == ["u1"]
    assert path not in {upload["file"] for upload in second["uploads"]}
    assert second["summary"]["users_reassociated"] == 1


def test_changed_users_deletes_are_dated_just_before_their_new_version(tmp_path: Path) -> None:
    """A changed user's delete is dated one second before its new version's own modifiedDate: were
    Gong to keep the last-modified version, a delete dated later (the run's clock) would win over the
    new version and leave the user deleted. Never by the run's interval (issue 17 item 15)."""
    first = stage(tmp_path, "run1", {"u1": "a@x.com"})
    plan = ChangePlan.from_dict(first["plan"])
    commit_changes(plan, {f.path: DONE for f in plan.files})

    second = stage(tmp_path, "run2", {"u1": "new@x.com"})  # stage_entity takes no run interval
    (path,) = second["reassociate_files"]
    (delete,) = [json.loads(line) for line in Path(path).read_text().splitlines()]
    (new_version,) = [
        json.loads(line)
        for upload in second["uploads"]
        for line in Path(upload["file"]).read_text().splitlines()
    ]
    assert new_version["modifiedDate"] == "2026-01-01T00:00:00Z"
    assert delete["modifiedDate"] == "2025-12-31T23:59:59Z", delete
    assert delete["modifiedDate"] < new_version["modifiedDate"] <= second["plan"]["deletes_dated"]


def test_a_reassociation_delete_is_never_dated_after_the_plan() -> None:
    from gong_provider.changes.user_updates import reassociation_dated

    planned = "2026-02-01T06:00:00Z"
    assert reassociation_dated("2026-01-01T00:00:00+01:00", planned) == "2025-12-31T22:59:59Z"
    assert reassociation_dated("2027-01-01T00:00:00Z", planned) == planned  # a date ahead of the clock
    assert reassociation_dated(None, planned) == planned  # no readable date
    # an export's "no date" (the first second of year 1): nothing before it, the plan's date
    assert reassociation_dated("0001-01-01T00:00:00Z", planned) == planned
    assert reassociation_dated("0999-05-01T00:00:00Z", planned) == "0999-04-30T23:59:59Z"


def test_a_failed_delete_of_changed_users_is_sent_again_before_their_new_version(
    tmp_path: Path, emulator: EmulatorProcess, emulator_client: EmulatorClient, gong_api: GongApi
) -> None:
    """delete_changed_users failed (or its worker died): the upload never ran, the commit saw no
    answer for either. The next run must delete the user again before sending the new email, or
    Gong keeps the old email-to-user association for good."""
    conf = {"integration_id": str(emulator.integration_id)}

    def run(run_id: str, emails: dict[str, str], *, delete_ok: bool = True) -> dict[str, Any]:
        result = stage(tmp_path, run_id, emails, **conf)
        statuses: dict[str, Any] = {}
        files = result["reassociate_files"] if delete_ok else []
        for number, path in enumerate(files):
            assert (
                gong_api.upload_and_wait("BUSINESS_USER", f"{run_id}-d-{number}", Path(path))["status"]
                == "DONE"
            )
            statuses[path] = DONE
        if delete_ok:  # the DAG's upload runs only once the deletes are DONE
            for upload in result["uploads"]:
                answer = gong_api.upload_and_wait("BUSINESS_USER", f"{run_id}-u", Path(upload["file"]))
                assert answer["status"] == "DONE"
                statuses[upload["file"]] = DONE
        commit_changes(ChangePlan.from_dict(result["plan"]), statuses)
        return result

    run("run1", {"u1": "old@x.com", "u2": "b@x.com"})
    failed = run("run2", {"u1": "new@x.com", "u2": "b@x.com"}, delete_ok=False)
    assert len(failed["reassociate_files"]) == 1
    healed = run("run3", {"u1": "new@x.com", "u2": "b@x.com"})
    assert [
        json.loads(line)["objectId"]
        for path in healed["reassociate_files"]
        for line in Path(path).read_text().splitlines()
    ] == ["u1"]
    assert emulator_client.user_emails() == {"u1": "new@x.com", "u2": "b@x.com"}
    assert run("run4", {"u1": "new@x.com", "u2": "b@x.com"})["reassociate_files"] == []
