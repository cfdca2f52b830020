"""GongRequestStatusSensor in reschedule mode, in a real DAG run (``dag.test()``) against the emulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from gong_provider.emulator.client import EmulatorClient
from gong_provider.emulator.process import EmulatorProcess
from gong_provider.hooks.gong import GongCrmHook
from tests.support.airflow_db import run_state
from tests.support.gong_tasks import connect, contact, write_ldjson

pytestmark = [pytest.mark.floor, pytest.mark.timeout(120)]
STATUS_PATH = "/v2/crm/request-status"


@pytest.mark.parametrize(("records", "expected"), [(1, "success"), (0, "failed")])
def test_reschedule_mode_waits_across_pokes(
    airflow_db: Path,
    emulator: EmulatorProcess,
    emulator_client: EmulatorClient,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    records: int,
    expected: str,
) -> None:
    connect(emulator, monkeypatch)
    rows = [contact("r-1")] if records else [contact("r-1", modifiedDate="bad")]
    request_id = f"reschedule-{expected}"
    with GongCrmHook() as hook:
        hook.upload_entities(
            emulator.integration_id, "CONTACT", request_id, write_ldjson(tmp_path / "c.ldjson", rows)
        )
    emulator_client.inject_fault("status", status=500, count=2, path=STATUS_PATH)  # two pokes see a 500
    from tests.airflow_dags.gong_wait_reschedule import dag

    run = dag.test(run_conf={"integration_id": str(emulator.integration_id), "client_request_id": request_id})
    _, tis, xcoms = run_state(dag.dag_id, run.run_id)
    assert tis[("wait", -1)] == expected
    checks = [c for c in emulator_client.requests_log() if c["path"] == STATUS_PATH]
    assert [c["status"] for c in checks] == [500, 500, 200]  # rescheduled twice, then the answer
    if expected == "success":
        assert xcoms[("wait", -1)]["status"] == "DONE"
