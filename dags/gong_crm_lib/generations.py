"""Uploads the later generations of one type, one generation after another, waiting without a worker.

The staging library puts the 2nd, 3rd, ... update of an objectId into generation 1, 2, ...; Gong
applies files in no guaranteed order, so generation n+1 is uploaded only once every file of
generation n is DONE. Generation 0 (all the data, usually) is uploaded by the mapped upload tasks;
this operator handles the rest in a loop of upload -> defer (GongRequestStatusTrigger) -> resume,
so no worker slot is held while Gong processes. With no later generation it returns at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseOperator


class GongUploadLaterGenerationsOperator(BaseOperator):
    template_fields: Sequence[str] = ("integration_id", "manifest_path", "resend_key")

    def __init__(
        self,
        *,
        object_type: str,
        integration_id: str,
        manifest_path: str,
        gong_conn_id: str = "gong_default",
        resend_key: str = "",
        poll_interval: float = 5.0,
        max_poll_interval: float = 60.0,
        wait_timeout: timedelta = timedelta(hours=6),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.object_type = object_type
        self.integration_id = integration_id
        self.manifest_path = manifest_path
        self.gong_conn_id = gong_conn_id
        self.resend_key = resend_key
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.wait_timeout = wait_timeout

    def _later_generations(self) -> list[list[Any]]:
        from gong_crm_lib.tasks import _out_dir
        from gong_provider.staging import load_manifest

        if not self.manifest_path:
            return []
        return load_manifest(_out_dir(str(self.manifest_path))).generations[1:]

    def execute(self, context: Any) -> list[dict[str, Any]]:
        return self._advance(done=[], uploaded=[])

    def resume(
        self, context: Any, event: Any = None, *, done: list[dict[str, Any]], uploaded: list[str]
    ) -> list[dict[str, Any]]:
        return self._advance(done=done, uploaded=uploaded)

    def _advance(self, *, done: list[dict[str, Any]], uploaded: list[str]) -> list[dict[str, Any]]:
        from gong_provider.hooks.gong import GongCrmHook

        from gong_crm_lib.tasks import client_request_id, parse_integration_id
        from gong_provider.exceptions import GongRequestFailedError
        from gong_provider.models import RequestState

        integration_id = parse_integration_id(self.integration_id)
        generations = self._later_generations()
        hook = GongCrmHook(self.gong_conn_id)
        while len(done) < len(generations):
            number = len(done) + 1
            files = generations[len(done)]
            ids = [
                client_request_id(integration_id, self.object_type, f.sha256, str(self.resend_key or ""))
                for f in files
            ]
            already = 0
            for staged, request_id in zip(files, ids, strict=True):
                if request_id in uploaded:
                    continue
                result = hook.upload_entities(integration_id, self.object_type, request_id, staged.path)
                already += int(result.already_accepted)
                uploaded.append(request_id)
                self.log.info(
                    "Generation %s of %s: uploaded %s as %s",
                    number,
                    self.object_type,
                    staged.path,
                    request_id,
                )
            statuses = [hook.get_request_status(integration_id, request_id) for request_id in ids]
            pending = [
                rid for rid, status in zip(ids, statuses, strict=True) if not status.status.is_terminal
            ]
            if pending:
                self._defer_on(integration_id, pending[0], done=done, uploaded=uploaded)
            failed = [
                (rid, s) for rid, s in zip(ids, statuses, strict=True) if s.status == RequestState.FAILED
            ]
            if failed:
                details = "; ".join(
                    f"{rid}: " + ", ".join(f"line {e.line}: {e.description}" for e in s.errors[:20])
                    for rid, s in failed
                )
                raise GongRequestFailedError(
                    f"Gong reported FAILED for generation {number} of {self.object_type}: {details}"
                )
            done.append(
                {
                    "generation": number,
                    "client_request_ids": ids,
                    "records": sum(f.records for f in files),
                    "already_accepted": already,
                    "total_success_count": sum(s.total_success_count for s in statuses),
                    "total_error_count": sum(s.total_error_count for s in statuses),
                }
            )
        return done

    def _defer_on(
        self, integration_id: int, request_id: str, *, done: list[dict[str, Any]], uploaded: list[str]
    ) -> None:
        from datetime import datetime, timezone

        from gong_provider.triggers.gong import GongRequestStatusTrigger

        self.log.info("Waiting for Gong to process %s (deferred to the triggerer)", request_id)
        self.defer(
            trigger=GongRequestStatusTrigger(
                integration_id=integration_id,
                client_request_id=request_id,
                gong_conn_id=self.gong_conn_id,
                poll_interval=self.poll_interval,
                max_poll_interval=self.max_poll_interval,
                end_time=(datetime.now(timezone.utc) + self.wait_timeout).timestamp(),
            ),
            method_name="resume",
            kwargs={"done": done, "uploaded": uploaded},
        )
