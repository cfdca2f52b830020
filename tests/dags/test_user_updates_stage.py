"""The stage task's code for BUSINESS_USER: the deletes of changed users come out apart from the
uploads (the DAG sends them first); a dry run writes none."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gong_provider.changes import commit_changes
from gong_provider.changes.plan import ChangePlan
from gong_provider.models import RequestState, RequestStatus
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
