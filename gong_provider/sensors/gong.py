"""GongRequestStatusSensor: waits until Gong has processed an upload (DONE), failing clearly on FAILED."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.configuration import conf

from gong_provider.airflow_compat import AirflowSensorTimeout
from gong_provider.exceptions import GongWaitTimeout
from gong_provider.ids import IntegrationId, check_client_request_id, parse_integration_id
from gong_provider.models import RequestStatus
from gong_provider.operators.upload_files import resolve_files, staged_file_for
from gong_provider.rows import WaitRow
from gong_provider.staging.manifest import StagedFile
from gong_provider.triggers.gong import GongRequestStatusTrigger
from gong_provider.waiting.deadline import deferral_timeout, seconds, wait_deadline
from gong_provider.waiting.events import check_status, status_from_event, status_summary
from gong_provider.waiting.policy import QUOTA, Finished, StatusWait
from gong_provider.waiting.poll_schedule import (
    DEFAULT_MAX_POLL_INTERVAL,
    DEFAULT_POLL_INTERVAL,
    poke_interval_after,
)
from gong_provider.waiting.polling import check_round, finished_statuses

if TYPE_CHECKING:
    from airflow.sdk import Context

    from gong_provider.hooks.gong import GongCrmHook


class GongRequestStatusSensor(BaseSensorOperator):
    """Wait for Gong to finish processing an upload (``/v2/crm/request-status``).

    DONE succeeds and returns (XCom) ``{status, client_request_id, integration_id, total_success_count,
    total_error_count, errors, request_status_id}`` (a :class:`~gong_provider.rows.WaitRow`).
    FAILED fails the task with Gong's line errors (at most 20) and counts, naming the objectId and
    source line of each when ``file`` (a staged file, or a manifest) is given.
    ``fail_on_record_errors=False`` logs record errors as a warning instead; a general error
    (``line: 0``) always fails. Transient errors (429, 5xx, no answer) never fail the
    task: the sensor keeps waiting until ``timeout``; any other (401, an unknown request, a certificate
    that fails verification) fails it at once.

    Every mode waits by the one wait policy (:mod:`gong_provider.waiting.policy`): intervals grow
    x1.5 from ``poke_interval`` to ``max_poll_interval`` (poke and reschedule modes too), each check
    and the hook's retries inside it end by the deadline ``min(timeout, execution_timeout)``, and a
    Retry-After longer than the time left fails the wait at once with a "quota" message.
    Deferrable (default from ``[operators] default_deferrable``): the wait runs in the triggerer.

    :param integration_id: Gong's integration id, an int or a string of digits (templated).
    :param client_request_id: the clientRequestId of the upload to wait for (templated).
    :param gong_conn_id: Airflow connection of type ``gong``.
    :param file: optional: the staged file (or its manifest) that was uploaded, so that each of Gong's
        line errors names its objectId and source line (templated).
    :param fail_on_record_errors: fail on record errors; ``False`` logs them as a warning.
    :param deferrable: wait in the triggerer, holding no worker slot (default
        ``[operators] default_deferrable``).
    :param poke_interval: the first wait between status checks, in seconds or a timedelta (default 5).
    :param max_poll_interval: the longest wait between status checks (default 60).
    """

    template_fields: Sequence[str] = ("integration_id", "client_request_id", "file", "gong_conn_id")
    ui_color = "#8f5cff"

    def __init__(
        self,
        *,
        integration_id: int | str,
        client_request_id: str,
        gong_conn_id: str = "gong_default",
        file: Any = None,
        fail_on_record_errors: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poke_interval: float | timedelta = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float | timedelta = DEFAULT_MAX_POLL_INTERVAL,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, **kwargs)
        self.integration_id = integration_id
        self.client_request_id = client_request_id
        self.gong_conn_id = gong_conn_id
        self.file = file
        self.fail_on_record_errors = fail_on_record_errors
        self.deferrable = deferrable
        self.max_poll_interval = seconds(max_poll_interval) or DEFAULT_MAX_POLL_INTERVAL
        self._deadline: float | None = None

    @cached_property
    def hook(self) -> GongCrmHook:
        """One hook for every poke: the connection is looked up once, not every ``poke_interval``."""
        from gong_provider.hooks.gong import GongCrmHook  # lazy: keeps DAG parsing fast

        return GongCrmHook(self.gong_conn_id)

    @cached_property
    def parsed_integration_id(self) -> IntegrationId:
        """``integration_id`` parsed once, on first use in ``poke``/``execute``: after templating
        (before it, a templated field is the template's text)."""
        return parse_integration_id(self.integration_id)

    def _staged(self) -> StagedFile | None:
        """The staged file the request uploaded, for mapping Gong's line errors back to records."""
        if not self.file:
            return None
        try:
            files, _ = resolve_files(self.file)
        except Exception as error:
            self.log.warning("file %r cannot be read for error mapping: %s", self.file, error)
            return None
        if len(files) != 1:
            return None
        only = files[0]
        return only.staged or staged_file_for(only.path, "")

    def _result(self, status: RequestStatus) -> WaitRow:
        staged = self._staged()
        check_status(
            status,
            client_request_id=self.client_request_id,
            fail_on_record_errors=self.fail_on_record_errors,
            staged=staged if status.errors else None,
            records=staged.records if staged is not None and staged.sha256 else None,
        )
        return {
            "client_request_id": self.client_request_id,
            "integration_id": str(self.parsed_integration_id),
            **status_summary(status),
        }

    def _status_wait(self) -> StatusWait:
        """The wait this poke belongs to: its deadline is fixed by the first poke of this process."""
        deadline = getattr(self, "_deadline", None)
        if deadline is None:
            deadline = self._deadline = wait_deadline(self.timeout, self.execution_timeout)
        return StatusWait(
            [self.client_request_id],
            deadline=deadline,
            poll_interval=self.poke_interval,
            max_poll_interval=self.max_poll_interval,
        )

    def poke(self, context: Context) -> PokeReturnValue:
        # one check by the wait policy: finished, not yet, or failed (quota, a non-transient error)
        check_client_request_id(self.client_request_id, stored=True)
        with self.hook as hook:
            decision = check_round(hook, self.parsed_integration_id, self._status_wait())
        if isinstance(decision, Finished):
            status = finished_statuses(decision)[self.client_request_id]
            return PokeReturnValue(is_done=True, xcom_value=self._result(status))
        if getattr(decision, "kind", None) == QUOTA:
            finished_statuses(decision)  # raises the quota error
        return PokeReturnValue(is_done=False)

    def _get_next_poke_interval(
        self, started_at: Any, run_duration: Callable[[], float], poke_count: int
    ) -> float:
        """Growing waits in poke and reschedule modes alike (Airflow's ``BaseSensorOperator`` hook):
        the wait policy's schedule, from the time waited so far, capped by the time left."""
        wait = poke_interval_after(run_duration(), self.poke_interval, self.max_poll_interval)
        return max(min(wait, self.timeout - run_duration()), 0.0)

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        first = self.poke(context)
        if first.is_done:
            return first.xcom_value
        deadline = wait_deadline(self.timeout, self.execution_timeout)
        self.log.info("Deferring the wait for Gong request %s to the triggerer", self.client_request_id)
        self.defer(
            trigger=GongRequestStatusTrigger(
                integration_id=str(self.parsed_integration_id),
                client_request_id=self.client_request_id,
                end_time=deadline,
                gong_conn_id=self.gong_conn_id,
                poll_interval=self.poke_interval,
                max_poll_interval=self.max_poll_interval,
            ),
            method_name="execute_complete",
            timeout=deferral_timeout(deadline),
        )
        return None  # pragma: no cover - defer() raises TaskDeferred

    def execute_complete(self, context: Context, event: Any = None) -> WaitRow:
        """Validate the trigger's event: only DONE (or tolerated record errors) succeeds."""
        try:
            status = status_from_event(event, client_request_id=self.client_request_id)
        except GongWaitTimeout as error:
            raise AirflowSensorTimeout(str(error)) from error
        return self._result(status)
