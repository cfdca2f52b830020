"""GongUploadEntitiesOperator: upload staged LDJSON files to Gong exactly once, optionally waiting."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.configuration import conf

from gong_provider.exceptions import GongBadRequestError, GongError, GongUploadFailed, is_transient
from gong_provider.hooks._params import object_type_param
from gong_provider.ids import (
    IntegrationId,
    PlanToken,
    check_client_request_id_prefix,
    check_client_request_id_scope,
    content_client_request_id,
    legacy_client_request_id,
    make_client_request_id,
    parse_integration_id,
    plan_tokens_an_earlier_try_used,
)
from gong_provider.models import ObjectType, RequestStatus, UploadResult
from gong_provider.operators.upload_files import (
    FileFacts,
    UploadFile,
    file_facts,
    resolve_files,
    staged_file_for,
    upload_target,
)
from gong_provider.operators.upload_progress import FileUpload, UploadProgress
from gong_provider.rows import UploadRow, status_event
from gong_provider.staging.failure_report import describe_failure
from gong_provider.triggers.gong import GongRequestStatusTrigger
from gong_provider.waiting.deadline import deferral_timeout, seconds, wait_deadline
from gong_provider.waiting.events import check_status, statuses_from_event
from gong_provider.waiting.policy import CheckAfter, StatusWait
from gong_provider.waiting.poll_schedule import DEFAULT_MAX_POLL_INTERVAL, DEFAULT_POLL_INTERVAL
from gong_provider.waiting.polling import check_round, finished_statuses, wait_until_finished

if TYPE_CHECKING:
    from airflow.sdk import Context

    from gong_provider.hooks.gong import GongCrmHook

DEFAULT_TIMEOUT = timedelta(hours=6)


class GongUploadEntitiesOperator(BaseOperator):
    """Upload one or more LDJSON files of one object type to Gong (``POST /v2/crm/entities``).

    ``file`` is a path, an ObjectStoragePath URL, a list of them, a staging manifest (path to a
    ``manifest.json`` or ``StagingManifest.to_dict()``) or a staged-file dict. Several files are
    uploaded one after another in the order named (a manifest's in its order); a file of a later
    generation, or of the next manifest, waits until the earlier ones are DONE.
    Use ``.partial(...).expand(file=...)`` for one upload per mapped task.

    The clientRequestId is deterministic and unique per file content *and* position (item of the
    list, generation, part), so a 409 always means "this very file is already at Gong": a retried
    task sends the same id, Gong answers 409, the file is not stored twice, and the task goes on to
    the status check. A retry first asks Gong for the status of that id (and of the ids earlier
    releases derived, which a try on a not-yet-upgraded worker sent) and does not upload again at all
    when Gong knows one. Files staged by change
    capture also carry their plan's token (``plan_token`` in their manifest, or in the
    ``manifest.json`` beside a file named alone), part of the id: a cleared run that plans again sends
    its files again, never answered by an earlier attempt's request.
    ``client_request_id_scope`` says what the id derives from besides content and position:
    ``"run"`` (default: dag, task, run, map index, object type; a later run sends the same bytes
    again under a new id, which a change-capture sync needs for its pending records) or ``"content"``
    (integration and object type only: the same file at the same position is never processed twice,
    in any run).

    The bytes sent are counted and hashed while they stream and must match the staged file's size,
    lines and sha256 (else the task fails before Gong has the whole file); after DONE, Gong's
    success + error counts must add up to the file's records.

    Returns (XCom) ``{client_request_id, request_id, integration_id (str), object_type, file, records,
    bytes, already_accepted, plan_token}`` (plus ``status``, counts and errors with
    ``wait_for_completion``): an :class:`~gong_provider.rows.UploadRow`; a list of those when ``file``
    named several files (a list or a manifest).

    ``allow_empty_file_list=True`` makes an empty ``file`` (None, ``[]`` or a manifest without files)
    a successful no-op returning ``[]``, for an upstream task that may find nothing to upload (the
    later generations of the packaged sync DAG); by default it fails the task, as a likely mistake.

    :param integration_id: Gong's integration id, an int or a string of digits, never a float
        (templated).
    :param object_type: an :class:`~gong_provider.models.ObjectType` or its case-sensitive name, such as
        ``"CONTACT"`` (templated).
    :param file: what to upload, in any of the forms above (templated).
    :param gong_conn_id: Airflow connection of type ``gong``.
    :param client_request_id: a prefix for the derived ids instead of ``gong-<type>``: 1 to 33
        letters, digits, ``-`` or ``_``; each file's id is ``<prefix>-<hash>``, 50 characters, derived
        in the scope as above (templated).
    :param wait_for_completion: also wait until Gong has processed every file, and add its status and
        counts to the XCom.
    :param deferrable: wait in the triggerer, holding no worker slot (default
        ``[operators] default_deferrable``).
    :param poll_interval: first wait between status checks, in seconds or a timedelta (default 5).
    :param max_poll_interval: longest wait between status checks; the waits grow x1.5 up to it
        (default 60).
    :param timeout: how long the wait may last (default 6 hours); ``execution_timeout`` also bounds it.
    :param fail_on_record_errors: fail the task when Gong reports record errors; ``False`` logs them as a
        warning (a general error always fails).
    :param allow_empty_file_list: an empty ``file`` is a no-op returning ``[]`` instead of an error.
    :param require_every_record: fail the task unless Gong stored every record, even on a DONE answer
        that lists record errors (Gong documents DONE as "every object processed"; the sync DAG's
        ``delete_changed_users`` sets it, so that no user whose delete Gong refused gets its new
        version as a plain upsert).
    """

    template_fields: Sequence[str] = (
        "integration_id",
        "object_type",
        "file",
        "client_request_id",
        "gong_conn_id",
    )
    ui_color = "#8f5cff"

    def __init__(
        self,
        *,
        integration_id: int | str,
        object_type: ObjectType | str,
        file: Any,
        gong_conn_id: str = "gong_default",
        client_request_id: str | None = None,
        wait_for_completion: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float | timedelta = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float | timedelta = DEFAULT_MAX_POLL_INTERVAL,
        timeout: float | timedelta | None = DEFAULT_TIMEOUT,
        fail_on_record_errors: bool = True,
        allow_empty_file_list: bool = False,
        client_request_id_scope: str = "run",
        require_every_record: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.integration_id = integration_id
        self.object_type = object_type
        self.file = file
        self.gong_conn_id = gong_conn_id
        self.client_request_id = client_request_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = seconds(poll_interval) or DEFAULT_POLL_INTERVAL
        self.max_poll_interval = seconds(max_poll_interval) or DEFAULT_MAX_POLL_INTERVAL
        self.timeout = timeout
        self.fail_on_record_errors = fail_on_record_errors
        self.allow_empty_file_list = allow_empty_file_list
        self.require_every_record = require_every_record
        self.client_request_id_scope = check_client_request_id_scope(client_request_id_scope)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage: the sources behind the staged files in, the Gong dataset of the integration
        and object type (``gong://crm/<id>/<TYPE>``) out. Called by the OpenLineage provider."""
        from gong_provider.lineage import upload_lineage

        paths = [upload.path for upload in resolve_files(self.file)[0]] if self.file else []
        return upload_lineage(paths, self.integration_id, str(self.object_type))

    # -- steps ----------------------------------------------------------------------------

    def execute(self, context: Context) -> list[UploadRow] | UploadRow:
        deadline = wait_deadline(self.timeout, self.execution_timeout)
        nothing_named = self.allow_empty_file_list and not self.file
        sources, several = ([], True) if nothing_named else resolve_files(self.file)
        if not sources:
            if not self.allow_empty_file_list:
                raise ValueError(f"file {self.file!r} names no file to upload")
            self.log.info("No %s file to upload (file is empty): nothing to do", self.object_type)
            return []
        progress = UploadProgress.plan(sources, several=several, deadline=deadline)
        return self._upload_and_wait(context, progress, *self._rendered_arguments())

    def execute_complete(self, context: Context, event: Any = None) -> list[UploadRow] | UploadRow:
        """Resume after the trigger: accept the statuses of the files it waited for, then go on.

        The progress comes back inside the event (the trigger's ``carry``), the one place it is
        kept: ``dag.test()`` and ``airflow dags test`` resume a task with the event alone.
        """
        checked = status_event(event, waiting_for=f"of task {self.task_id}")
        progress = UploadProgress.from_event(checked)
        integration_id, object_type = self._rendered_arguments()
        waited_for = [u.client_request_id for u in progress.awaiting_processing() if u.client_request_id]
        statuses = statuses_from_event(checked, client_request_ids=waited_for)
        self._accept_statuses(progress, statuses, object_type)
        return self._upload_and_wait(context, progress, integration_id, object_type)

    def _rendered_arguments(self) -> tuple[IntegrationId, str]:
        """The door of the templated arguments: parsed once per entry (``execute``, or the resumed
        ``execute_complete``), after templating, and passed down as they are."""
        return parse_integration_id(self.integration_id), object_type_param(str(self.object_type))

    def _upload_and_wait(
        self, context: Context, progress: UploadProgress, integration_id: IntegrationId, object_type: str
    ) -> list[UploadRow] | UploadRow:
        """Upload the files not uploaded yet, in order; before a later generation, and at the end with
        ``wait_for_completion``, wait until Gong has processed what it accepted."""
        from gong_provider.hooks.gong import GongCrmHook  # lazy: keeps DAG parsing fast

        with GongCrmHook(self.gong_conn_id) as hook:
            for index, upload in enumerate(progress.files):
                if upload.is_accepted:
                    continue
                if index and upload.source.batch != progress.files[index - 1].source.batch:
                    self._wait_until_processed(hook, progress, integration_id, object_type)
                facts = file_facts(upload.source)
                # this release's id first, then those a try on a worker of an earlier release sent
                # (mixed workers during a rolling upgrade): without the plan token, and the legacy one
                ids = [
                    self._client_request_id_for(
                        context, upload.source, facts, integration_id, object_type, token
                    )
                    for token in plan_tokens_an_earlier_try_used(upload.source.plan_token)
                ]
                ids.append(self._legacy_id(context, index, progress, facts, integration_id, object_type))
                client_request_id = ids[0]
                result = self._accepted_by_an_earlier_try(context, hook, integration_id, ids)
                if result is None:
                    result = hook.upload_entities(
                        integration_id,
                        object_type,
                        client_request_id,
                        upload_target(upload.source.path),
                        expected=facts,
                    )
                upload.record_acceptance(result, facts)
                self.log.info(
                    "%s %s (%s records, %s bytes) as %s: clientRequestId %s",
                    "Gong already had" if result.already_accepted else "Uploaded",
                    upload.source.path,
                    facts.records,
                    facts.bytes,
                    object_type,
                    client_request_id,
                )
            if self.wait_for_completion:
                self._wait_until_processed(hook, progress, integration_id, object_type)
        return progress.xcom(integration_id, object_type)

    def _run_scope(self, context: Context) -> dict[str, Any]:
        ti = context["ti"]
        map_index = getattr(ti, "map_index", -1)
        return {
            "dag_id": ti.dag_id,
            "task_id": ti.task_id,
            "run_id": ti.run_id,
            "map_index": -1 if map_index is None else map_index,
        }

    def _client_request_id_for(
        self,
        context: Context,
        source: UploadFile,
        facts: FileFacts,
        integration_id: IntegrationId,
        object_type: str,
        plan_token: PlanToken | None,
    ) -> str:
        """The file's clientRequestId: derived in the operator's scope from its content, its position
        and the change-capture plan that staged it (``plan_token``: the file's, or None for the id an
        earlier release derived), after the given prefix (or ``gong-<type>`` / ``<type>``)."""
        prefix = (
            check_client_request_id_prefix(str(self.client_request_id)) if self.client_request_id else None
        )
        if self.client_request_id_scope == "content":
            return content_client_request_id(
                integration_id,
                object_type,
                facts.sha256,
                source.position,
                prefix=prefix,
                plan_token=plan_token,
            )
        return make_client_request_id(
            **self._run_scope(context),
            object_type=object_type,
            content_sha256=facts.sha256,
            position=source.position,
            prefix=prefix,
            plan_token=plan_token,
        )

    def _legacy_id(
        self,
        context: Context,
        index: int,
        progress: UploadProgress,
        facts: FileFacts,
        integration_id: IntegrationId,
        object_type: str,
    ) -> str:
        """The id the earlier release sent for this file (asked on a retry across the upgrade)."""
        return legacy_client_request_id(
            given=str(self.client_request_id) if self.client_request_id else None,
            number=index + 1,
            count=len(progress.files),
            scope=self.client_request_id_scope,
            **self._run_scope(context),
            integration_id=integration_id,
            object_type=object_type,
            content_sha256=facts.sha256,
        )

    def _accepted_by_an_earlier_try(
        self, context: Context, hook: GongCrmHook, integration_id: IntegrationId, candidates: list[str]
    ) -> UploadResult | None:
        """On a retry, ask Gong whether it already has this file's id (or an id an earlier release
        gave it): if so, do not send the file again."""
        ti = context["ti"]
        if int(getattr(ti, "try_number", 1) or 1) <= 1:
            return None
        for client_request_id in dict.fromkeys(candidates):
            try:
                status = hook.get_request_status(integration_id, client_request_id)
            except GongBadRequestError:  # Gong does not know the id
                continue
            except GongError as error:
                if not is_transient(error):
                    raise
                return None  # cannot tell now; the upload's 409 will tell
            self.log.info(
                "Retry: Gong already has clientRequestId %s (%s)", client_request_id, status.status.value
            )
            return UploadResult(
                client_request_id=client_request_id, request_id=status.request_id, already_accepted=True
            )
        return None

    def _wait_until_processed(
        self, hook: GongCrmHook, progress: UploadProgress, integration_id: IntegrationId, object_type: str
    ) -> None:
        """Until every accepted file is DONE (or FAILED, which fails the task), by the one wait policy.

        Deferrable: every pending file is checked once first, and the task defers once for whatever
        is still pending (no deferral when all are done)."""
        pending = [u.client_request_id for u in progress.awaiting_processing() if u.client_request_id]
        if not pending:
            return
        wait = StatusWait(
            pending,
            deadline=progress.deadline,
            poll_interval=self.poll_interval,
            max_poll_interval=self.max_poll_interval,
        )
        if self.deferrable:
            decision = check_round(hook, integration_id, wait)
            if isinstance(decision, CheckAfter):
                self._accept_statuses(progress, wait.statuses, object_type)
                self._defer_until_processed(wait.pending, integration_id, progress)
            statuses = finished_statuses(decision)
        else:
            statuses = wait_until_finished(hook, integration_id, wait)
        self._accept_statuses(progress, statuses, object_type)

    def _defer_until_processed(
        self, client_request_ids: list[str], integration_id: IntegrationId, progress: UploadProgress
    ) -> None:
        """Hand the wait to the triggerer; the progress rides in the trigger's ``carry``."""
        self.log.info(
            "Deferring the wait for Gong request(s) %s to the triggerer", ", ".join(client_request_ids)
        )
        self.defer(
            trigger=GongRequestStatusTrigger(
                integration_id=str(integration_id),
                client_request_ids=client_request_ids,
                end_time=progress.deadline,
                gong_conn_id=self.gong_conn_id,
                poll_interval=self.poll_interval,
                max_poll_interval=self.max_poll_interval,
                carry=progress.to_dict(),
            ),
            method_name="execute_complete",
            timeout=deferral_timeout(progress.deadline),
        )

    def _accept_statuses(
        self, progress: UploadProgress, statuses: dict[str, RequestStatus], object_type: str
    ) -> None:
        """Accept each awaited file's terminal status (in upload order), or fail the task."""
        for upload in progress.awaiting_processing():
            status = statuses.get(upload.client_request_id or "")
            if status is not None:
                self._accept_processing(upload, status, object_type)

    def _accept_processing(self, upload: FileUpload, status: RequestStatus, object_type: str) -> None:
        """Record Gong's terminal status, or fail the task (naming each line error's record, or both
        counts when Gong's success + error counts are not the file's records)."""
        staged = None
        if status.errors:
            staged = upload.source.staged or staged_file_for(upload.source.path, object_type)
        assert upload.client_request_id is not None
        check_status(
            status,
            client_request_id=upload.client_request_id,
            fail_on_record_errors=self.fail_on_record_errors,
            staged=staged,
            records=upload.records,
        )
        if self.require_every_record and (status.errors or status.total_error_count):
            message = describe_failure(status, client_request_id=upload.client_request_id, staged=staged)
            raise GongUploadFailed(f"{message}\n(require_every_record: every record must be stored)")
        upload.record_processing(status)
