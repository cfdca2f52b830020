"""The task code of gong_provider.dags: source discovery, upload ids, staging paths and the report."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "dags" / "data"


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
    assert path == f"{tmp_path}/gong_crm_sync/manual__2026-01-01T00_00_00_00_00"
    monkeypatch.setenv("GONG_STAGING_BASE", "s3://bucket/staging/")
    assert staging_dir("d", "r") == "s3://bucket/staging/d/r"
    monkeypatch.delenv("GONG_STAGING_BASE")
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    assert staging_dir("d", "r") == f"{tmp_path}/gong_staging/d/r"
    assert staging_dir("d", "r", "gs://b/s/") == "gs://b/s/d/r"  # gong_crm_sync_dag(staging_base=...)


def test_report_outcomes_and_table() -> None:
    from gong_provider.dags.report import build_report, render_table

    xcoms = {
        ("account.stage", "summary"): {"records_read": 48, "records_staged": 48, "records_rejected": 0},
        ("account.summarize", "return_value"): {
            "records_read": 48,
            "records_staged": 48,
            "records_uploaded": 48,
            "gong_success": 48,
            "asset": "gong://crm/1/ACCOUNT",
        },
        ("contact.stage", "summary"): {"records_read": 3, "records_staged": 3, "dry_run": True},
        ("deal.stage", "summary"): {"records_read": 5, "records_staged": 5},
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
