"""Issue 19 through the whole gong_crm_sync DAG (``airflow dags test``) against the emulator:
a changed business user is deleted, then sent again in a separate request, and Gong re-associates
its new email; a dry run previews the change in the report and sends nothing; verify_sample reads
uploaded accounts back from Gong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gong_provider.emulator.client import EmulatorClient
from gong_provider.emulator.process import EmulatorProcess
from tests.support.faults import ENTITIES, gong, pycache
from tests.support.sync_dag import inspect_sync_db, new_sync_home, run_sync_dag, sync_template

__all__ = ["gong", "pycache", "sync_template"]  # fixtures used here

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

MODIFIED = "2026-01-01T00:00:00Z"


def write_export(folder: Path, email: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    users = [
        {"objectId": "rep1", "emailAddress": email, "modifiedDate": MODIFIED},
        {"objectId": "rep2", "emailAddress": "rep2@acme.com", "modifiedDate": MODIFIED},
    ]
    (folder / "business_users.jsonl").write_text("".join(json.dumps(u) + "\n" for u in users))
    account = {"objectId": "acc1", "modifiedDate": MODIFIED, "name": "Acme"}
    (folder / "accounts.jsonl").write_text(json.dumps(account) + "\n")


def reports(home: Path, pycache: Path) -> list[dict[str, Any]]:
    data = inspect_sync_db(home, pycache)
    runs = sorted(data["runs"], key=lambda r: r["run_id"])
    by_run = {
        x["run_id"]: x["value"] for x in data["xcoms"] if x["task_id"] == "report" and x["key"] == "report"
    }
    return [by_run[run["run_id"]] for run in runs]


def test_business_user_change_dry_run_preview_and_verify_sample(
    gong: EmulatorClient, emulator: EmulatorProcess, sync_template: Path, pycache: Path, tmp_path: Path
) -> None:
    home = new_sync_home(sync_template, tmp_path / "airflow_home")
    export = tmp_path / "export"
    conf = {"source": str(export), "entity_types": ["BUSINESS_USER", "ACCOUNT"]}

    write_export(export, "old@acme.com")
    first = run_sync_dag(home, pycache, emulator, {**conf, "verify_sample": 5})
    assert first.returncode == 0, (first.stdout + first.stderr)[-5000:]
    assert gong.user_emails() == {"rep1": "old@acme.com", "rep2": "rep2@acme.com"}

    write_export(export, "new@acme.com")
    posts = len([c for c in gong.requests_log() if c["path"] == ENTITIES and c["method"] == "POST"])
    state = home / "gong_staging" / "state"
    before = {str(p): p.read_bytes() for p in sorted(state.rglob("*")) if p.is_file()}
    preview = run_sync_dag(home, pycache, emulator, {**conf, "dry_run": True})
    assert preview.returncode == 0, (preview.stdout + preview.stderr)[-5000:]
    assert len([c for c in gong.requests_log() if c["path"] == ENTITIES and c["method"] == "POST"]) == posts
    assert {str(p): p.read_bytes() for p in sorted(state.rglob("*")) if p.is_file()} == before

    second = run_sync_dag(home, pycache, emulator, conf)
    assert second.returncode == 0, (second.stdout + second.stderr)[-5000:]
    assert gong.user_emails() == {"rep1": "new@acme.com", "rep2": "rep2@acme.com"}  # re-associated
    assert gong.record_counts("BUSINESS_USER") == {"rep1": 3, "rep2": 1}  # rep2 untouched

    first_report, preview_report, second_report = reports(home, pycache)
    assert (first_report["ACCOUNT"]["verify_matched"], first_report["ACCOUNT"]["verify_missing"]) == (1, 0)
    users = preview_report["BUSINESS_USER"]
    assert users["outcome"] == "dry run"
    assert (users["new"], users["changed"], users["unchanged"]) == (0, 1, 1)
    assert second_report["BUSINESS_USER"]["changed"] == 1


def write_users(folder: Path, users: list[tuple[str, str]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [{"objectId": k, "emailAddress": v, "modifiedDate": MODIFIED} for k, v in users]
    (folder / "business_users.jsonl").write_text("".join(json.dumps(u) + "\n" for u in lines))


def user_posts(gong: EmulatorClient) -> int:
    return len([c for c in gong.requests_log() if c["path"] == ENTITIES and c["method"] == "POST"])


def test_users_listed_twice_and_a_delete_gong_answers_done_but_refused(
    gong: EmulatorClient, emulator: EmulatorProcess, sync_template: Path, pycache: Path, tmp_path: Path
) -> None:
    """A new and a changed user each listed twice: Gong ends with the last email. A delete of changed
    users that Gong answers DONE while refusing its lines: the new versions still go (Gong keeps the
    old emails for them, harmlessly; other users whose delete Gong stored must not stay deleted), the
    refused users stay pending, and the next run deletes them first again and re-associates them."""
    home = new_sync_home(sync_template, tmp_path / "airflow_home")
    export = tmp_path / "export"
    conf = {"source": str(export), "entity_types": ["BUSINESS_USER"]}

    write_users(export, [("rep1", "old@acme.com"), ("rep3", "first@acme.com"), ("rep3", "last@acme.com")])
    first = run_sync_dag(home, pycache, emulator, conf)
    assert first.returncode == 0, (first.stdout + first.stderr)[-5000:]
    assert gong.user_emails() == {"rep1": "old@acme.com", "rep3": "last@acme.com"}

    write_users(export, [("rep1", "mid@acme.com"), ("rep3", "new@acme.com"), ("rep1", "new@acme.com")])
    posts = user_posts(gong)
    gong.inject_fault("done_with_errors", path=ENTITIES, method="POST", description="User not deleted")
    refused = run_sync_dag(home, pycache, emulator, conf)
    assert user_posts(gong) == posts + 2  # the deletes, answered, then the new versions
    assert gong.user_emails() == {"rep1": "old@acme.com", "rep3": "last@acme.com"}  # not re-associated
    db = inspect_sync_db(home, pycache)
    tis = {(ti["run_id"], ti["task_id"]): ti["state"] for ti in db["tis"]}
    run_ids = sorted({run_id for run_id, _ in tis})
    assert tis[(run_ids[-1], "business_user.delete_changed_users")] == "success", refused.stdout[-5000:]
    assert tis[(run_ids[-1], "business_user.commit")] == "success"
    (report,) = [
        x["value"]
        for x in db["xcoms"]
        if (x["run_id"], x["task_id"], x["key"]) == (run_ids[-1], "business_user.commit", "report")
    ]
    assert report["pending"] == 2, report  # the refused users stay pending: deleted first again

    healed = run_sync_dag(home, pycache, emulator, conf)
    assert healed.returncode == 0, (healed.stdout + healed.stderr)[-5000:]
    assert gong.user_emails() == {"rep1": "new@acme.com", "rep3": "new@acme.com"}
    posts = user_posts(gong)
    rerun = run_sync_dag(home, pycache, emulator, conf)
    assert rerun.returncode == 0, (rerun.stdout + rerun.stderr)[-5000:]
    assert user_posts(gong) == posts  # live at the last versions: nothing to send
    superseded = [  # each run's export lists one user twice
        x["value"]["users_superseded"]
        for x in inspect_sync_db(home, pycache)["xcoms"]
        if x["task_id"] == "business_user.stage" and x["key"] == "summary"
    ]
    assert superseded == [1, 1, 1, 1]
