"""gong_crm_sync end to end in a real Airflow, driven through Airflow's REST API like a user.

Airflow's own processes (api-server, scheduler with the LocalExecutor, dag-processor, triggerer) run on
127.0.0.1 with SQLite in a temporary AIRFLOW_HOME, next to a Gong CRM API emulator with a small processing
delay (so every wait is deferred to the triggerer): the stack the browser test uses too
(tests/support/local_stack.py), started once, Gong and the change-capture state reset for this module. The
DAG is triggered through ``POST /api/v2/dags/gong_crm_sync/dagRuns`` with a conf shaped like the trigger
form's, and checked through the REST API and the emulator's inspection endpoints. Each process runs in its
own process group; teardown terminates the groups (then kills them) and checks that none is left.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.airflow_stack import AirflowProcesses, Api
from tests.support.faults import poll
from tests.support.local_stack import SharedLocalAirflow

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "dags" / "data"
DAG_ID = "gong_crm_sync"
ENTITY_FILES = {
    "BUSINESS_USER": "business_users.csv",
    "STAGE": "stages.jsonl",
    "ACCOUNT": "accounts.csv",
    "CONTACT": "contacts.csv",
    "DEAL": "deals.jsonl",
    "LEAD": "leads.jsonl",
}
RUN_TIMEOUT = 240.0


def expected_record_counts(object_type: str) -> dict[str, int]:
    """How many times each objectId appears in the sample export (a deal updated twice: 2)."""
    path = DATA / ENTITY_FILES[object_type]
    with path.open(encoding="utf-8") as handle:
        if path.suffix == ".csv":
            ids = [row["objectId"] for row in csv.DictReader(handle)]
        else:
            ids = [json.loads(line)["objectId"] for line in handle if line.strip()]
    return dict(Counter(ids))


def trigger_form_conf(emulator: Any) -> dict[str, Any]:
    """What the trigger form sends for the sample export: every Param, the integration id as a string."""
    return {
        "integration_id": str(emulator.integration_id),
        "source": str(DATA),
        "entity_types": list(ENTITY_FILES),
        "sql_conn_id": None,
        "sql_queries": {},
        "dry_run": False,
        "max_reject_ratio": 0.0,
        "sync_mode": "upsert",
        "reset_state": False,
        "max_delete_ratio": 0.05,
        "confirm_deletes": None,
    }


@dataclass
class Stack:
    airflow: AirflowProcesses
    api: Api
    emulator: Any
    conf: dict[str, Any]

    def trigger_and_wait(self) -> dict[str, Any]:
        run = self.api.send("POST", f"/dags/{DAG_ID}/dagRuns", {"logical_date": None, "conf": self.conf})
        run_id = run["dag_run_id"]

        def finished() -> dict[str, Any] | None:
            self.airflow.check_alive()
            state = self.api.get(f"/dags/{DAG_ID}/dagRuns/{run_id}")
            return state if state["state"] in ("success", "failed") else None

        final = poll(finished, timeout=RUN_TIMEOUT, interval=1.0, what=f"run {run_id} to finish")
        if final["state"] != "success":
            instances = self.api.get(f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", limit=200)
            states = {
                f"{ti['task_id']}[{ti['map_index']}]": ti["state"] for ti in instances["task_instances"]
            }
            pytest.fail(f"run {run_id} ended {final['state']}: {states}")
        return final

    def report(self, run_id: str) -> dict[str, Any]:
        entry = self.api.get(f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/report/xcomEntries/report")
        value = entry["value"]
        return json.loads(value) if isinstance(value, str) else value

    def task_instances(self, run_id: str) -> list[dict[str, Any]]:
        return self.api.get(f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", limit=500)["task_instances"]

    def retried_tasks(self, run_id: str) -> dict[str, int]:
        """Task instances that needed more than one try, with their try_number."""
        return {
            f"{ti['task_id']}[{ti['map_index']}]": ti["try_number"]
            for ti in self.task_instances(run_id)
            if ti["try_number"] > 1
        }


@pytest.fixture(scope="module")
def stack(local_airflow: SharedLocalAirflow) -> Stack:
    """The shared LocalExecutor stack (tests/support/local_stack.py), Gong and the state as new."""
    local = local_airflow.get()
    # Processing is short, so a trigger sees DONE within seconds of its deferral: inside the window in
    # which the executor's late report of the deferring try meets the resumed try and the scheduler
    # marks it up_for_retry (apache/airflow#71580). The provider's triggers hold their event past that
    # window: test_no_task_needed_a_retry. (A sensor whose first poke comes after Gong has finished
    # never defers; the later generation's upload always does.)
    local.fresh(processing_delay=3.0)
    return Stack(
        airflow=local.airflow, api=local.api, emulator=local.emulator, conf=trigger_form_conf(local.emulator)
    )


@pytest.fixture(scope="module")
def first_run(stack: Stack) -> dict[str, Any]:
    return stack.trigger_and_wait()


def test_every_sample_record_is_stored_exactly_once(stack: Stack, first_run: dict[str, Any]) -> None:
    assert first_run["state"] == "success"
    for object_type in ENTITY_FILES:
        expected = expected_record_counts(object_type)
        assert stack.emulator.client.record_counts(object_type) == expected, object_type
        assert set(stack.emulator.client.entities(object_type)) == set(expected), object_type
    assert all(count == 1 for count in stack.emulator.client.upload_counts().values())


def test_report_counts_every_type(stack: Stack, first_run: dict[str, Any]) -> None:
    report = stack.report(first_run["dag_run_id"])
    for object_type in ENTITY_FILES:
        expected = sum(expected_record_counts(object_type).values())
        row = report[object_type]
        assert row["outcome"] == "uploaded", row
        assert row["records_read"] == row["records_staged"] == row["records_uploaded"] == expected, row
        assert row["records_rejected"] == 0
        assert row["gong_success"] == expected, row
        assert row["gong_errors"] == 0, row


def test_waits_were_deferred_to_the_triggerer(stack: Stack, first_run: dict[str, Any]) -> None:
    instances = stack.task_instances(first_run["dag_run_id"])
    waits = [ti for ti in instances if ti["task_id"].endswith(".wait")]
    assert len(waits) >= len(ENTITY_FILES)
    assert all(ti["state"] == "success" for ti in waits)
    # The later generation's upload always defers at once (Gong is still processing it): its log says
    # so, and its trigger, in the triggerer, held back the DONE it saw seconds later (#71580).
    later = next(ti for ti in instances if ti["task_id"] == "deal.later_generations")
    log = json.dumps(
        stack.api.get(
            f"/dags/{DAG_ID}/dagRuns/{first_run['dag_run_id']}/taskInstances/deal.later_generations/logs/"
            f"{later['try_number']}",
            full_content="true",
        )
    )
    assert "Deferring the wait for Gong request" in log, log[-3000:]
    assert "Pausing task as DEFERRED" in log, log[-3000:]
    # The triggerer writes its part of the task's log beside it: the trigger ran there and fired DONE.
    folder = (
        stack.airflow.home
        / "logs"
        / f"dag_id={DAG_ID}"
        / f"run_id={first_run['dag_run_id']}"
        / "task_id=deal.later_generations"
    )
    trigger_logs = sorted(folder.glob("attempt=*.log.trigger.*.log"))
    assert trigger_logs, sorted(p.name for p in folder.iterdir())
    trigger_log = "".join(p.read_text(errors="replace") for p in trigger_logs)
    assert "Trigger fired event" in trigger_log, trigger_log[-3000:]
    assert "'status': 'DONE'" in trigger_log, trigger_log[-3000:]
    assert "holding the event" in trigger_log, trigger_log[-3000:]


def test_no_task_needed_a_retry(stack: Stack, first_run: dict[str, Any]) -> None:
    """Triggers saw DONE seconds after their deferral, yet no resumed task was taken for a crash."""
    assert stack.retried_tasks(first_run["dag_run_id"]) == {}


def test_asset_events_name_each_uploaded_type(stack: Stack, first_run: dict[str, Any]) -> None:
    events = stack.api.get("/assets/events", limit=100, source_dag_id=DAG_ID)["asset_events"]
    uris = {event["uri"] for event in events if event.get("source_run_id") == first_run["dag_run_id"]}
    integration_id = stack.conf["integration_id"]
    assert uris == {f"gong://crm/{integration_id}/{object_type}" for object_type in ENTITY_FILES}


def test_second_run_of_the_same_data_uploads_nothing(stack: Stack, first_run: dict[str, Any]) -> None:
    before = {object_type: stack.emulator.client.record_counts(object_type) for object_type in ENTITY_FILES}
    uploads_before = stack.emulator.client.upload_counts()
    posts_before = [c for c in stack.emulator.client.requests_log() if c["path"] == "/v2/crm/entities"]
    second = stack.trigger_and_wait()
    assert second["dag_run_id"] != first_run["dag_run_id"]
    assert stack.retried_tasks(second["dag_run_id"]) == {}
    for object_type in ENTITY_FILES:
        assert stack.emulator.client.record_counts(object_type) == before[object_type], object_type
    # Change capture: Gong confirmed every record in the first run, so the second sends no file at all.
    assert stack.emulator.client.upload_counts() == uploads_before
    posts = [c for c in stack.emulator.client.requests_log() if c["path"] == "/v2/crm/entities"]
    assert posts == posts_before
    report = stack.report(second["dag_run_id"])
    first_report = stack.report(first_run["dag_run_id"])
    for object_type in ENTITY_FILES:
        row = report[object_type]
        assert row["outcome"] == "unchanged", row
        assert row["records_uploaded"] == row["new"] == row["changed"] == row["pending_retried"] == 0, row
        assert row["unchanged"] == len(expected_record_counts(object_type)), row
        assert row["state_generation"] == first_report[object_type]["state_generation"] + 1, row
