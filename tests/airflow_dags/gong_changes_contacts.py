"""Test DAG and the example in docs/changes.md: change capture in a user's DAG from the public API.

One type (CONTACT) from one export file: stage and diff, upload what Gong has not confirmed (each
generation after the one before, under run-scoped clientRequestIds), then commit what Gong confirmed.
Everything a run needs comes from its conf: ``integration_id``, ``source`` (a file), ``state_base``
(where the state lives; it must outlive the runs), ``staging_base`` (a folder per run below it),
``sync_mode``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from airflow.sdk import DAG, Param, task

from gong_provider.operators.gong import GongUploadEntitiesOperator

with DAG(
    "gong_changes_contacts",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,  # one run at a time commits the state (a second would fail on a conflict)
    params={
        "integration_id": Param("", type="string"),
        "source": Param("", type="string"),
        "state_base": Param("", type="string"),
        "staging_base": Param("", type="string"),
        "sync_mode": Param("upsert", type="string", enum=["upsert", "mirror", "full"]),
    },
    default_args={"retries": 0},
    tags=["tests", "example"],
) as dag:

    @task(multiple_outputs=True)  # the upload reads plan["manifest"]
    def stage(params: dict[str, Any], run_id: str, dag_run: Any) -> dict[str, Any]:
        import re

        from gong_provider.changes import stage_changes

        plan = stage_changes(
            params["source"],
            object_type="CONTACT",
            out_dir=f"{params['staging_base']}/{re.sub(r'[^A-Za-z0-9._-]', '_', run_id)}",
            state_base=params["state_base"],
            integration_id=params["integration_id"],
            run_key=run_id,
            mode=params["sync_mode"],
        )
        return plan.to_dict()

    plan = stage()
    upload = GongUploadEntitiesOperator(
        task_id="upload",
        integration_id="{{ params.integration_id }}",
        object_type="CONTACT",
        file=plan["manifest"],  # every generation, one after another
        wait_for_completion=True,
        fail_on_record_errors=False,  # a FAILED file's listed lines stay pending; the rest commits
        allow_empty_file_list=True,  # nothing changed: nothing to upload
        client_request_id_scope="run",  # the default: a pending record goes again under a new id
    )

    @task(trigger_rule="all_done", multiple_outputs=False)  # after the upload, whatever its outcome
    def commit(plan: dict[str, Any], ti: Any) -> dict[str, Any]:
        from gong_provider.changes import commit_changes, statuses_by_file

        uploads = ti.xcom_pull(task_ids="upload", default=[])  # none if the upload task failed
        report = commit_changes(plan, statuses_by_file(uploads))
        report.raise_for_guard()
        return report.to_dict()

    upload >> commit(plan)
