"""Test DAG: GongRequestStatusSensor in reschedule mode (the worker slot is freed between pokes).

The run's conf names the integration id (digits) and the clientRequestId to wait for.
"""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.sdk import DAG, Param

from gong_provider.sensors.gong import GongRequestStatusSensor

with DAG(
    "gong_wait_reschedule",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    params={"integration_id": Param("", type="string"), "client_request_id": Param("", type="string")},
    default_args={"retries": 0},
    tags=["tests"],
) as dag:
    GongRequestStatusSensor(
        task_id="wait",
        integration_id="{{ params.integration_id }}",
        client_request_id="{{ params.client_request_id }}",
        mode="reschedule",
        deferrable=False,
        poke_interval=0.2,
        timeout=60,
    )
