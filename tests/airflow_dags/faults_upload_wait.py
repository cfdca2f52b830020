"""Test DAGs of the fault-injection matrix (tests/reliability/test_faults.py): upload files to Gong and wait.

Everything a run needs comes from its conf (params): the integration id, the object type and the
file(s). Parse time does nothing but build the DAGs. The variants differ only in how they wait:
- ``faults_upload_wait``: one upload, then a poke-mode sensor;
- ``faults_upload_wait_deferrable``: the same with a deferrable sensor (the trigger);
- ``faults_upload_wait_short_timeout``: a sensor timeout shorter than Gong's processing;
- ``faults_mapped_uploads``: three (or more) mapped uploads, each followed by a mapped sensor;
- ``faults_upload_arguments``: one upload whose integration id and clientRequestId come from the conf
  (the bad-input tests give it a float-looking id or an id with ``:``).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import DAG, Param, task

from gong_provider.operators.gong import GongUploadEntitiesOperator
from gong_provider.sensors.gong import GongRequestStatusSensor

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
INTEGRATION_ID = "{{ params.integration_id }}"
OBJECT_TYPE = "{{ params.object_type }}"
POKE_INTERVAL = 0.2
SHORT_TIMEOUT = 1.0
"""Seconds; the short-timeout test configures Gong's processing to take longer than this."""
LONG_TIMEOUT = 60.0


def params(**extra: Param) -> dict[str, Param]:
    return {
        "integration_id": Param("", type="string", description="Gong integration id (digits)"),
        "object_type": Param("CONTACT", type="string"),
        **extra,
    }


def upload_and_wait(dag_id: str, *, deferrable: bool, timeout: float) -> DAG:
    with DAG(
        dag_id,
        schedule=None,
        start_date=START,
        catchup=False,
        params=params(file=Param("", type="string")),
        default_args={"retries": 0, "retry_delay": timedelta(0)},
        tags=["tests", "faults"],
    ) as dag:
        upload = GongUploadEntitiesOperator(
            task_id="upload", integration_id=INTEGRATION_ID, object_type=OBJECT_TYPE, file="{{ params.file }}"
        )
        wait = GongRequestStatusSensor(
            task_id="wait",
            integration_id=INTEGRATION_ID,
            client_request_id="{{ ti.xcom_pull(task_ids='upload')['client_request_id'] }}",
            file="{{ params.file }}",
            deferrable=deferrable,
            poke_interval=POKE_INTERVAL,
            timeout=timeout,
            mode="poke",
        )
        upload >> wait
    return dag


def _client_request_id(upload: dict[str, Any]) -> str:
    return str(upload["client_request_id"])


def mapped_uploads(dag_id: str) -> DAG:
    with DAG(
        dag_id,
        schedule=None,
        start_date=START,
        catchup=False,
        params=params(files=Param([], type="array", items={"type": "string"})),
        default_args={"retries": 0},
        tags=["tests", "faults"],
    ) as dag:

        @task
        def files(**context: Any) -> list[str]:
            return list(context["params"]["files"])

        upload = GongUploadEntitiesOperator.partial(
            task_id="upload", integration_id=INTEGRATION_ID, object_type=OBJECT_TYPE
        ).expand(file=files())
        GongRequestStatusSensor.partial(
            task_id="wait",
            integration_id=INTEGRATION_ID,
            deferrable=False,
            poke_interval=POKE_INTERVAL,
            timeout=LONG_TIMEOUT,
            mode="poke",
        ).expand(client_request_id=upload.output.map(_client_request_id))
    return dag


def upload_arguments(dag_id: str) -> DAG:
    with DAG(
        dag_id,
        schedule=None,
        start_date=START,
        catchup=False,
        params=params(file=Param("", type="string"), client_request_id=Param("", type="string")),
        default_args={"retries": 0},
        tags=["tests", "faults"],
    ) as dag:
        GongUploadEntitiesOperator(
            task_id="upload",
            integration_id=INTEGRATION_ID,
            object_type=OBJECT_TYPE,
            file="{{ params.file }}",
            client_request_id="{{ params.client_request_id }}",
        )
    return dag


faults_upload_wait = upload_and_wait("faults_upload_wait", deferrable=False, timeout=LONG_TIMEOUT)
faults_upload_wait_deferrable = upload_and_wait(
    "faults_upload_wait_deferrable", deferrable=True, timeout=LONG_TIMEOUT
)
faults_upload_wait_short_timeout = upload_and_wait(
    "faults_upload_wait_short_timeout", deferrable=False, timeout=SHORT_TIMEOUT
)
faults_mapped_uploads = mapped_uploads("faults_mapped_uploads")
faults_upload_arguments = upload_arguments("faults_upload_arguments")
