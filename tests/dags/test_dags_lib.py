"""The task code of gong_provider.dags: source discovery, upload ids, staging paths and the report."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from gong_provider.emulator.process import EmulatorProcess

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "dags" / "data"


def staged(**counts: Any) -> dict[str, Any]:
    """A stage task's ``summary`` XCom with these counts: the keys every stage pushes, zero or empty."""
    required = {"object_type": "", "source": "", "manifest": "", "rejects": None, "dry_run": False}
    numbers = ("records_read", "records_staged", "records_rejected", "files", "generations")
    return {**required, **dict.fromkeys(numbers, 0), **counts}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("accounts.csv", "ACCOUNT"),
        ("contact.jsonl", "CONTACT"),
        ("deals-2026-01.json.gz", "DEAL"),
        ("business_users.csv", "BUSINESS_USER"),
        ("users.ndjson", "BUSINESS_USER"),
        ("Stages.LDJSON", "STAGE"),
        ("opportunities.csv", "DEAL"),
        ("leads.jsonl", "LEAD"),
        ("schema.json", None),
        ("accounts.xlsx", None),
        ("README.md", None),
        ("contactsbackup.csv", None),
    ],
)
def test_export_files_are_recognized_by_name(name: str, expected: str | None) -> None:
    from gong_provider.dags.sources import object_type_of

    found = object_type_of(name)
    assert (found.value if found else None) == expected


def test_the_sample_export_has_every_type_once() -> None:
    from gong_provider.dags.sources import list_source_files

    files = list_source_files(str(DATA))
    assert {t.value for t in files} == {"BUSINESS_USER", "STAGE", "ACCOUNT", "CONTACT", "DEAL", "LEAD"}
    assert Path(files[next(iter(files))]).parent == DATA


def test_two_files_for_one_type_is_an_error(tmp_path: Path) -> None:
    from gong_provider.dags.sources import SourceError, list_source_files

    (tmp_path / "accounts.csv").write_text("objectId\n")
    (tmp_path / "accounts-old.jsonl").write_text("")
    with pytest.raises(SourceError, match="two ACCOUNT files"):
        list_source_files(str(tmp_path))


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    from gong_provider.dags.sources import SourceError, list_source_files

    with pytest.raises(SourceError, match="is not a folder"):
        list_source_files(str(tmp_path / "nope"))


def test_a_type_absent_from_the_source_resolves_to_none(tmp_path: Path) -> None:
    from gong_provider.dags.sources import resolve_source
    from gong_provider.models import ObjectType

    (tmp_path / "accounts.csv").write_text("objectId\n")
    common: dict[str, Any] = {"source": str(tmp_path), "sql_conn_id": None, "sql_queries": {}}
    assert resolve_source(ObjectType.ACCOUNT, **common) == str(tmp_path / "accounts.csv")
    assert resolve_source(ObjectType.CONTACT, **common) is None


def test_without_a_source_the_stage_names_where_to_set_one() -> None:
    """A pip user's default (no GONG_CRM_SOURCE, no source Param): a clear error, no sample upload."""
    from gong_provider.dags.sources import SourceError
    from gong_provider.dags.stage import stage_entity

    params = {"integration_id": "42", "source": None, "entity_types": ["ACCOUNT"]}
    with pytest.raises(SourceError, match=r"source Param .*GONG_CRM_SOURCE"):
        stage_entity("ACCOUNT", params, dag_id="d", run_id="r", render=None)


def test_without_an_integration_id_only_a_dry_run_stages(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from gong_provider.dags.stage import stage_entity

    monkeypatch.setenv("GONG_STAGING_BASE", str(tmp_path))
    params: dict[str, Any] = {"integration_id": None, "source": str(DATA), "entity_types": ["STAGE"]}
    with pytest.raises(ValueError, match=r"integration_id Param .*GONG_INTEGRATION_ID"):
        stage_entity("STAGE", params, dag_id="d", run_id="r", render=None)
    result = stage_entity("STAGE", {**params, "dry_run": True}, dag_id="d", run_id="r", render=None)
    assert result["uploads"] == []
    assert result["summary"]["records_staged"] > 0
    assert result["plan"] is None  # a dry run plans nothing and reads no state
    assert not (tmp_path / "state").exists()
    exact = stage_entity(
        "STAGE", {**params, "integration_id": 2271307570613351879}, dag_id="d", run_id="r2", render=None
    )
    # the files of generation 0, with no clientRequestId: the operator derives a run-scoped one
    planned = json.loads(Path(exact["summary"]["manifest"]).read_text())["files"]
    assert exact["uploads"] == [{"file": f["path"]} for f in planned if f["generation"] == 0]
    assert exact["plan"]["integration_id"] == "2271307570613351879"
    assert exact["plan"]["state_base"] == str(tmp_path / "state")  # <GONG_STAGING_BASE>/state
    assert exact["summary"]["new"] == exact["summary"]["records_to_upload"] > 0


def test_staging_dir_is_per_run_and_path_safe(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from gong_provider.dags.stage import staging_dir

    monkeypatch.setenv("GONG_STAGING_BASE", str(tmp_path))
    path = staging_dir("gong_crm_sync", "manual__2026-01-01T00:00:00+00:00")
    assert path == f"{tmp_path}/runs/gong_crm_sync/manual__2026-01-01T00_00_00_00_00"
    monkeypatch.setenv("GONG_STAGING_BASE", "s3://bucket/staging/")
    assert staging_dir("d", "r") == "s3://bucket/staging/runs/d/r"
    monkeypatch.delenv("GONG_STAGING_BASE")
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    assert staging_dir("d", "r") == f"{tmp_path}/gong_staging/runs/d/r"
    assert staging_dir("d", "r", "gs://b/s/") == "gs://b/s/runs/d/r"  # gong_crm_sync_dag(staging_base=...)


def test_state_and_staged_runs_have_separate_homes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The state's default is beside the runs folder, never inside what the cleanup removes."""
    from gong_provider.dags.stage import runs_root, state_base_of

    monkeypatch.delenv("GONG_STATE_BASE", raising=False)
    monkeypatch.setenv("GONG_STAGING_BASE", "s3://bucket/gong/")
    assert state_base_of(None, None) == "s3://bucket/gong/state"
    assert runs_root("gong_crm_sync") == "s3://bucket/gong/runs/gong_crm_sync"
    assert not state_base_of(None, None).startswith("s3://bucket/gong/runs/")
    assert state_base_of(None, "/data/staging") == "/data/staging/state"  # the factory's staging_base
    assert state_base_of("gs://other/state", "/data/staging") == "gs://other/state"
    monkeypatch.setenv("GONG_STATE_BASE", "s3://bucket/state-elsewhere")
    assert state_base_of(None, None) == "s3://bucket/state-elsewhere"


def test_report_outcomes_and_table() -> None:
    from gong_provider.dags.report import build_report, render_table

    xcoms = {
        ("account.stage", "summary"): staged(records_read=48, records_staged=48, records_rejected=0),
        ("account.summarize", "return_value"): {
            "records_read": 48,
            "records_staged": 48,
            "records_uploaded": 48,
            "gong_success": 48,
            "asset": "gong://crm/1/ACCOUNT",
        },
        ("contact.stage", "summary"): staged(records_read=3, records_staged=3, dry_run=True),
        ("deal.stage", "summary"): staged(records_read=5, records_staged=5),
    }
    states = {"account.summarize": "success", "deal.upload_0": "failed", "lead.stage": "skipped"}
    report = build_report(lambda task_id, key: xcoms.get((task_id, key)), states)
    assert report["ACCOUNT"]["outcome"] == "uploaded"
    assert report["ACCOUNT"]["asset"] == "gong://crm/1/ACCOUNT"
    assert report["CONTACT"]["outcome"] == "dry run"
    assert report["DEAL"]["outcome"] == "failed"
    assert report["LEAD"]["outcome"] == "skipped"
    assert report["STAGE"]["outcome"] == "skipped"
    table = render_table(report)
    for object_type in report:
        assert object_type in table
    assert "uploaded" in table
    json.dumps(report)  # XCom-ready


def test_report_tells_the_truth_for_failed_rejected_and_unselected_types() -> None:
    """A wait that failed (summarize never ran) shows Gong's counts from the commit; a stage that
    failed shows what it had read; rejects over the ratio fail the run naming the type and file;
    unselected types are "not selected", not "skipped" or "failed"."""
    from gong_provider.dags.report import build_report, failure_message, render_table

    xcoms = {
        ("account.stage", "summary"): staged(records_read=3, records_staged=3, records_to_upload=3),
        ("account.commit", "report"): {
            "generation": 1,
            "gong": {
                "records_uploaded": 3,
                "gong_success": 2,
                "gong_errors": 1,
                "already_accepted": 0,
                "refused": ["/s/ACCOUNT-0.ldjson line 2: score: not a NUMBER"],
            },
        },
        ("contact.stage", "summary"): staged(
            records_read=3,
            records_staged=2,
            records_rejected=1,
            rejects="/s/CONTACT/rejects.ldjson",
            rejects_over_limit="CONTACT: 1 of 3 records rejected (33.33%), more than max_reject_ratio=0",
        ),
        ("contact.summarize", "return_value"): {"records_uploaded": 2, "gong_success": 2},
        ("deal.stage", "summary"): staged(records_read=5, records_staged=4, records_rejected=1),
    }
    states = {"account.wait": "failed", "account.summarize": "upstream_failed", "deal.stage": "failed"}
    selected = ["ACCOUNT", "CONTACT", "DEAL"]
    report = build_report(lambda task_id, key: xcoms.get((task_id, key)), states, selected)
    account, contact, deal = report["ACCOUNT"], report["CONTACT"], report["DEAL"]
    assert (account["outcome"], account["records_uploaded"], account["gong_success"]) == ("failed", 3, 2)
    assert account["gong_errors"] == 1
    assert (contact["outcome"], contact["records_uploaded"], contact["records_rejected"]) == (
        "too many rejects",
        2,
        1,
    )
    assert contact["rejects"] == "/s/CONTACT/rejects.ldjson"
    assert (deal["outcome"], deal["records_read"], deal["records_rejected"]) == ("failed", 5, 1)
    for unselected in ("BUSINESS_USER", "STAGE", "LEAD"):
        assert report[unselected]["outcome"] == "not selected"
    message = failure_message(report)
    assert message is not None
    assert message.splitlines()[0].startswith("Gong CRM sync failed for ACCOUNT, CONTACT, DEAL")
    assert "ACCOUNT-0.ldjson line 2: score: not a NUMBER" in message
    assert "/s/CONTACT/rejects.ldjson" in message
    assert "/s/CONTACT/rejects.ldjson" in render_table(report)
    within = {**xcoms, ("contact.stage", "summary"): staged(records_read=3, records_staged=3)}
    fine = build_report(lambda task_id, key: within.get((task_id, key)), {}, ["CONTACT"])
    assert failure_message(fine) is None


def test_another_types_duplicate_files_do_not_fail_this_type(tmp_path: Path) -> None:
    from gong_provider.dags.sources import SourceError, resolve_source
    from gong_provider.models import ObjectType

    (tmp_path / "stages.csv").write_text("objectId\n")
    (tmp_path / "contacts.csv").write_text("objectId\n")
    (tmp_path / "contacts-old.csv").write_text("objectId\n")
    common: dict[str, Any] = {"source": str(tmp_path), "sql_conn_id": None, "sql_queries": {}}
    assert resolve_source(ObjectType.STAGE, **common) == str(tmp_path / "stages.csv")
    with pytest.raises(SourceError, match="two CONTACT files"):
        resolve_source(ObjectType.CONTACT, **common)


def test_only_what_a_retry_can_fix_is_retried() -> None:
    from gong_provider.changes import GongDeleteGuardError
    from gong_provider.dags.sources import SourceError
    from gong_provider.dags.stage import retry_cannot_help
    from gong_provider.exceptions import GongAuthError, GongRateLimitError, GongServerError
    from gong_provider.staging import GongSourceError

    for error in (
        SourceError("two CONTACT files"),
        ValueError("integration_id is not set"),
        GongSourceError("unreadable gzip"),
        GongDeleteGuardError("empty export", object_type="CONTACT", deletes=3, confirmed=3),
        GongAuthError("401"),
    ):
        assert retry_cannot_help(error), error
    for error in (
        GongRateLimitError("429"),
        GongServerError("500"),
        OSError("connection reset"),
        TimeoutError(),
    ):
        assert not retry_cannot_help(error), error


@pytest.mark.parametrize(
    ("executor", "expected"),
    [
        ("LocalExecutor", []),
        ("CeleryExecutor", ["GONG_STAGING_BASE", "GONG_STATE_BASE"]),
        (
            "LocalExecutor,KubernetesExecutor",
            ["GONG_STAGING_BASE", "GONG_STATE_BASE"],
        ),
        (
            "edge:airflow.providers.edge3.executors.EdgeExecutor",
            ["GONG_STAGING_BASE", "GONG_STATE_BASE"],
        ),
    ],
)
def test_local_staging_on_several_machines_is_warned(
    executor: str, expected: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    from gong_provider.dags.stage import warn_if_not_shared

    with caplog.at_level("WARNING", logger="gong_provider.dags.stage"):
        assert warn_if_not_shared("/srv/staging", "/srv/state", executor) == expected
        assert warn_if_not_shared("s3://b/staging", "s3://b/state", executor) == []
        assert warn_if_not_shared("file:///srv/staging", "gs://b/state", executor) == expected[:1]
    assert ("GONG_STAGING_BASE=/srv/staging" in caplog.text) == bool(expected)


def test_a_bad_row_does_not_hold_its_type_hostage(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, emulator: EmulatorProcess, gong_connection_env: str
) -> None:
    """The valid rows are staged for upload; the reject is counted, its file named, and the verdict
    says the run must fail at its end (max_reject_ratio 0 by default); within the ratio, no verdict."""
    from gong_provider.dags.stage import stage_entity

    monkeypatch.setenv("GONG_STAGING_BASE", str(tmp_path / "staging"))
    monkeypatch.delenv("GONG_STATE_BASE", raising=False)
    source = tmp_path / "export"
    source.mkdir()
    rows = [
        '{"objectId": "c1", "modifiedDate": "2026-01-01T00:00:00Z", "emailAddress": "c1@example.com"}',
        '{"objectId": "c2", "modifiedDate": "not a date", "emailAddress": "c2@example.com"}',
        '{"objectId": "c3", "modifiedDate": "2026-01-01T00:00:00Z", "emailAddress": "c3@example.com"}',
    ]
    (source / "contacts.jsonl").write_text("\n".join(rows) + "\n")
    params: dict[str, Any] = {
        "integration_id": str(emulator.integration_id),
        "source": str(source),
        "entity_types": ["CONTACT"],
    }
    result = stage_entity("CONTACT", params, dag_id="d", run_id="r", render=None)
    summary = result["summary"]
    assert (summary["records_read"], summary["records_staged"], summary["records_rejected"]) == (3, 2, 1)
    assert summary["records_to_upload"] == 2
    assert result["uploads"]
    assert "more than max_reject_ratio=0" in summary["rejects_over_limit"]
    rejects = Path(summary["rejects"]).read_text()
    assert '"c2"' in rejects
    assert "modifiedDate" in rejects
    # a retry of the same run (another run would wait for this one's lease on the state)
    tolerant = stage_entity(
        "CONTACT", {**params, "max_reject_ratio": 0.5}, dag_id="d", run_id="r", render=None
    )
    assert tolerant["summary"]["rejects_over_limit"] is None


def test_sample_data_references_hold_together() -> None:
    def rows(name: str) -> list[dict[str, Any]]:
        with (DATA / name).open(encoding="utf-8") as handle:
            if name.endswith(".csv"):
                return list(csv.DictReader(handle))
            return [json.loads(line) for line in handle if line.strip()]

    users = {r["objectId"] for r in rows("business_users.csv")}
    stages = {r["objectId"] for r in rows("stages.jsonl")}
    accounts = {r["objectId"] for r in rows("accounts.csv")}
    contacts = rows("contacts.csv")
    deals = rows("deals.jsonl")
    leads = rows("leads.jsonl")
    assert len(users) >= 3
    assert len(stages) >= 3
    assert 24 <= len(accounts) <= 99
    assert min(len(contacts), len(deals), len(leads)) >= 100
    assert {c["accountId"] for c in contacts} <= accounts
    assert {d["accountId"] for d in deals} <= accounts
    assert {d["ownerId"] for d in deals} <= users
    assert {d["stage"] for d in deals} <= stages
    deal_ids = {d["objectId"] for d in deals}
    contact_ids = {c["objectId"] for c in contacts}
    for lead in leads:
        assert lead.get("convertedToAccountId", next(iter(accounts))) in accounts
        assert lead.get("convertedToContactId", next(iter(contact_ids))) in contact_ids
        assert lead.get("convertedToDealId", next(iter(deal_ids))) in deal_ids
    assert len(deals) > len(deal_ids), "some deals are updated twice (a second generation)"
    schema = json.loads((DATA / "schema.json").read_text())
    assert set(schema) <= {"ACCOUNT", "CONTACT", "DEAL", "LEAD"}


def test_the_state_lease_outlives_the_wait_for_a_delete_approval() -> None:
    """Mirror mode may withhold deletes and wait up to ``delete_approval_hours`` for a person between
    the plan and the commit: the run's lease must cover that wait, or another run takes the state."""
    from gong_provider.changes.state import DEFAULT_LEASE_SECONDS
    from gong_provider.dags.stage import lease_seconds

    assert lease_seconds("mirror", {}) == DEFAULT_LEASE_SECONDS + 24 * 3600
    assert lease_seconds("mirror", {"delete_approval_hours": 2}) == DEFAULT_LEASE_SECONDS + 2 * 3600
    assert lease_seconds("mirror", {"delete_approval_hours": 0}) == DEFAULT_LEASE_SECONDS
    assert lease_seconds("upsert", {"delete_approval_hours": 48}) == DEFAULT_LEASE_SECONDS
