"""gong_crm_sync's change-capture state through the whole DAG (``airflow dags test``) against the emulator:
on a real S3 endpoint (moto's server, through the amazon provider's ObjectStoragePath), after a run
cleared and re-staged once its upload reached Gong, and with two runs on one state at once.

Each test asserts what a user must be able to rely on: after the runs complete, Gong holds what the
export holds, and an unchanged export sends nothing more.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gong_provider.emulator.client import EmulatorClient
from gong_provider.emulator.process import EmulatorProcess
from tests.fixtures.s3 import S3Bucket
from tests.support.faults import ENTITIES, REQUEST_STATUS, gong, kill_when, poll, pycache, stop_group
from tests.support.sync_dag import (
    SyncDag,
    new_sync_home,
    sync_template,
)

__all__ = ["gong", "pycache", "sync_template"]  # fixtures used here

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def contact(object_id: str, version: int = 0) -> dict[str, Any]:
    return {
        "objectId": object_id,
        "modifiedDate": f"2026-01-0{version + 1}T00:00:00Z",
        "emailAddress": f"{object_id}@example.com",
        "firstName": f"{object_id}-v{version}",
    }


def export_text(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(record) + "\n" for record in records)


def first_names(client: EmulatorClient) -> dict[str, str]:
    return {key: record.get("firstName", "") for key, record in client.entities("CONTACT").items()}


def entity_posts(client: EmulatorClient) -> int:
    return len([c for c in client.requests_log() if c["path"] == ENTITIES and c["method"] == "POST"])


def succeeded(result: subprocess.CompletedProcess[str]) -> None:
    output = result.stdout + result.stderr
    errors = [line for line in output.splitlines() if "Error" in line or "Exception" in line]
    assert result.returncode == 0, "\n".join([*errors[:30], output[-3000:]])


def test_on_s3_a_second_run_sends_only_the_changes(
    gong: EmulatorClient,
    emulator: EmulatorProcess,
    sync_template: Path,
    pycache: Path,
    s3: S3Bucket,
    tmp_path: Path,
) -> None:
    """GONG_STAGING_BASE and the export on S3 (the state at its default, <staging base>/state)."""
    from airflow.sdk import ObjectStoragePath

    source = s3.url("crm-export")
    contacts = ObjectStoragePath(s3.url("crm-export", "contacts.jsonl"))
    contacts.write_text(export_text([contact(f"c{n}") for n in range(4)]))
    airflow = SyncDag(
        new_sync_home(sync_template, tmp_path / "home"),
        pycache,
        emulator,
        defaults={"source": source, "entity_types": ["CONTACT"]},
        env={"GONG_STAGING_BASE": s3.url("gong"), **s3.server.env()},
    )
    succeeded(airflow.run())
    assert gong.record_counts("CONTACT") == dict.fromkeys(["c0", "c1", "c2", "c3"], 1)
    assert ObjectStoragePath(
        s3.url("gong", "state", str(emulator.integration_id), "CONTACT", "HEAD.json")
    ).exists()

    contacts.write_text(export_text([contact("c0", 1), *(contact(f"c{n}") for n in range(1, 4))]))
    succeeded(airflow.run())
    assert gong.record_counts("CONTACT") == {"c0": 2, "c1": 1, "c2": 1, "c3": 1}
    assert first_names(gong)["c0"] == "c0-v1"


def test_a_run_cleared_and_restaged_after_its_upload_heals(
    gong: EmulatorClient, emulator: EmulatorProcess, sync_template: Path, pycache: Path, tmp_path: Path
) -> None:
    """Issue 17 item 1 through the DAG: the run uploads c0 changed and c3's delete, dies before its
    commit, is cleared and re-staged (same run id) while the export is back to the old data: Gong
    must end up holding the export again, and the state must not claim otherwise."""
    source = tmp_path / "export"
    source.mkdir()
    contacts = source / "contacts.jsonl"
    old = [contact(f"c{n}") for n in range(4)]
    contacts.write_text(export_text(old))
    airflow = SyncDag(
        new_sync_home(sync_template, tmp_path / "home"),
        pycache,
        emulator,
        defaults={"source": str(source), "entity_types": ["CONTACT"]},
    )
    mirror = {"sync_mode": "mirror", "max_delete_ratio": 1}
    succeeded(airflow.run(**mirror))

    contacts.write_text(export_text([contact("c0", 1), contact("c1"), contact("c2")]))
    gong.inject_fault("delay", seconds=120, count=100, path=REQUEST_STATUS, method="GET")
    processed = len(gong.requests())
    worker = airflow.start(tmp_path / "killed.log", "2026-02-01T00:00:00+00:00", **mirror)
    kill_when(
        worker,
        lambda: (
            len(gong.requests()) >= processed + 2  # the upsert file and the delete file
            and all(r["status"] in ("DONE", "FAILED") for r in gong.requests())
        ),
        what="the run's two uploads to be processed",
    )
    gong.clear_faults()
    assert first_names(gong)["c0"] == "c0-v1"
    assert "c3" not in gong.entities("CONTACT")

    contacts.write_text(export_text(old))  # the export is back; the same run is cleared and re-staged
    rerun = airflow.run("2026-02-01T00:00:00+00:00", **mirror)
    succeeded(rerun)
    assert "RUN manual__2026-02-01T00:00:00+00:00 " in rerun.stdout  # the same run id, re-staged
    assert first_names(gong) == {f"c{n}": f"c{n}-v0" for n in range(4)}
    posts = entity_posts(gong)
    succeeded(airflow.run(**mirror))  # unchanged: nothing more to send
    assert entity_posts(gong) == posts


def test_two_runs_on_one_state_cannot_leave_gong_stale(
    gong: EmulatorClient, emulator: EmulatorProcess, sync_template: Path, pycache: Path, tmp_path: Path
) -> None:
    """Issue 17 item 5 through the DAG: two Airflows (say, a second deployment) on one state. Run A
    uploads v1 and is held between its upload and its commit (its process stopped); run B, on v2
    meanwhile, is refused at once (A holds the state's lease: overlap is excluded) and sends nothing.
    A then commits, and the next run brings Gong to v2, the export's content."""
    source = tmp_path / "export"
    source.mkdir()
    contacts = source / "contacts.jsonl"
    contacts.write_text(export_text([contact("c0", 1)]))
    state = str(tmp_path / "shared-state")

    def deployment(name: str) -> SyncDag:
        return SyncDag(
            new_sync_home(sync_template, tmp_path / name),
            pycache,
            emulator,
            defaults={"source": str(source), "entity_types": ["CONTACT"]},
            # no shared pause between them
            env={"GONG_STATE_BASE": state, "GONG_PROVIDER_BUDGET_DIR": str(tmp_path / name / "budget")},
        )

    first, second = deployment("a"), deployment("b")
    # A's first status check answers late: A cannot commit before it is stopped below
    gong.inject_fault("delay", seconds=30, count=1, path=REQUEST_STATUS, method="GET")
    posts = entity_posts(gong)
    run_a = first.start(tmp_path / "a.log")
    try:
        poll(lambda: entity_posts(gong) == posts + 1, what="run A's upload to reach Gong", timeout=300)
        os.killpg(run_a.pid, signal.SIGSTOP)  # A holds the lease, its plan in flight
        contacts.write_text(export_text([contact("c0", 2)]))
        refused = second.run()
        output = refused.stdout + refused.stderr
        assert refused.returncode != 0, output[-3000:]
        assert "two syncs of one integration and type must not run at once" in output
        assert entity_posts(gong) == posts + 1  # B sent nothing
        os.killpg(run_a.pid, signal.SIGCONT)
        assert run_a.wait(timeout=600) == 0, (tmp_path / "a.log").read_text()[-3000:]
    finally:
        stop_group(run_a)
    assert first_names(gong) == {"c0": "c0-v1"}  # what A staged and committed
    succeeded(second.run())  # the next run (either deployment) heals
    assert first_names(gong) == {"c0": "c0-v2"}
    assert entity_posts(gong) == posts + 2
    succeeded(first.run())  # unchanged: nothing more to send
    assert entity_posts(gong) == posts + 2
