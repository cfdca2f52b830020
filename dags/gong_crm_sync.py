"""
### gong_crm_sync: your CRM export into Gong, exactly once

For each CRM entity type, in Gong's dependency order (BUSINESS_USER and STAGE, then ACCOUNT,
then CONTACT, DEAL and LEAD), a task group:

1. **stage**: reads the type's export file (or SQL query), normalizes and validates every record,
   writes Gong-ready LDJSON files and a manifest under `GONG_STAGING_BASE/<dag_id>/<run_id>/<TYPE>/`,
   and lists the files of generation 0 with a clientRequestId derived from their content.
2. **upload** (one mapped task per file): streams the file to `POST /v2/crm/entities`.
3. **wait** (one mapped, deferrable sensor per upload): waits in the triggerer for Gong's DONE.
4. **later_generations**: repeated updates of one objectId, one generation after another.
5. **summarize**: counts and an Asset event `gong://crm/<integration_id>/<TYPE>`
   (through the AssetAlias `gong-crm-<TYPE>`).

A type that is not selected, or absent from the source, is skipped. The **report** task ends the
run with a table of records read, staged, rejected and uploaded and Gong's counts per type, and
fails the run when a type failed.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import DAG, AssetAlias, Param, TaskGroup, XComArg, task
from gong_crm_lib import settings
from gong_crm_lib.generations import GongUploadLaterGenerationsOperator

from gong_provider.models import UPLOAD_WAVES, ObjectType
from gong_provider.operators.gong import GongUploadEntitiesOperator
from gong_provider.sensors.gong import GongRequestStatusSensor

ENTITY_TYPES = [object_type.value for object_type in ObjectType]
INTEGRATION_ID = "{{ params.integration_id }}"
WAIT_TIMEOUT = timedelta(hours=6)

PARAMS = {
    "integration_id": Param(
        settings.default_integration_id(),
        type="string",
        pattern=r"^[0-9]{0,19}$",
        title="Gong integration id",
        description="The id gong_crm_setup printed (digits). A string on purpose: the form's JavaScript "
        "numbers would round a 64-bit id such as 2271307570613351879 to 2271307570613351936. "
        "Default: the GONG_INTEGRATION_ID environment variable.",
    ),
    "source": Param(
        settings.default_source(),
        type="string",
        title="Source folder",
        description="A folder or ObjectStoragePath URL (s3://, gs://, file://...) holding one export file "
        "per type, named after it: business_users.csv, stages.jsonl, accounts.csv, contacts.jsonl, "
        "deals.json, leads.csv (CSV, JSON Lines or JSON, optionally .gz). Ignored when an SQL connection "
        "is given.",
    ),
    "entity_types": Param(
        ENTITY_TYPES,
        type="array",
        items={"type": "string", "enum": ENTITY_TYPES},
        uniqueItems=True,
        examples=ENTITY_TYPES,
        title="Entity types",
        description="Types to sync; those absent from the source are skipped.",
    ),
    "sql_conn_id": Param(
        None,
        type=["null", "string"],
        title="SQL connection id (optional)",
        description="Read records with SQL through this Airflow connection instead of files.",
    ),
    "sql_queries": Param(
        {},
        type="object",
        title="SQL query per type",
        description='With an SQL connection: {"CONTACT": "SELECT ... WHERE updated_at >= '
        "'{{ data_interval_start }}'\", ...}; column names are Gong's field names. Jinja is rendered.",
    ),
    "dry_run": Param(
        False,
        type="boolean",
        title="Dry run",
        description="Stage and validate only; upload nothing to Gong.",
    ),
    "max_reject_ratio": Param(
        0.0,
        type="number",
        minimum=0,
        maximum=1,
        title="Max reject ratio",
        description="Share of records per type that may be rejected (listed in rejects.ldjson) before "
        "the type fails. 0: any invalid record fails the type.",
    ),
    "resend_key": Param(
        None,
        type=["null", "string"],  # the UI form requires a value of any type without "null"
        title="Resend key (optional)",
        description="Upload ids derive from the content, so identical data is never sent twice. "
        "Any new value here forces identical files to be sent again.",
    ),
}


def _sensor_kwargs(upload: dict[str, Any]) -> dict[str, Any]:
    """What each wait sensor needs from its upload's XCom (the file maps Gong's errors to records)."""
    return {"client_request_id": upload["client_request_id"], "file": upload["file"]}


def entity_group(object_type: str) -> TaskGroup:
    conn_id = settings.conn_id()
    with TaskGroup(
        group_id=object_type.lower(), tooltip=f"Stage, upload and wait for {object_type}"
    ) as group:

        @task(task_id="stage", trigger_rule="none_failed")
        def stage(**context: Any) -> list[dict[str, Any]]:
            from airflow.sdk.exceptions import AirflowSkipException
            from gong_crm_lib.tasks import SkipType, stage_entity

            ti = context["ti"]
            try:
                result = stage_entity(
                    object_type,
                    context["params"],
                    dag_id=ti.dag_id,
                    run_id=ti.run_id,
                    render=lambda text: context["task"].render_template(text, context),
                )
            except SkipType as reason:
                raise AirflowSkipException(str(reason))
            ti.xcom_push(key="summary", value=result["summary"])
            ti.xcom_push(key="later_files", value=result["later_files"])
            ti.xcom_push(key="later_client_request_id", value=result["later_client_request_id"])
            return result["uploads"]

        staged = stage()
        upload = GongUploadEntitiesOperator.partial(
            task_id="upload",
            integration_id=INTEGRATION_ID,
            object_type=object_type,
            gong_conn_id=conn_id,
            pool=settings.GONG_POOL,
        ).expand_kwargs(staged)
        wait = GongRequestStatusSensor.partial(
            task_id="wait",
            integration_id=INTEGRATION_ID,
            gong_conn_id=conn_id,
            deferrable=True,
            poke_interval=settings.poll_interval(),
            timeout=WAIT_TIMEOUT.total_seconds(),
            pool=settings.GONG_POOL,
        ).expand_kwargs(upload.output.map(_sensor_kwargs))
        later = GongUploadLaterGenerationsOperator(
            task_id="later_generations",
            integration_id=INTEGRATION_ID,
            object_type=object_type,
            file=XComArg(staged.operator, key="later_files"),
            client_request_id=XComArg(staged.operator, key="later_client_request_id"),
            gong_conn_id=conn_id,
            wait_for_completion=True,
            deferrable=True,
            poll_interval=settings.poll_interval(),
            timeout=WAIT_TIMEOUT,
            pool=settings.GONG_POOL,
        )

        @task(task_id="summarize", outlets=[AssetAlias(settings.asset_alias_name(object_type))])
        def summarize(
            stage_summary: dict[str, Any], uploads: Any, statuses: Any, later_generations: Any, **context: Any
        ) -> dict[str, Any]:
            from gong_crm_lib.tasks import summarize_entity

            return summarize_entity(
                object_type,
                integration_id=context["params"]["integration_id"],
                stage_summary=stage_summary,
                uploads=uploads,
                statuses=statuses,
                later_generations=later_generations,
                outlet_events=context["outlet_events"],
            )

        wait >> later
        summarize(XComArg(staged.operator, key="summary"), upload.output, wait.output, later.output)
    return group


with DAG(
    dag_id=settings.SYNC_DAG_ID,
    dag_display_name="Gong CRM sync",
    description="Stage CRM records and upload them to Gong's CRM API exactly once",
    schedule=settings.schedule(),
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    params=PARAMS,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
    tags=["gong", "crm"],
    doc_md=__doc__,
) as dag:
    waves = [[entity_group(object_type.value) for object_type in wave] for wave in UPLOAD_WAVES]
    for earlier, later_wave in itertools.pairwise(waves):
        for upstream in earlier:
            upstream >> later_wave

    @task(task_id="report", trigger_rule="all_done")
    def report(**context: Any) -> dict[str, dict[str, Any]]:
        import logging

        from airflow.sdk.exceptions import AirflowFailException
        from gong_crm_lib.report import build_report, render_table

        ti = context["ti"]
        states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id]).get(ti.run_id, {})
        rows = build_report(lambda task_id, key: ti.xcom_pull(task_ids=task_id, key=key), states)
        logging.getLogger(__name__).info("Gong CRM sync report\n%s", render_table(rows))
        ti.xcom_push(key="report", value=rows)
        failed = sorted(t for t, row in rows.items() if row["outcome"] in ("failed", "incomplete"))
        if failed:
            raise AirflowFailException(f"Gong CRM sync failed for {', '.join(failed)} (see the table above)")
        return rows

    [group for wave in waves for group in wave] >> report()
