"""Change capture in gong_crm_sync: the whole DAG (``airflow dags test``, as ``make demo`` runs it)
against the emulator, run after run on one change-capture state, CONTACT only and a few records.

- files: a second run sends only what changed; mirror deletes; the delete guards (a truncated
  export withholds the deletes and fails the type after its upserts commit; an empty export sends
  nothing); 500 and 429 on the upload and 429 on request-status during a run;
- a FAILED file with line errors: only those records stay pending and go again next run; a corrupt
  state file fails clearly and sends nothing, and ``reset_state`` recovers;
- a worker killed after its upload and before its commit: its run, cleared (the same run id, as a
  user's "Clear" or the task's own retry), takes its lease over and sends the in-flight keys again
  (another run is refused while the dead run's lease lasts: tests/dags/test_sync_state_dag.py);
- the SQL source (a real PostgreSQL through an Airflow connection): an unchanged rerun uploads nothing.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from gong_provider.emulator.client import EmulatorClient
from gong_provider.emulator.process import EmulatorProcess
from tests.support.faults import ENTITIES, REQUEST_STATUS, gong, kill_when, pycache
from tests.support.sync_dag import (
    SyncDag,
    new_sync_home,
    sync_template,
)

__all__ = ["gong", "pycache", "sync_template"]  # fixtures used here

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def contact(object_id: str, version: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "objectId": object_id,
        "modifiedDate": f"2026-01-0{version + 1}T00:00:00Z",
        "emailAddress": f"{object_id}@example.com",
        "firstName": f"{object_id}-v{version}",
        **extra,
    }


class Sync(SyncDag):
    """Runs of gong_crm_sync for CONTACT on one Airflow home (so one state) and one export folder."""

    @property
    def source(self) -> Path:
        return Path(self.defaults["source"])

    def export(self, records: list[dict[str, Any]]) -> None:
        text = "".join(json.dumps(record) + "\n" for record in records)
        (self.source / "contacts.jsonl").write_text(text, encoding="utf-8")

    def runs(self) -> list[dict[str, Any]]:
        """Each run in order: its state, its report row for CONTACT and its task states."""
        data = self.inspect()
        result = []
        for run in sorted(data["runs"], key=lambda r: r["run_id"]):
            report = next(
                (
                    x["value"]
                    for x in data["xcoms"]
                    if x["run_id"] == run["run_id"] and x["task_id"] == "report" and x["key"] == "report"
                ),
                None,  # a killed run never reported
            )
            result.append({"state": run["state"], "row": report and report["CONTACT"]})
        return result

    def state_folder(self) -> Path:
        return self.home / "gong_staging" / "state" / str(self.emulator.integration_id) / "CONTACT"


def entity_posts(client: EmulatorClient) -> list[dict[str, Any]]:
    return [c for c in client.requests_log() if c["path"] == ENTITIES and c["method"] == "POST"]


def changes(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("new", "changed", "unchanged", "pending_retried", "deleted", "deletes_withheld")
    return {key: row[key] for key in keys}


@pytest.fixture
def sync(
    gong: EmulatorClient, emulator: EmulatorProcess, sync_template: Path, pycache: Path, tmp_path: Path
) -> Sync:
    source = tmp_path / "export"
    source.mkdir()
    home = new_sync_home(sync_template, tmp_path / "airflow_home")
    return Sync(home, pycache, emulator, defaults={"source": str(source), "entity_types": ["CONTACT"]})


def test_second_run_sends_only_changes_mirror_deletes_and_the_delete_guards(
    sync: Sync, gong: EmulatorClient
) -> None:
    ids = [f"c{n}" for n in range(6)]
    sync.export([contact(i) for i in ids])
    for status in (500, 429):
        gong.inject_fault("status", status=status, retry_after=1, path=ENTITIES, method="POST")
    gong.inject_fault("status", status=429, retry_after=1, count=2, path=REQUEST_STATUS, method="GET")
    exact_id = sync.emulator.integration_id  # 19 digits: a float would round it to ...936
    assert int(float(exact_id)) != exact_id
    first = sync.run(integration_id=exact_id)  # a JSON integer in conf, as the REST API may send it
    assert first.returncode == 0, (first.stdout + first.stderr)[-5000:]
    assert gong.faults() == []  # every fault was met, and the run went on
    assert gong.record_counts("CONTACT") == dict.fromkeys(ids, 1)
    # through every task (stage, upload, wait, commit, summarize) the id reached the HTTP layer exact:
    # Gong (the emulator) recorded each upload under it, and refused no call for an unknown integration
    assert {row["integrationId"] for row in gong.requests()} == {exact_id}
    assert [c for c in gong.requests_log() if c["status"] == 400] == []
    assert gong.record_counts("CONTACT", integration_id=exact_id) == dict.fromkeys(ids, 1)
    assert sync.state_folder().is_dir()  # the commit's state sits under the id's exact digits

    # c0 and c1 change, c5 is gone, c6 is new: mirror sends exactly those (the delete under 20%)
    sync.export([contact("c0", 1), contact("c1", 1), *(contact(i) for i in ids[2:5]), contact("c6")])
    posts_before = len(entity_posts(gong))
    second = sync.run(sync_mode="mirror", max_delete_ratio=0.2)
    assert second.returncode == 0, (second.stdout + second.stderr)[-5000:]
    assert len(entity_posts(gong)) == posts_before + 2  # one file of upserts, one of deletes
    assert gong.record_counts("CONTACT") == {**dict.fromkeys(ids, 1), "c0": 2, "c1": 2, "c5": 2, "c6": 1}
    assert set(gong.entities("CONTACT")) == {"c0", "c1", "c2", "c3", "c4", "c6"}
    assert gong.entities("CONTACT")["c0"]["firstName"] == "c0-v1"

    # a truncated export: 4 of 6 confirmed records would go; the deletes are withheld, the type fails
    sync.export([contact("c0", 1), contact("c1", 2)])
    sync.run(sync_mode="mirror", delete_approval_hours=0)  # unattended: no approval asked
    assert set(gong.entities("CONTACT")) == {"c0", "c1", "c2", "c3", "c4", "c6"}
    assert gong.entities("CONTACT")["c1"]["firstName"] == "c1-v2"  # the upsert still went
    assert gong.record_counts("CONTACT")["c2"] == 1

    # an empty export in mirror mode: nothing sent, the type fails
    sync.export([])
    posts_before = len(entity_posts(gong))
    sync.run(sync_mode="mirror")
    assert len(entity_posts(gong)) == posts_before
    assert set(gong.entities("CONTACT")) == {"c0", "c1", "c2", "c3", "c4", "c6"}

    runs = sync.runs()
    assert [run["state"] for run in runs] == ["success", "success", "failed", "failed"]
    rows = [run["row"] for run in runs]
    assert changes(rows[0]) == {**dict.fromkeys(changes(rows[0]), 0), "new": 6}
    assert (rows[0]["outcome"], rows[0]["records_uploaded"], rows[0]["state_generation"]) == (
        "uploaded",
        6,
        1,
    )
    assert changes(rows[1]) == {
        "new": 1,
        "changed": 2,
        "unchanged": 3,
        "pending_retried": 0,
        "deleted": 1,
        "deletes_withheld": 0,
    }
    assert (rows[1]["records_uploaded"], rows[1]["state_generation"]) == (4, 2)
    assert changes(rows[2])["deletes_withheld"] == 4
    assert changes(rows[2])["deleted"] == 0
    assert (rows[2]["outcome"], rows[2]["state_generation"]) == ("failed", 3)  # the upsert committed
    assert (rows[3]["outcome"], rows[3]["records_uploaded"], rows[3]["state_generation"]) == (
        "failed",
        0,
        None,
    )


CRM_CONN = "crm"
QUERY = (
    'SELECT "objectId", "modifiedDate", "emailAddress", "firstName", score FROM contacts ORDER BY "objectId"'
)


def sql(database: Any, statement: str, *args: Any) -> None:
    conn = database.connect()
    try:
        with conn, conn.cursor() as cursor:
            cursor.execute(statement, args)
    finally:
        conn.close()


def test_sql_source_failed_lines_corrupt_state_reset_and_a_worker_killed_before_its_commit(
    sync: Sync, gong: EmulatorClient, emulator: EmulatorProcess, postgres_server: Any, tmp_path: Path
) -> None:
    from gong_provider.hooks.gong import GongCrmHook
    from gong_provider.models import CustomField

    database = postgres_server.create_database("crm_changes")
    sql(
        database,
        'CREATE TABLE contacts ("objectId" text, "modifiedDate" text, "emailAddress" text, '
        '"firstName" text, score text)',
    )
    for n in range(4):
        sql(
            database,
            "INSERT INTO contacts VALUES (%s, '2026-01-01T00:00:00Z', %s, 'v0', %s)",
            f"c{n}",
            f"c{n}@example.com",
            "150" if n in (1, 2) else None,
        )
    # Gong's schema says PERCENT: staging (which reads the schema) checks a number, Gong also its
    # 0-100 range, so c1 and c2 pass staging and Gong refuses them
    with GongCrmHook("gong_default") as hook:
        hook.set_entity_schema(emulator.integration_id, "CONTACT", [CustomField("score", "Score", "PERCENT")])
    env = {f"AIRFLOW_CONN_{CRM_CONN.upper()}": database.airflow_conn_uri}
    source = {"sql_conn_id": CRM_CONN, "sql_queries": {"CONTACT": QUERY}}

    sync.run(env=env, **source)  # the file is FAILED with c1 and c2 listed: the type fails
    assert set(gong.entities("CONTACT")) == {"c0", "c3"}

    sql(database, "UPDATE contacts SET score = NULL")
    fixed = sync.run(env=env, **source)
    assert fixed.returncode == 0, (fixed.stdout + fixed.stderr)[-5000:]
    assert set(gong.entities("CONTACT")) == {"c0", "c1", "c2", "c3"}
    assert gong.record_counts("CONTACT") == dict.fromkeys(["c0", "c1", "c2", "c3"], 1)

    # a corrupt state file: a clear error, nothing sent; reset_state sends everything again
    head = sync.state_folder() / "HEAD.json"
    head.write_text(head.read_text()[:40])
    posts_before = len(entity_posts(gong))
    corrupt = sync.run(env=env, **source)
    assert "cannot be used" in corrupt.stdout + corrupt.stderr
    assert "rerun with reset_state=True" in corrupt.stdout + corrupt.stderr
    assert len(entity_posts(gong)) == posts_before
    reset = sync.run(env=env, **source, reset_state=True)
    assert reset.returncode == 0, (reset.stdout + reset.stderr)[-5000:]
    assert gong.record_counts("CONTACT") == dict.fromkeys(["c0", "c1", "c2", "c3"], 2)

    # the worker dies after Gong processed its upload (c0 changed), before the commit
    sql(database, "UPDATE contacts SET \"firstName\" = 'v1' WHERE \"objectId\" = 'c0'")
    gong.inject_fault("delay", seconds=120, count=100, path=REQUEST_STATUS, method="GET")
    uploads_before = len(gong.upload_counts())
    killed_run = datetime.now(timezone.utc).isoformat()  # its run id sorts after the earlier runs'
    worker = sync.start(tmp_path / "killed.log", killed_run, env=env, **source)
    kill_when(
        worker,
        lambda: (
            len(gong.upload_counts()) > uploads_before
            and all(r["status"] in ("DONE", "FAILED") for r in gong.requests())
        ),
        what="the killed run's upload to be processed",
    )
    gong.clear_faults()
    assert gong.entities("CONTACT")["c0"]["firstName"] == "v1"
    assert list(sync.state_folder().glob("plan-*.json"))  # the in-flight marker is left behind
    # the dead run holds the state's lease (another run is refused until it expires); the run is
    # cleared: it takes its own lease over and sends c0 again (Gong has it, the state never learnt it),
    # and only c0
    resumed = sync.run(killed_run, env=env, **source)
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-5000:]
    assert f"RUN manual__{killed_run} " in resumed.stdout  # the same run, cleared
    # c0: fixed, reset, the killed attempt, and the cleared run's resend: its plan is new, so is the
    # clientRequestId of its byte-identical file (the plan's token is part of it); Gong upserts again
    assert gong.record_counts("CONTACT") == {"c0": 4, "c1": 2, "c2": 2, "c3": 2}
    assert gong.entities("CONTACT")["c0"]["firstName"] == "v1"

    runs = sync.runs()
    assert [run["state"] for run in runs] == ["failed", "success", "failed", "success", "success"]
    rows = [run["row"] for run in runs]
    assert rows[0]["outcome"] == "failed"
    assert rows[0]["state_generation"] == 1  # c0 and c3 committed, c1 and c2 pending
    assert changes(rows[1]) == {**dict.fromkeys(changes(rows[1]), 0), "pending_retried": 2, "unchanged": 2}
    assert rows[1]["records_uploaded"] == 2
    assert rows[2]["outcome"] == "failed"
    assert rows[2]["state_generation"] is None
    assert changes(rows[3])["new"] == 4
    assert changes(rows[4]) == {**dict.fromkeys(changes(rows[4]), 0), "pending_retried": 1, "unchanged": 3}
    assert rows[4]["records_uploaded"] == 1
