"""Test DAG: one mapped upload per file (``.expand``), each waited for in the triggerer, then a sensor each.

Everything comes from the run's conf: ``integration_id`` (digits) and ``files`` (paths). Parse time
builds the DAG and nothing else.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from airflow.sdk import DAG, Param, task

from gong_provider.operators.gong import GongUploadEntitiesOperator
from gong_provider.sensors.gong import GongRequestStatusSensor


def sensor_kwargs(upload: dict[str, Any]) -> dict[str, Any]:
    return {"client_request_id": upload["client_request_id"], "file": upload["file"]}


with DAG(
    "gong_upload_mapped",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    params={
        "integration_id": Param("", type="string"),
        "files": Param([], type="array", items={"type": "string"}),
    },
    default_args={"retries": 0},
    tags=["tests"],
) as dag:

    @task
    def files(**context: Any) -> list[str]:
        return list(context["params"]["files"])

    upload = GongUploadEntitiesOperator.partial(
        task_id="upload",
        integration_id="{{ params.integration_id }}",
        object_type="CONTACT",
        wait_for_completion=True,
        deferrable=True,
        poll_interval=0.1,
        max_poll_interval=0.5,
    ).expand(file=files())

    wait = GongRequestStatusSensor.partial(
        task_id="wait",
        integration_id="{{ params.integration_id }}",
        deferrable=True,
        poke_interval=0.1,
        timeout=60,
    ).expand_kwargs(upload.output.map(sensor_kwargs))

    @task(multiple_outputs=False)
    def report(uploads: Any, statuses: Any) -> dict[str, Any]:
        return {
            "uploads": [u["client_request_id"] for u in uploads],
            "integration_ids": sorted({u["integration_id"] for u in uploads}),
            "stored": sum(s["total_success_count"] for s in statuses),
        }

    report(upload.output, wait.output)
