"""The sync's reference check (Param ``reference_check``) through its stage task's code: this run's
exports and the confirmed change-capture state count as known; ``fail`` stops the type before its
upload; ``off`` reads nothing; the report shows the columns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gong_provider.changes import commit_changes
from gong_provider.changes.plan import ChangePlan
from gong_provider.dags.report import build_report
from gong_provider.models import RequestState, RequestStatus
from gong_provider.staging.references import GongReferenceError
from tests.support.stage_task import stage_type

MODIFIED = "2026-01-01T00:00:00Z"
DONE = RequestStatus(None, RequestState.DONE)


@pytest.fixture(autouse=True)
def _gong(gong_connection_env: str) -> None:
    """The stage task reads the type's registered custom fields from Gong: here the emulator, whose
    integration is DEFAULT_INTEGRATION_ID."""


def write(folder: Path, name: str, *records: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def deal(object_id: str, **fields: Any) -> dict[str, Any]:
    base = {"objectId": object_id, "modifiedDate": MODIFIED, "accountId": "a1", "ownerId": "u1"}
    return {**base, "stage": "s1", "closeDate": "2026-06-30", **fields}


def test_references_against_this_runs_exports_and_the_confirmed_state(tmp_path: Path) -> None:
    export = tmp_path / "export"
    write(export, "accounts.jsonl", {"objectId": "a-old", "modifiedDate": MODIFIED})
    # run 1: a-old is confirmed by Gong
    first = stage_type(tmp_path, "run1", "ACCOUNT", entity_types=["ACCOUNT"])
    plan = ChangePlan.from_dict(first["plan"])
    commit_changes(plan, {f.path: DONE for f in plan.files})

    # run 2: the export has a1 only (upsert mode: a-old stays confirmed in Gong)
    write(export, "accounts.jsonl", {"objectId": "a1", "modifiedDate": MODIFIED})
    write(
        export,
        "business_users.jsonl",
        {"objectId": "u1", "emailAddress": "u1@x.com", "modifiedDate": MODIFIED},
    )
    write(
        export,
        "deals.jsonl",
        deal("d1"),
        deal("d2", accountId="a-old"),
        deal("d3", accountId="a-gone", stage="s-none"),
        {k: v for k, v in deal("d4").items() if k != "ownerId"},
    )
    write(export, "stages.jsonl", {"objectId": "s1", "name": "One"})
    for kind in ("BUSINESS_USER", "STAGE", "ACCOUNT"):
        stage_type(tmp_path, "run2", kind)
    result = stage_type(tmp_path, "run2", "DEAL")
    summary = result["summary"]
    assert (summary["references_dangling"], summary["references_missing"]) == (2, 1)
    examples = summary["reference_examples"]
    assert any("line 3 objectId d3: accountId 'a-gone'" in e for e in examples)
    assert any("line 3 objectId d3: stage 's-none'" in e for e in examples)
    assert any("line 4 objectId d4: ownerId is missing" in e for e in examples)
    assert not any("d2" in e for e in examples)  # a-old: confirmed in the state

    report = build_report(
        lambda task_id, key: summary if (task_id, key) == ("deal.stage", "summary") else None, {}
    )
    assert (report["DEAL"]["references_dangling"], report["DEAL"]["references_missing"]) == (2, 1)
    assert report["DEAL"]["reference_examples"] == examples

    commit_changes(ChangePlan.from_dict(result["plan"]), {})  # run2 ends: its lease released
    with pytest.raises(GongReferenceError, match="reference_check=fail: nothing was sent") as failure:
        stage_type(tmp_path, "run3", "DEAL", reference_check="fail")
    # run3 staged no account, user or stage: only the confirmed state (a-old) is known
    assert failure.value.summary["references_dangling"] == 3 + 3 + 4

    # run3 released the state's lease as it failed (else run4 would be refused until it expired)
    off = stage_type(tmp_path, "run4", "DEAL", reference_check="off")["summary"]
    assert "references_dangling" not in off


def test_a_dry_run_without_integration_checks_against_its_own_exports(tmp_path: Path) -> None:
    export = tmp_path / "export"
    write(export, "stages.jsonl", {"objectId": "s1", "name": "One"})
    write(export, "deals.jsonl", deal("d1"), deal("d2", stage="s2"))
    conf = {"dry_run": True, "integration_id": None}
    stage_type(tmp_path, "dry", "STAGE", **conf)
    summary = stage_type(tmp_path, "dry", "DEAL", **conf)["summary"]
    assert summary["references_dangling"] == 1
    assert summary["references_unchecked"] == ["accountId", "ownerId"]  # no state to read
