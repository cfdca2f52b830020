"""Lineage and Airflow conventions: the ``gong`` asset URI scheme as Airflow and OpenLineage see it
(through the provider info, not by calling our functions directly), the upload operator's
OpenLineage events in a real ``airflow dags test gong_crm_sync`` run, and templated conn ids."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gong_provider.emulator.process import EmulatorProcess
from tests.e2e.test_e2e_airflow import DATA as SAMPLE_DATA
from tests.e2e.test_e2e_airflow import ENTITY_FILES as SOURCE_OF  # the export file of each type
from tests.support.faults import pycache
from tests.support.sync_dag import inspect_sync_db, new_sync_home, run_sync_dag, sync_template

__all__ = ["pycache", "sync_template"]  # fixtures used here

INTEGRATION_ID = "2271307570613351879"


@pytest.mark.parametrize(
    ("given", "normalized"),
    [
        (f"gong://crm/{INTEGRATION_ID}/DEAL", f"gong://crm/{INTEGRATION_ID}/DEAL"),
        ("gong://crm/0042/deal/", "gong://crm/42/DEAL"),
        ("GONG://crm/42/Business_User", "gong://crm/42/BUSINESS_USER"),
    ],
)
def test_airflow_normalizes_gong_assets(given: str, normalized: str) -> None:
    from airflow.sdk import Asset

    assert Asset(given).uri == normalized


@pytest.mark.parametrize(
    "uri",
    [
        "gong://crm/42",  # no type
        "gong://crm/42/DEAL/extra",
        "gong://crm/4.2/DEAL",  # not an id
        f"gong://crm/{2**63}/DEAL",  # above Gong's 64-bit ids
        "gong://crm/42/OPPORTUNITY",  # not a Gong type
        "gong://api/42/DEAL",  # not crm
        "gong://crm/42/DEAL?x=1",
    ],
)
def test_airflow_refuses_malformed_gong_assets(uri: str) -> None:
    from airflow.sdk import Asset

    with pytest.raises(ValueError, match="Gong"):
        Asset(uri)


def test_the_provider_registers_the_gong_scheme() -> None:
    """Airflow finds the factory and OpenLineage the converter through the provider info."""
    from airflow.providers.openlineage.utils.utils import translate_airflow_asset
    from airflow.sdk import Asset
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    manager = ProvidersManagerTaskRuntime()
    factory = manager.asset_factories["gong"]
    asset = factory(integration_id=INTEGRATION_ID, object_type="contact")
    assert asset == Asset(f"gong://crm/{INTEGRATION_ID}/CONTACT")
    dataset = translate_airflow_asset(asset, lineage_context=None)
    assert dataset is not None
    assert (dataset.namespace, dataset.name) == ("gong://crm", f"{INTEGRATION_ID}/CONTACT")


def test_gong_conn_id_is_templated() -> None:
    from gong_provider.operators.gong import GongUploadEntitiesOperator
    from gong_provider.sensors.gong import GongRequestStatusSensor

    upload = GongUploadEntitiesOperator(
        task_id="upload",
        integration_id="{{ params.integration_id }}",
        object_type="CONTACT",
        file="c.ldjson",
        gong_conn_id="{{ params.gong_conn }}",
    )
    wait = GongRequestStatusSensor(
        task_id="wait",
        integration_id="{{ params.integration_id }}",
        client_request_id="r-1",
        gong_conn_id="{{ params.gong_conn }}",
    )
    context: Any = {"params": {"gong_conn": "gong_eu", "integration_id": INTEGRATION_ID}}
    for task in (upload, wait):
        task.render_template_fields(context)
        assert task.gong_conn_id == "gong_eu"


def lineage_events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_sync_dag_reports_the_lineage_of_every_upload(
    emulator: EmulatorProcess, sync_template: Path, pycache: Path, tmp_path: Path
) -> None:
    """OpenLineage's listener (file transport) records, for each type's upload, the export file
    behind the staged files as input and the Gong dataset of the integration and type as output."""
    home = new_sync_home(sync_template, tmp_path / "airflow_home")
    events_file = tmp_path / "openlineage.jsonl"
    transport = {"type": "file", "log_file_path": str(events_file), "append": True}
    result = run_sync_dag(
        home,
        pycache,
        emulator,
        {"source": str(SAMPLE_DATA)},
        AIRFLOW__OPENLINEAGE__TRANSPORT=json.dumps(transport),
        AIRFLOW__OPENLINEAGE__NAMESPACE="gong-tests",
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    assert emulator.client.entities("DEAL"), "nothing was uploaded"
    # issue 22: each type's Asset is declared at parse time, so its first event finds it in the
    # database (no "AssetModel ... not found; cannot create asset event" warning, no dynamic creation)
    noise = [line for line in (result.stdout + result.stderr).splitlines() if "AssetModel" in line]
    assert noise == [], noise
    db = inspect_sync_db(home, pycache)
    assert [run["state"] for run in db["runs"]] == ["success"], db["tis"]

    completed: dict[str, list[dict[str, Any]]] = {}
    for event in lineage_events(events_file):
        if event.get("eventType") == "COMPLETE":
            completed.setdefault(event["job"]["name"], []).append(event)
    for object_type, file_name in SOURCE_OF.items():
        job = f"gong_crm_sync.{object_type.lower()}.upload"
        assert job in completed, sorted(completed)
        for event in completed[job]:  # one per mapped upload
            inputs = [(d["namespace"], d["name"]) for d in event["inputs"]]
            outputs = [(d["namespace"], d["name"]) for d in event["outputs"]]
            assert inputs == [("file", str(SAMPLE_DATA / file_name))], job
            assert outputs == [("gong://crm", f"{INTEGRATION_ID}/{object_type}")], job


def test_upload_lineage_reads_the_sources_from_the_manifest_beside_each_file(tmp_path: Path) -> None:
    """Without a DAG run: the operator resolves its ``file`` and gives lineage the paths; lineage
    finds each file's manifest through staging's rules (a loose file is its own input)."""
    from gong_provider.operators.gong import GongUploadEntitiesOperator
    from gong_provider.staging import stage

    source = Path(__file__).parents[1] / "data" / "staging" / "deals.jsonl"
    manifest = stage(str(source), object_type="DEAL", out_dir=tmp_path / "out", max_reject_ratio=0.5)
    loose = tmp_path / "loose.ldjson"
    loose.write_text('{"objectId": "a"}\n')
    named = [str(tmp_path / "out" / "DEAL" / "manifest.json"), manifest.files[0].path, str(loose)]
    upload = GongUploadEntitiesOperator(task_id="upload", integration_id="42", object_type="DEAL", file=named)

    lineage = upload.get_openlineage_facets_on_complete(None)

    assert [(d.namespace, d.name) for d in lineage.inputs] == [("file", str(source)), ("file", str(loose))]
    assert [(d.namespace, d.name) for d in lineage.outputs] == [("gong://crm", "42/DEAL")]
