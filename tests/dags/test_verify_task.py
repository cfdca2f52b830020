"""The sync's verify task code (Param verify_sample): only files Gong reported DONE are sampled, the
deletes never; the report shows the counts."""

from __future__ import annotations

import json
from pathlib import Path

from gong_provider.dags.report import build_report
from gong_provider.dags.verify import done_files, verify_entity
from gong_provider.emulator.process import EmulatorProcess
from tests.fixtures.emulator import GongApi, ldjson

RECORD = {"objectId": "acc-1", "modifiedDate": "2026-01-01T00:00:00Z", "name": "Acme"}


def test_done_files_only() -> None:
    uploads = [{"file": "a", "client_request_id": "r-a"}, {"file": "b", "client_request_id": "r-b"}]
    finished = [
        {"client_request_id": "r-a", "status": "DONE"},
        {"client_request_id": "r-b", "status": "FAILED"},
    ]
    assert done_files(uploads, finished) == ["a"]


def test_verify_entity_samples_done_uploads_and_reports(
    gong_api: GongApi, gong_connection_env: str, emulator: EmulatorProcess, tmp_path: Path
) -> None:
    assert gong_api.upload_and_wait("ACCOUNT", "verify-task", ldjson(RECORD))["status"] == "DONE"
    staged = tmp_path / "account-g0-p0.ldjson"
    staged.write_text(json.dumps({**RECORD, "name": "Acme Corp"}) + "\n", encoding="utf-8")
    deletes = tmp_path / "account_deletes-g0-p0.ldjson"
    deletes.write_text(json.dumps({"objectId": "acc-9", "modifiedDate": RECORD["modifiedDate"]}) + "\n")
    uploads = [
        {"file": str(staged), "client_request_id": "r1"},
        {"file": str(deletes), "client_request_id": "r2"},
    ]
    finished = [{"client_request_id": "r1", "status": "DONE"}, {"client_request_id": "r2", "status": "DONE"}]
    common = {
        "integration_id": emulator.integration_id,
        "plan": {"delete_files": [str(deletes)]},
        "uploads": uploads,
        "finished": finished,
        "conn_id": gong_connection_env,
    }
    assert verify_entity("ACCOUNT", sample=0, **common) is None
    assert verify_entity("STAGE", sample=5, **common) is None
    result = verify_entity("ACCOUNT", sample=5, **common)
    assert result is not None
    assert (result["checked"], result["verify_matched"], result["verify_mismatched"]) == (1, 0, 1)
    assert result["mismatched"] == [{"object_id": "acc-1", "fields": ["name"]}]

    report = build_report(lambda task_id, key: result if task_id == "account.verify" else None, {})
    assert (report["ACCOUNT"]["verify_mismatched"], report["ACCOUNT"]["verify_missing"]) == (1, 0)
    assert report["ACCOUNT"]["verify_examples"]["mismatched"][0]["object_id"] == "acc-1"
