"""gong_crm_sync_dag(): the sync DAG, built by a factory so that a three-line file adopts it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import DAG, TaskGroup, XComArg, task

from gong_provider.dags import settings
from gong_provider.dags.params import sync_params
from gong_provider.models import UPLOAD_WAVES, ObjectType
from gong_provider.rows import StageResult, upload_row

SYNC_DOC_MD = """
### gong_crm_sync: your CRM export into Gong, exactly once

For each CRM entity type, in Gong's dependency order (BUSINESS_USER and STAGE, then ACCOUNT,
then CONTACT, DEAL and LEAD, LEAD staged after CONTACT and DEAL; a wave goes once the earlier
wave's uploads are finished, whatever their outcome), a task group:

1. **stage**: reads the type's export file (or SQL query), normalizes and validates every record,
   and diffs it against the state of what Gong confirmed (`sync_mode`: upsert, mirror or full):
   only new, changed and pending records (and, in mirror mode, deletes) go into the LDJSON files
   under `GONG_STAGING_BASE/runs/<dag_id>/<run_id>/<TYPE>/`; invalid records go to its
   `rejects.ldjson` and never hold back the valid ones.
2. **upload** (one mapped task per file): streams the file to `POST /v2/crm/entities` under a
   run-scoped clientRequestId (a retry reuses it; a later run never does).
3. **wait** (one mapped, deferrable sensor per upload): waits in the triggerer for Gong's DONE.
4. **later_generations**: repeated updates of one objectId, one generation after another.
   Mirror deletes the guard withheld wait for a person in **approve_deletes** (Required actions;
   `delete_approval_hours`), then **send_approved_deletes** sends exactly those.
   With `verify_sample` > 0, **verify** fetches that many uploaded records back from Gong.
   BUSINESS_USER: **delete_changed_users** deletes the users whose details changed, and only once
   Gong reports that DONE with every delete stored does **upload** send their new versions (Gong's
   documented way); a user listed twice is sent once, as its last version.
5. **commit**: the state advances for what Gong confirmed; the rest stays pending for the next run.
6. **summarize**: counts and an Asset event `gong://crm/<integration_id>/<TYPE>`
   (through the AssetAlias `gong-crm-<TYPE>`).

A type that is not selected, or absent from the source, is skipped. The **report** task ends the
run with a table per type (records read, staged, rejected, new, changed, unchanged, pending retried,
deleted, deletes withheld, uploaded, Gong's counts, the state generation), and fails the run when a
type failed or had more rejects than `max_reject_ratio`, naming them. The **cleanup** task removes
staged run folders older than `staging_retention_days` (never the change-capture state).
"""

INTEGRATION_ID = "{{ params.integration_id }}"
VERIFY_TYPES = {t.value for t in (ObjectType.ACCOUNT, ObjectType.CONTACT, ObjectType.DEAL, ObjectType.LEAD)}
"""Types GET /v2/crm/entities returns: each gets a verify task (gong_provider.dags.verify)."""
WAIT_TIMEOUT = timedelta(hours=6)
START_DATE = datetime(2026, 1, 1, tzinfo=timezone.utc)


class _FromEnvironment:
    """Marks a keyword argument left to its environment variable (None is a value: no schedule)."""

    def __repr__(self) -> str:
        return "FROM_ENVIRONMENT"


FROM_ENVIRONMENT: Any = _FromEnvironment()


def _sensor_kwargs(upload: Any) -> dict[str, Any]:
    """What each wait sensor needs from its upload's XCom (the file maps Gong's errors to records)."""
    row = upload_row(upload, source="upload")
    return {"client_request_id": row["client_request_id"], "file": row["file"]}


def staged_operator(task_output: Any) -> Any:
    """The task whose return value ``task_output`` is."""
    return task_output.operator


def _xcom(task_output: Any, key: str) -> Any:
    """Another XCom (by key) of the task whose return value is ``task_output``."""
    return XComArg(staged_operator(task_output), key=key)


@dataclass(frozen=True)
class _TypeOptions:
    """What every task of one type's group is built with."""

    object_type: str
    conn_id: str
    pool: str
    poll_interval: float
    staging_base: str | None
    state_base: str | None
    integration_id: str | None
    """The id known when the DAG is parsed (its Asset is declared then), else None."""


def _entity_group(
    object_type: str,
    *,
    conn_id: str,
    pool: str,
    poll_interval: float,
    staging_base: str | None,
    state_base: str | None,
    integration_id: str | None,
) -> TaskGroup:
    """One type's task group, in the steps of SYNC_DOC_MD: stage, upload and wait, the uploads that
    wait for an earlier one, commit, verify and summarize."""
    options = _TypeOptions(
        object_type, conn_id, pool, poll_interval, staging_base, state_base, integration_id
    )
    with TaskGroup(
        group_id=object_type.lower(), tooltip=f"Stage, upload and wait for {object_type}"
    ) as group:
        staged = _stage(options)
        stage_task_id: str = staged_operator(staged).task_id
        upload, wait = _upload_and_wait(options, staged)

        # Generation n+1 of an objectId's updates goes up only once generation n is DONE (Gong applies
        # files in no guaranteed order); usually there is none, and the empty list is a no-op.
        later = _waited_upload(options, "later_generations", _xcom(staged, "later_files"))

        sent_first: list[str] = []  # uploads that go before `upload`, committed with it
        if object_type == "BUSINESS_USER":
            # Gong's way to change a user: a delete, answered, then the new version in its own request
            # (gong_provider.changes.user_updates); nothing to send is a no-op. Lines Gong refused in
            # its answer do not fail it: the others' deletes took effect, so their new versions must
            # go (the refused users stay pending and are deleted first again). No answer (lost, timed
            # out, a general error) fails it: `upload` does not run, every user stays pending
            reassociate = _waited_upload(
                options,
                "delete_changed_users",
                _xcom(staged, "reassociate_files"),
                refused_lines_fail=False,
            )
            staged >> reassociate >> upload
            sent_first.append(reassociate.task_id)

        approve, send_approved = _approved_deletes(options, staged, stage_task_id)
        uploads = _UploadTasks(
            upload.task_id,
            wait.task_id,
            later.task_id,
            send_approved.task_id,
            approve.task_id,
            tuple(sent_first),
        )
        committed = _commit(options, stage_task_id, uploads)
        if object_type in VERIFY_TYPES:
            committed >> _verify(options, stage_task_id, uploads)
        wait >> later
        later >> committed
        send_approved >> committed
        summary = _summarize(options)(_xcom(staged, "summary"), upload.output, wait.output, later.output)
        committed >> summary
    return group


def _stage(options: _TypeOptions) -> Any:
    """The ``stage`` task (gong_provider.dags.stage): its return value maps the uploads, its other
    XComs feed the waited uploads, the approval, commit and the report."""

    # in a later wave, it starts once the earlier wave's commits are done, whatever their outcome
    @task(task_id="stage", trigger_rule="all_done")
    def stage(**context: Any) -> list[dict[str, Any]]:
        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

        from gong_provider.dags.stage import (
            SkipType,
            retry_cannot_help,
            stage_entity,
            summary_after_failure,
        )
        from gong_provider.staging.references import GongReferenceError

        object_type = options.object_type
        ti = context["ti"]
        try:
            result = stage_entity(
                object_type,
                context["params"],
                dag_id=ti.dag_id,
                run_id=ti.run_id,
                render=lambda text: context["task"].render_template(text, context),
                staging_base=options.staging_base,
                state_base=options.state_base,
                gong_conn_id=options.conn_id,
            )
        except SkipType as reason:
            raise AirflowSkipException(str(reason))
        except GongReferenceError as error:  # reference_check=fail: the report shows the findings
            ti.xcom_push(key="summary", value=error.summary)
            raise AirflowFailException(f"{object_type}: {error}") from error
        except Exception as error:
            # what staging wrote before the failure (read, staged, rejected, the rejects file)
            partial = summary_after_failure(object_type, ti.dag_id, ti.run_id, options.staging_base)
            if partial:
                ti.xcom_push(key="summary", value=partial)
            if retry_cannot_help(error):  # no source, a bad Param or input, a corrupt state, a guard
                raise AirflowFailException(f"{object_type}: {error}") from error
            raise
        _push_stage_result(ti, result)
        uploads: list[dict[str, Any]] = result["uploads"]
        return uploads

    return stage()


def _push_stage_result(ti: Any, result: StageResult) -> None:
    """The stage task's XComs besides its return value (the uploads)."""
    ti.xcom_push(key="summary", value=result["summary"])
    ti.xcom_push(key="later_files", value=result["later_files"])
    ti.xcom_push(key="plan", value=result["plan"])
    ti.xcom_push(key="withheld", value=result["withheld"])
    ti.xcom_push(key="withheld_files", value=(result["withheld"] or {}).get("files", []))
    ti.xcom_push(key="reassociate_files", value=result.get("reassociate_files") or [])


def _upload_and_wait(options: _TypeOptions, staged: Any) -> tuple[Any, Any]:
    """``upload``, one mapped task per staged file, and ``wait``, one deferrable sensor per upload."""
    # the provider's operator modules (requests, aiohttp) load only when a sync DAG is built
    from gong_provider.operators.gong import GongUploadEntitiesOperator
    from gong_provider.sensors.gong import GongRequestStatusSensor

    upload = GongUploadEntitiesOperator.partial(
        task_id="upload",
        integration_id=INTEGRATION_ID,
        object_type=options.object_type,
        gong_conn_id=options.conn_id,
        client_request_id_scope="run",  # a pending record goes again next run: under a new id
        pool=options.pool,
    ).expand_kwargs(staged)
    wait = GongRequestStatusSensor.partial(
        task_id="wait",
        integration_id=INTEGRATION_ID,
        gong_conn_id=options.conn_id,
        deferrable=True,
        poke_interval=options.poll_interval,
        timeout=WAIT_TIMEOUT.total_seconds(),
        pool=options.pool,
    ).expand_kwargs(upload.output.map(_sensor_kwargs))
    return upload, wait


def _waited_upload(options: _TypeOptions, task_id: str, file: Any, *, refused_lines_fail: bool = True) -> Any:
    """Upload files one after another and wait for each (an empty list is a no-op);
    ``refused_lines_fail=False``: a FAILED answer that lists the refused lines does not fail the task
    (``fail_on_record_errors``)."""
    from gong_provider.operators.gong import GongUploadEntitiesOperator

    return GongUploadEntitiesOperator(
        task_id=task_id,
        integration_id=INTEGRATION_ID,
        object_type=options.object_type,
        file=file,
        gong_conn_id=options.conn_id,
        client_request_id_scope="run",
        wait_for_completion=True,
        deferrable=True,
        poll_interval=options.poll_interval,
        timeout=WAIT_TIMEOUT,
        allow_empty_file_list=True,
        fail_on_record_errors=refused_lines_fail,
        pool=options.pool,
    )


def _approved_deletes(options: _TypeOptions, staged: Any, stage_task_id: str) -> tuple[Any, Any]:
    """Mirror deletes the guard withheld: a person approves them (gong_provider.dags.approval), then
    ``send_approved_deletes`` sends exactly those; it returns the two tasks."""
    from gong_provider.dags.approval import GongDeleteApprovalOperator

    approve = GongDeleteApprovalOperator(task_id="approve_deletes", stage_task_id=stage_task_id)
    send_approved = _waited_upload(options, "send_approved_deletes", _xcom(staged, "withheld_files"))
    staged >> approve >> send_approved
    return approve, send_approved


@dataclass(frozen=True)
class _UploadTasks:
    """The ids of a group's tasks that return upload rows, for commit and verify to pull."""

    upload: str
    wait: str
    later: str
    send_approved: str
    approve: str
    """The approval of the withheld deletes: once approved, they count as sent, answered or not."""
    sent_first: tuple[str, ...] = ()
    """BUSINESS_USER: the changed users' deletes, sent before ``upload`` and committed with it."""


def _pull_rows(ti: Any, wait_task_id: str, upload_task_ids: Iterable[str]) -> dict[str, list[Any]]:
    """The rows of these tasks by task id, validated: the uploads' rows, and the wait sensor's (no file)."""
    from gong_provider.dags.commit import upload_rows, wait_rows

    pulled: dict[str, list[Any]] = {
        task_id: upload_rows(ti.xcom_pull(task_ids=task_id), source=task_id) for task_id in upload_task_ids
    }
    pulled[wait_task_id] = wait_rows(ti.xcom_pull(task_ids=wait_task_id), source=wait_task_id)
    return pulled


def _commit(options: _TypeOptions, stage_task_id: str, uploads: _UploadTasks) -> Any:
    """The ``commit`` task: after every upload of the type is finished, whatever its outcome, what
    Gong confirmed advances the state, the rest stays pending for the next run (see
    gong_provider.dags.commit)."""

    @task(task_id="commit", trigger_rule="all_done", pool=options.pool, multiple_outputs=False)
    def commit(**context: Any) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

        from gong_provider.changes import GongChangeCaptureError
        from gong_provider.dags.approval import was_approved
        from gong_provider.dags.commit import commit_entity

        ti = context["ti"]
        plan = ti.xcom_pull(task_ids=stage_task_id, key="plan")
        if not plan:
            raise AirflowSkipException("nothing was planned (dry run, skipped or failed stage)")
        sent = (uploads.upload, uploads.later, uploads.send_approved, *uploads.sent_first)
        pulled = _pull_rows(ti, uploads.wait, sent)
        approved = pulled[uploads.send_approved]  # the withheld deletes, once approved and sent
        # a changed business user whose delete Gong did not confirm stays pending (deleted first again)
        approved += [row for task_id in uploads.sent_first for row in pulled[task_id]]
        try:
            report, gong = commit_entity(
                plan,
                uploads=[*pulled[uploads.upload], *pulled[uploads.later], *approved],
                finished=[*pulled[uploads.wait], *pulled[uploads.later], *approved],
                conn_id=options.conn_id,
                withheld_sent=was_approved(ti.xcom_pull(task_ids=uploads.approve)),
            )
            result: dict[str, Any] = {**report.to_dict(), "gong": gong}
            ti.xcom_push(key="report", value=result)
            report.raise_for_guard()  # deletes withheld: the type fails, its upserts committed
        except GongChangeCaptureError as error:
            raise AirflowFailException(str(error)) from error
        return result

    return commit()


def _verify(options: _TypeOptions, stage_task_id: str, uploads: _UploadTasks) -> Any:
    """The ``verify`` task: a sample of what Gong reported DONE, fetched back and compared (Param
    verify_sample)."""

    @task(task_id="verify", multiple_outputs=False, pool=options.pool)
    def verify(**context: Any) -> dict[str, Any] | None:
        from airflow.sdk.exceptions import AirflowSkipException

        from gong_provider.dags.params import integration_id_from
        from gong_provider.dags.verify import verify_entity

        ti, params = context["ti"], context["params"]
        pulled = _pull_rows(ti, uploads.wait, (uploads.upload, uploads.later))
        result = verify_entity(
            options.object_type,
            sample=int(params.get("verify_sample") or 0),
            integration_id=integration_id_from(params),
            plan=ti.xcom_pull(task_ids=stage_task_id, key="plan"),
            uploads=[*pulled[uploads.upload], *pulled[uploads.later]],
            finished=[*pulled[uploads.wait], *pulled[uploads.later]],
            conn_id=options.conn_id,
        )
        if result is None:
            raise AirflowSkipException("verify_sample is 0: nothing verified")
        return result

    return verify()


def _summarize(options: _TypeOptions) -> Any:
    """The ``summarize`` task (gong_provider.dags.summary): the type's counts and its Asset event."""
    from gong_provider.dags.summary import summarize_outlets

    @task(
        task_id="summarize",
        # the Asset declared at parse time beside the alias (no "AssetModel not found" on first use)
        outlets=summarize_outlets(options.object_type, options.integration_id),
        multiple_outputs=False,  # one XCom, read whole by the report
    )
    def summarize(
        stage_summary: dict[str, Any], uploads: Any, statuses: Any, later_generations: Any, **context: Any
    ) -> dict[str, Any]:
        from gong_provider.dags.summary import alias_only, summarize_entity

        alias_only(context["task"].outlets)  # one event per run, through the alias
        return summarize_entity(
            options.object_type,
            params=context["params"],
            stage_summary=stage_summary,
            uploads=uploads,
            statuses=statuses,
            later_generations=later_generations,
            outlet_events=context["outlet_events"],
        )

    return summarize


@task(task_id="report", trigger_rule="all_done", multiple_outputs=False)
def _report(**context: Any) -> dict[str, Any]:
    import logging

    from airflow.sdk.exceptions import AirflowFailException

    from gong_provider.dags.report import build_report, failure_message, render_table

    ti = context["ti"]
    states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id]).get(ti.run_id, {})
    selected = context["params"].get("entity_types")
    rows = build_report(lambda task_id, key: ti.xcom_pull(task_ids=task_id, key=key), states, selected)
    logging.getLogger(__name__).info("Gong CRM sync report\n%s", render_table(rows))
    ti.xcom_push(key="report", value=rows)
    failure = failure_message(rows)
    if failure:
        raise AirflowFailException(failure)
    return rows


def _cleanup(staging_base: str | None, state_base: str | None) -> Any:
    """The ``cleanup`` task: staged run folders older than ``staging_retention_days`` go (never the
    state, never this run's folder); it runs once the uploads are finished, whatever their outcome."""

    @task(task_id="cleanup", trigger_rule="all_done")
    def cleanup(**context: Any) -> list[str]:
        from gong_provider.dags.cleanup import clean_staged_runs
        from gong_provider.dags.stage import state_base_of

        ti = context["ti"]
        return clean_staged_runs(
            ti.dag_id,
            keep_run_id=ti.run_id,
            retention_days=context["params"].get("staging_retention_days"),
            staging_base=staging_base,
            state_base=state_base_of(state_base, staging_base),
        )

    return cleanup()


def gong_crm_sync_dag(
    *,
    dag_id: str = settings.SYNC_DAG_ID,
    schedule: Any = FROM_ENVIRONMENT,
    source: str | None = None,
    fallback_source: str | None = None,
    integration_id: str | int | None = None,
    gong_conn_id: str | None = None,
    poll_interval: float | None = None,
    staging_base: str | None = None,
    state_base: str | None = None,
    pool: str = settings.GONG_POOL,
    **dag_kwargs: Any,
) -> DAG:
    """The gong_crm_sync DAG: stage, upload and await each CRM entity type, then report.

    In a file of your dags folder (Airflow's safe mode parses only files that mention "airflow" and
    "dag")::

        # Airflow DAG: Gong CRM sync
        from gong_provider.dags import gong_crm_sync_dag
        dag = gong_crm_sync_dag()

    Each keyword argument, when given, wins over its environment variable: ``schedule``
    (GONG_CRM_SYNC_SCHEDULE, default ``@daily``; None for trigger-only), ``source`` (GONG_CRM_SOURCE;
    the ``source`` Param's default), ``integration_id`` (GONG_INTEGRATION_ID), ``gong_conn_id``
    (GONG_CONN_ID, default ``gong_default``), ``poll_interval`` (GONG_POLL_INTERVAL, default 10 s) and
    ``staging_base`` (GONG_STAGING_BASE, read by the workers at run time) and ``state_base``
    (GONG_STATE_BASE, default ``<staging base>/state``, beside the ``runs/`` folder the cleanup task
    empties: where change capture keeps what Gong confirmed; it must outlive the runs and be shared by
    every worker). ``fallback_source`` is the
    ``source`` default when neither ``source`` nor GONG_CRM_SOURCE is set (the repo's sample export);
    without any, a run must name its source. Other keyword arguments go to ``DAG`` (``tags``,
    ``default_args``, ``start_date``, ``max_active_runs``...).
    """
    source_default = settings.first_given(source, settings.source(), fallback_source)
    integration_default = settings.first_given(
        None if integration_id is None else str(integration_id), settings.integration_id()
    )
    conn_id = gong_conn_id or settings.conn_id()
    interval = poll_interval if poll_interval is not None else settings.poll_interval()
    options = _dag_options(schedule, dag_kwargs)
    with DAG(
        dag_id=dag_id,
        schedule=options.pop("schedule"),
        params=sync_params(integration_id=integration_default, source=source_default),
        **options,
    ) as dag:
        waves = [
            [
                _entity_group(
                    object_type.value,
                    conn_id=conn_id,
                    pool=pool,
                    poll_interval=interval,
                    staging_base=staging_base,
                    state_base=state_base,
                    integration_id=integration_default,
                )
                for object_type in wave
            ]
            for wave in UPLOAD_WAVES
        ]
        commits = _chain_waves(dag, waves)
        _stage_lead_after_contact_and_deal(dag, waves[-1])
        groups = [group for wave in waves for group in wave]
        every_commit = [commit for wave in commits for commit in wave]
        report = _report()
        groups >> report
        every_commit >> report  # summarize fails as soon as a wait fails; the report waits for the commit
        every_commit >> _cleanup(staging_base, state_base)
    return dag


def _dag_options(schedule: Any, dag_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The sync DAG's keyword arguments: the provider's defaults, then the caller's ``dag_kwargs``."""
    return {
        "dag_display_name": "Gong CRM sync",
        "description": "Stage CRM records and upload them to Gong's CRM API exactly once",
        "schedule": settings.schedule() if schedule is FROM_ENVIRONMENT else schedule,
        "start_date": START_DATE,
        "catchup": False,
        "max_active_runs": 1,
        "default_args": {"retries": 2, "retry_delay": timedelta(seconds=30)},
        "tags": ["gong", "crm"],
        "doc_md": SYNC_DOC_MD,
        **dag_kwargs,
    }


def _chain_waves(dag: DAG, waves: list[list[TaskGroup]]) -> list[list[Any]]:
    """Each wave's stage tasks follow the earlier wave's commits; returns the commits, wave by wave."""
    commits = [[dag.get_task(f"{group.group_id}.commit") for group in wave] for wave in waves]
    for earlier_commits, later_wave in zip(commits[:-1], waves[1:], strict=True):
        # a wave goes once the earlier wave's uploads are finished (its commits done), whatever
        # their outcome: a type Gong refused fails the run at its end, not the types after it
        for group in later_wave:
            earlier_commits >> dag.get_task(f"{group.group_id}.stage")
    return commits


def _stage_lead_after_contact_and_deal(dag: DAG, last_wave: list[TaskGroup]) -> None:
    """LEAD's convertedTo* references are checked against this run's CONTACT and DEAL ids, which
    their stage tasks publish: LEAD stages after them (all_done: their failure never blocks it)."""
    staged_types = {group.group_id: dag.get_task(f"{group.group_id}.stage") for group in last_wave}
    if "lead" in staged_types:
        [staged_types[g] for g in ("contact", "deal") if g in staged_types] >> staged_types["lead"]
