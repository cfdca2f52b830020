"""The docs' change-capture example DAG (tests/airflow_dags/gong_changes_contacts.py) with ``dag.test()``
against the emulator: the second run sends only the changed record and the mirror delete."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gong_provider.emulator.client import EmulatorClient
from gong_provider.emulator.process import EmulatorProcess
from tests.support.airflow_db import run_state
from tests.support.gong_tasks import connect, contact

pytestmark = [pytest.mark.timeout(300)]


def test_a_user_dag_gets_change_capture_from_the_public_api(
    airflow_db: Path,
    emulator: EmulatorProcess,
    emulator_client: EmulatorClient,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    connect(emulator, monkeypatch)
    from tests.airflow_dags.gong_changes_contacts import dag

    source = tmp_path / "contacts.jsonl"
    conf = {
        "integration_id": str(emulator.integration_id),
        "source": str(source),
        "state_base": str(tmp_path / "state"),
        "staging_base": str(tmp_path / "staging"),
        "sync_mode": "mirror",
    }
    records = [contact(f"u{n:02d}") for n in range(20)]
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    first = dag.test(run_conf=conf)
    state, tis, xcoms = run_state(dag.dag_id, first.run_id)
    assert state == "success", tis
    assert xcoms[("commit", -1)]["counts"]["new"] == 20
    assert emulator_client.record_counts("CONTACT") == {r["objectId"]: 1 for r in records}

    # u00 changed, u19 gone (1 delete of 20 confirmed: within the default max_delete_ratio 0.05)
    records = [{**records[0], "firstName": "Changed"}, *records[1:19]]
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    second = dag.test(run_conf=conf)
    state, tis, xcoms = run_state(dag.dag_id, second.run_id)
    assert state == "success", tis
    report = xcoms[("commit", -1)]
    assert {k: report["counts"][k] for k in ("changed", "unchanged", "deleted")} == {
        "changed": 1,
        "unchanged": 18,
        "deleted": 1,
    }
    assert report["generation"] == 2
    counts = emulator_client.record_counts("CONTACT")
    assert {k: v for k, v in counts.items() if v != 1} == {"u00": 2, "u19": 2}  # nothing else sent
    assert set(emulator_client.entities("CONTACT")) == {r["objectId"] for r in records}
