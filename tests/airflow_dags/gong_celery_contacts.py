"""Test DAG for the CeleryExecutor test: its own CONTACT records, staged, uploaded and waited for.

A user's DAG built from the provider's pieces (not gong_crm_sync): a task stages ``records`` generated
CONTACT records (objectIds ``<prefix>-00001``...) with the staging library into
``GONG_STAGING_BASE/<dag_id>/<run_id>``, in files of at most ``max_file_bytes``; one mapped
GongUploadEntitiesOperator per file (each on whichever Celery worker takes it), one deferrable
GongRequestStatusSensor per upload (in the triggerer), then a total. Parse time builds the DAG only.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import DAG, Param, task

from gong_provider.operators.gong import GongUploadEntitiesOperator
from gong_provider.sensors.gong import GongRequestStatusSensor

GONG_POOL = "gong_api"


def sensor_kwargs(upload: dict[str, Any]) -> dict[str, Any]:
    return {"client_request_id": upload["client_request_id"], "file": upload["file"]}


with DAG(
    "gong_celery_contacts",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    params={
        "integration_id": Param("", type="string"),
        "prefix": Param("celery", type="string", pattern=r"^[a-z0-9-]+$"),
        "records": Param(600, type="integer", minimum=1),
        "max_file_bytes": Param(40_000, type="integer", minimum=1000),
    },
    default_args={"retries": 2, "retry_delay": timedelta(seconds=2)},
    tags=["tests", "celery"],
) as dag:

    @task
    def stage(**context: Any) -> list[dict[str, Any]]:
        import os
        import re

        from gong_provider.staging import stage as stage_records

        params, ti = context["params"], context["ti"]
        prefix = params["prefix"]
        records = (
            {
                "objectId": f"{prefix}-{number:05d}",
                "firstName": f"First{number}",
                "lastName": f"Last{number}",
                "emailAddress": f"{prefix}.{number}@celery.example",
                "modifiedDate": "2026-03-01T10:00:00Z",
            }
            for number in range(1, int(params["records"]) + 1)
        )
        run_folder = re.sub(r"[^A-Za-z0-9._-]+", "_", ti.run_id)
        out_dir = os.path.join(os.environ["GONG_STAGING_BASE"], ti.dag_id, run_folder)
        manifest = stage_records(
            records, object_type="CONTACT", out_dir=out_dir, max_file_bytes=int(params["max_file_bytes"])
        )
        return [{"file": staged.path} for staged in manifest.files]

    upload = GongUploadEntitiesOperator.partial(
        task_id="upload",
        integration_id="{{ params.integration_id }}",
        object_type="CONTACT",
        pool=GONG_POOL,
    ).expand_kwargs(stage())

    wait = GongRequestStatusSensor.partial(
        task_id="wait",
        integration_id="{{ params.integration_id }}",
        deferrable=True,
        poke_interval=1,
        timeout=300,
        pool=GONG_POOL,
    ).expand_kwargs(upload.output.map(sensor_kwargs))

    @task
    def total(statuses: Any) -> int:
        return sum(int(status["total_success_count"]) for status in statuses)

    total(wait.output)
