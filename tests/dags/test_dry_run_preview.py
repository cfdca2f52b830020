"""dry_run=true previews what a real run would do: the change plan computed against the state (new,
changed, unchanged, pending, deletes, withheld deletes, reference findings) into the report, with
nothing uploaded, committed or marked in flight; the state is byte-identical before and after."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gong_provider.changes import commit_changes
from gong_provider.changes.plan import ChangePlan
from gong_provider.dags.stage import CHANGE_COUNTS
from gong_provider.models import RequestState, RequestStatus
from tests.support.stage_task import stage_type

DONE = RequestStatus(None, RequestState.DONE)


@pytest.fixture(autouse=True)
def _gong(gong_connection_env: str) -> None:
    """The stage task reads the type's registered custom fields from Gong: here the emulator, whose
    integration is DEFAULT_INTEGRATION_ID."""


MODIFIED = "2026-01-01T00:00:00Z"


def contact(n: int, version: int = 0) -> dict[str, Any]:
    return {"objectId": f"c{n}", "modifiedDate": MODIFIED, "firstName": f"v{version}", "accountId": "a1"}


def export(tmp_path: Path, records: list[dict[str, Any]]) -> None:
    folder = tmp_path / "export"
    folder.mkdir(exist_ok=True)
    (folder / "contacts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def stage(tmp_path: Path, run_id: str, **params: Any) -> dict[str, Any]:
    return stage_type(tmp_path, run_id, "CONTACT", entity_types=["CONTACT"], **params)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_dry_run_reports_the_plan_and_leaves_the_state_byte_identical(tmp_path: Path) -> None:
    export(tmp_path, [contact(n) for n in range(40)])
    first = stage(tmp_path, "run1")
    plan = ChangePlan.from_dict(first["plan"])
    commit_changes(plan, {f.path: DONE for f in plan.files})

    # c0 changed, c40 new, c30..c39 gone (10 of 40: withheld in mirror mode), the rest unchanged
    export(tmp_path, [contact(0, 1), *(contact(n) for n in range(1, 30)), contact(40)])
    before = snapshot(tmp_path / "state")
    preview = stage(tmp_path, "dry", dry_run=True, sync_mode="mirror")
    assert snapshot(tmp_path / "state") == before  # no marker, no commit, nothing rewritten
    assert (preview["uploads"], preview["later_files"], preview["plan"], preview["withheld"]) == (
        [],
        [],
        None,
        None,
    )
    summary = preview["summary"]
    assert summary["dry_run"] is True
    assert summary["records_to_upload"] == 0
    counts = {name: summary[name] for name in CHANGE_COUNTS}
    assert counts == {
        "new": 1,
        "changed": 1,
        "unchanged": 29,
        "pending_retried": 0,
        "deleted": 0,
        "deletes_withheld": 10,
    }
    assert summary["records_planned"] == 2
    assert summary["references_dangling"] == 31  # a1: no ACCOUNT exported or confirmed

    # the real run plans exactly what the preview showed
    real = stage(tmp_path, "run2", sync_mode="mirror")
    assert {name: real["summary"][name] for name in CHANGE_COUNTS} == counts
    assert real["summary"]["records_to_upload"] == summary["records_planned"]
    assert real["withheld"]["deletes"] == 10
    assert snapshot(tmp_path / "state") != before  # a real run marks its plan in flight
