"""Failure semantics of gong_crm_sync, through the whole DAG (``airflow dags test``) against the emulator.

One run holds every failure at once, so the run count stays small:

- a line Gong refuses in ACCOUNT (a PERCENT of 150 in the emulator's schema) does not keep the next wave
  (CONTACT) from Gong: waves wait for the earlier wave's commits, not for their success;
- a bad CONTACT row does not hold its type: the valid rows go, the reject is reported with its file;
- two DEAL files fail DEAL's own stage, at once (no retry), and nothing else;
- the run fails at its end naming ACCOUNT (its refused line), CONTACT (rejects) and DEAL; the report
  shows the real counts of each, and the types not selected as "not selected".

The second run, once the data is fixed, sends what was refused or rejected (and nothing of the types
that were fine), and succeeds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gong_provider.emulator.client import EmulatorClient
from gong_provider.emulator.process import EmulatorProcess
from tests.support.faults import gong, pycache
from tests.support.sync_dag import inspect_sync_db, new_sync_home, run_sync_dag, sync_template

__all__ = ["gong", "pycache", "sync_template"]  # fixtures used here

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SELECTED = ["STAGE", "ACCOUNT", "CONTACT", "DEAL"]


def jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")


def account(object_id: str, score: Any = 1) -> dict[str, Any]:
    return {
        "objectId": object_id,
        "name": object_id.upper(),
        "modifiedDate": "2026-01-01T00:00:00Z",
        "score": score,
    }


def contact(object_id: str, email: str | None = None) -> dict[str, Any]:
    return {
        "objectId": object_id,
        "accountId": "a0",
        "emailAddress": email or f"{object_id}@example.com",
        "modifiedDate": "2026-01-01T00:00:00Z",
    }


def deal(object_id: str) -> dict[str, Any]:
    return {
        "objectId": object_id,
        "name": object_id,
        "accountId": "a0",
        "modifiedDate": "2026-01-01T00:00:00Z",
    }


def test_a_refused_account_a_bad_contact_row_and_two_deal_files_fail_only_their_type(
    gong: EmulatorClient, emulator: EmulatorProcess, sync_template: Path, pycache: Path, tmp_path: Path
) -> None:
    from gong_provider.hooks.gong import GongCrmHook
    from gong_provider.models import CustomField

    with GongCrmHook("gong_default") as hook:  # Gong refuses a percent over 100; staging checks its type only
        hook.set_entity_schema(emulator.integration_id, "ACCOUNT", [CustomField("score", "Score", "PERCENT")])
    home = new_sync_home(sync_template, tmp_path / "airflow_home")
    export = tmp_path / "export"
    export.mkdir()
    jsonl(export / "stages.jsonl", [{"objectId": "s1", "name": "S1", "isActive": True, "sortOrder": 1}])
    jsonl(export / "accounts.jsonl", [account("a0"), account("a1", score=150), account("a2")])
    jsonl(export / "contacts.jsonl", [contact("c0"), contact("c1", email="not an email"), contact("c2")])
    jsonl(export / "deals.jsonl", [deal("d0")])
    jsonl(export / "deals-old.jsonl", [deal("d0")])
    jsonl(export / "leads.jsonl", [{"objectId": "l0", "emailAddress": "l0@example.com"}])
    conf = {"source": str(export), "entity_types": SELECTED}

    first = run_sync_dag(home, pycache, emulator, conf)
    output = first.stdout + first.stderr
    assert first.returncode != 0, output[-5000:]
    assert set(gong.entities("ACCOUNT")) == {"a0", "a2"}
    assert set(gong.entities("CONTACT")) == {"c0", "c2"}  # the next wave went, the bad row stayed out
    assert set(gong.entities("STAGE")) == {"s1"}
    assert gong.entities("DEAL") == {}
    assert gong.entities("LEAD") == {}
    assert "Gong CRM sync failed for ACCOUNT, CONTACT, DEAL" in output

    data = inspect_sync_db(home, pycache)
    report = next(x["value"] for x in data["xcoms"] if x["task_id"] == "report" and x["key"] == "report")
    tis = {(ti["task_id"], ti["map_index"]): ti for ti in data["tis"]}
    assert tis[("contact.stage", -1)]["state"] == "success"
    assert tis[("account.wait", 0)]["state"] == "failed"
    assert (tis[("deal.stage", -1)]["state"], tis[("deal.stage", -1)]["try_number"]) == ("failed", 1)
    assert tis[("stage.stage", -1)]["state"] == "success"  # DEAL's two files are DEAL's error only
    assert tis[("cleanup", -1)]["state"] == "success"

    accounts = report["ACCOUNT"]
    assert accounts["outcome"] == "failed"
    assert (accounts["records_uploaded"], accounts["gong_success"], accounts["gong_errors"]) == (3, 2, 1)
    assert accounts["refused"]
    assert "line 2" in accounts["refused"][0]
    assert accounts["state_generation"] == 1  # a0 and a2 committed, a1 pending
    contacts = report["CONTACT"]
    assert contacts["outcome"] == "too many rejects"
    assert (contacts["records_read"], contacts["records_staged"], contacts["records_rejected"]) == (3, 2, 1)
    assert (contacts["records_uploaded"], contacts["gong_success"]) == (2, 2)
    rejects = Path(contacts["rejects"]).read_text()
    assert '"c1"' in rejects
    assert "emailAddress" in rejects
    assert contacts["rejects"] in output
    assert report["DEAL"]["outcome"] == "failed"
    for unselected in ("BUSINESS_USER", "LEAD"):
        assert report[unselected]["outcome"] == "not selected"

    # fixed: only the refused account, the rejected contact and the deal go; the run succeeds
    jsonl(export / "accounts.jsonl", [account("a0"), account("a1", score=50), account("a2")])
    jsonl(export / "contacts.jsonl", [contact("c0"), contact("c1"), contact("c2")])
    (export / "deals-old.jsonl").unlink()
    second = run_sync_dag(home, pycache, emulator, conf)
    assert second.returncode == 0, (second.stdout + second.stderr)[-5000:]
    assert gong.record_counts("ACCOUNT") == {"a0": 1, "a1": 1, "a2": 1}
    assert gong.record_counts("CONTACT") == {"c0": 1, "c1": 1, "c2": 1}  # c0 and c2 are not sent again
    assert gong.record_counts("STAGE") == {"s1": 1}
    assert set(gong.entities("DEAL")) == {"d0"}
