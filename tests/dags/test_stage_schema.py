"""The sync's stage task checks custom fields against the schema registered in Gong (issue 22 item 3)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

MODIFIED = "2026-03-01T10:11:12Z"
TIER = {"uniqueName": "tier", "label": "Tier", "type": "PICKLIST", "orderedValueList": ["Gold", "Silver"]}


def _deals(folder: Path, *records: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "deals.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder


def _stage(params: dict[str, Any], run_id: str) -> dict[str, Any]:
    from gong_provider.dags.stage import stage_entity

    return stage_entity("DEAL", params, dag_id="d", run_id=run_id, render=None, gong_conn_id="gong_default")


def test_a_picklist_value_outside_the_registered_values_is_rejected_before_upload(
    gong_connection_env: str,
    emulator_client: Any,
    emulator: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from gong_provider.hooks.gong import GongCrmHook

    integration_id = emulator.integration_id
    GongCrmHook(gong_connection_env).set_entity_schema(integration_id, "DEAL", [TIER])
    monkeypatch.setenv("GONG_STAGING_BASE", str(tmp_path / "staging"))
    source = _deals(
        tmp_path / "crm",
        {"objectId": "d-1", "modifiedDate": MODIFIED, "tier": "Gold"},
        {"objectId": "d-2", "modifiedDate": MODIFIED, "tier": "Bronze"},
        {"objectId": "d-3", "modifiedDate": MODIFIED, "tierr": "Gold"},
    )
    params = {"integration_id": integration_id, "source": str(source), "max_reject_ratio": 1.0}
    result = _stage(params, "r1")
    summary = result["summary"]
    assert (summary["records_staged"], summary["records_rejected"]) == (1, 2)
    rejects = [json.loads(line) for line in Path(summary["rejects"]).read_text().splitlines()]
    reasons = {r["objectId"]: r["reasons"][0] for r in rejects}
    assert reasons["d-2"]["field"] == "tier"
    assert "did you mean tier?" in reasons["d-3"]["message"]

    # a retry of the same run (another run would wait for r1's lease on the state)
    warned = _stage({**params, "unknown_fields": "warn"}, "r1")["summary"]
    assert warned["records_rejected"] == 1  # the picklist value still; the unknown key only warned


def test_without_a_registered_schema_custom_keys_pass_with_a_warning(
    gong_connection_env: str,
    emulator_client: Any,
    emulator: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("GONG_STAGING_BASE", str(tmp_path / "staging"))
    source = _deals(tmp_path / "crm", {"objectId": "d-1", "modifiedDate": MODIFIED, "tier": "Bronze"})
    params = {"integration_id": emulator.integration_id, "source": str(source)}
    with caplog.at_level(logging.WARNING, logger="gong_provider.dags.schema"):
        summary = _stage(params, "r1")["summary"]
    assert summary["records_rejected"] == 0
    assert any("no custom field registered in Gong" in r.getMessage() for r in caplog.records)
