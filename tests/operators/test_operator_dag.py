"""The mapped upload DAG (tests/airflow_dags/gong_upload_mapped.py) end to end with ``dag.test()`` on the
emulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from gong_provider.emulator.client import EmulatorClient
from gong_provider.emulator.process import EmulatorProcess
from tests.support.airflow_db import run_state
from tests.support.gong_tasks import connect, contact, write_ldjson

pytestmark = [pytest.mark.floor, pytest.mark.timeout(300)]  # Airflow 3.2: ~4 s a task


def test_expand_over_three_files_end_to_end(
    airflow_db: Path,
    emulator: EmulatorProcess,
    emulator_client: EmulatorClient,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    connect(emulator, monkeypatch)
    emulator_client.configure(processing_delay=0.3)  # so that the uploads really defer
    files = [
        str(write_ldjson(tmp_path / f"contacts-{n}.ldjson", [contact(f"m{n}-a"), contact(f"m{n}-b")]))
        for n in range(3)
    ]
    from tests.airflow_dags.gong_upload_mapped import dag

    run = dag.test(run_conf={"integration_id": str(emulator.integration_id), "files": files})
    state, tis, xcoms = run_state(dag.dag_id, run.run_id)
    assert state == "success", tis
    assert {key: value for key, value in tis.items() if key[0] in ("upload", "wait")} == {
        (task_id, n): "success" for task_id in ("upload", "wait") for n in range(3)
    }
    uploads = [xcoms[("upload", n)] for n in range(3)]
    assert [u["file"] for u in uploads] == files
    assert all(u["status"] == "DONE" for u in uploads)
    report = xcoms[("report", -1)]
    assert report["integration_ids"] == ["2271307570613351879"]  # 64-bit id exact through XCom (as text)
    assert report["stored"] == 6
    counts = emulator_client.upload_counts()
    assert sorted(counts) == sorted(report["uploads"])
    assert set(counts.values()) == {1}
    assert len(set(report["uploads"])) == 3
    assert emulator_client.record_counts("CONTACT") == {f"m{n}-{x}": 1 for n in range(3) for x in "ab"}
