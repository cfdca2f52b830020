"""The upload operator's progress: one typed record per file, kept in one place across deferrals.

A deferred task resumes in a new process, and ``dag.test()`` / ``airflow dags test`` resume it with
the trigger's event alone, so the progress travels as primitives in the trigger's ``carry`` and comes
back inside its event (:meth:`UploadProgress.to_dict`, :meth:`UploadProgress.from_event`). What the
task returns is built from it (:meth:`UploadProgress.xcom`), in the shape the operator documents.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from gong_provider.exceptions import GongEventError
from gong_provider.models import RequestStatus, UploadResult
from gong_provider.operators.upload_files import FileFacts, UploadFile
from gong_provider.rows import StatusEvent, UploadRow
from gong_provider.staging.manifest import StagedFile
from gong_provider.waiting.events import status_summary


@dataclass
class FileUpload:
    """One file on its way: planned, then accepted by Gong (:meth:`record_acceptance`), then
    processed (:meth:`record_processing`)."""

    source: UploadFile
    client_request_id: str | None = None
    """Set when Gong accepted the file (or already had it: a retry, a 409)."""
    request_id: str | None = None
    records: int = 0
    bytes: int = 0
    already_accepted: bool = False
    processed: RequestStatus | None = None
    """Gong's terminal status, set once the task has waited for it and accepted it."""

    @property
    def is_accepted(self) -> bool:
        return self.client_request_id is not None

    @property
    def awaits_processing(self) -> bool:
        return self.is_accepted and self.processed is None

    def record_acceptance(self, result: UploadResult, facts: FileFacts) -> None:
        self.client_request_id = result.client_request_id
        self.request_id = result.request_id
        self.already_accepted = result.already_accepted
        self.records = facts.records
        self.bytes = facts.bytes

    def record_processing(self, status: RequestStatus) -> None:
        self.processed = status

    def xcom(self, integration_id: int, object_type: str) -> UploadRow:
        """The file's XCom: ids, counts and, once processed, Gong's status and line errors."""
        row: UploadRow = {
            "client_request_id": self.client_request_id,
            "request_id": self.request_id,
            "integration_id": str(integration_id),
            "object_type": object_type,
            "file": self.source.path,
            "records": self.records,
            "bytes": self.bytes,
            "already_accepted": self.already_accepted,
            "plan_token": self.source.plan_token,
        }
        if self.processed is None:
            return row
        processed: UploadRow = {**row, **status_summary(self.processed)}
        return processed

    def to_dict(self) -> dict[str, Any]:
        """Primitives only (ids, paths, counts): safe to serialize with a trigger, never a credential."""
        staged = self.source.staged
        return {
            "path": self.source.path,
            "generation": self.source.generation,
            "item": self.source.item,
            "from_manifest": self.source.from_manifest,
            "plan_token": self.source.plan_token,
            "staged": asdict(staged) if staged is not None else None,
            "client_request_id": self.client_request_id,
            "request_id": self.request_id,
            "records": self.records,
            "bytes": self.bytes,
            "already_accepted": self.already_accepted,
            "processed": self.processed.to_dict() if self.processed is not None else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FileUpload:
        """Inverse of :meth:`to_dict`."""
        staged = data.get("staged")
        processed = data.get("processed")
        return cls(
            source=UploadFile(
                path=str(data["path"]),
                generation=int(data["generation"]),
                staged=StagedFile(**staged) if staged is not None else None,
                item=int(data.get("item") or 0),
                # a carry of an earlier release: its staged files came from one manifest
                from_manifest=bool(data.get("from_manifest", staged is not None)),
                plan_token=data.get("plan_token"),  # absent from an earlier release's carry: None
            ),
            client_request_id=data.get("client_request_id"),
            request_id=data.get("request_id"),
            records=int(data.get("records") or 0),
            bytes=int(data.get("bytes") or 0),
            already_accepted=bool(data.get("already_accepted")),
            processed=RequestStatus.from_dict(processed) if processed is not None else None,
        )


@dataclass
class UploadProgress:
    """Every file the operator's ``file`` names, in upload order, and the wait's deadline."""

    files: list[FileUpload]
    several: bool
    """``file`` named several files (a list or a manifest): the XCom is a list, else one dict."""
    deadline: float
    """Epoch seconds when waiting must stop (wall clock: the task may resume in another process)."""

    @classmethod
    def plan(cls, sources: list[UploadFile], *, several: bool, deadline: float) -> UploadProgress:
        return cls([FileUpload(source) for source in sources], several, deadline)

    def awaiting_processing(self) -> list[FileUpload]:
        """The files Gong accepted whose processing the task has not seen finish, in upload order."""
        return [upload for upload in self.files if upload.awaits_processing]

    def xcom(self, integration_id: int, object_type: str) -> list[UploadRow] | UploadRow:
        """What the task returns: a list for several files, else the one file's dict."""
        results = [upload.xcom(integration_id, object_type) for upload in self.files]
        return results if self.several else results[0]

    def to_dict(self) -> dict[str, Any]:
        """The trigger's ``carry``: primitives only."""
        return {
            "files": [upload.to_dict() for upload in self.files],
            "several": self.several,
            "deadline": self.deadline,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UploadProgress:
        """Inverse of :meth:`to_dict`."""
        return cls(
            files=[FileUpload.from_dict(item) for item in data["files"]],
            several=bool(data["several"]),
            deadline=float(data["deadline"]),
        )

    @classmethod
    def from_event(cls, event: StatusEvent) -> UploadProgress:
        """The progress the trigger carried back in its (validated) event; raises
        :class:`~gong_provider.exceptions.GongEventError` when the event holds none."""
        carried = event.get("carry")
        if not isinstance(carried, dict) or "files" not in carried:
            raise GongEventError(f"Resumed without the upload state: {event!r}")
        return cls.from_dict(carried)
