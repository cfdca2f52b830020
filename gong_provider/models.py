"""Typed values of Gong's CRM API, shared by the hooks, operators, triggers, staging and emulator."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any

from gong_provider.ids import IntegrationId, parse_integration_id
from gong_provider.limits import MAX_OBJECT_IDS_PER_GET as MAX_OBJECT_IDS_PER_GET  # moved; kept for importers


class ObjectType(str, enum.Enum):
    """CRM object types, case-sensitive, in the order later types refer to earlier ones."""

    BUSINESS_USER = "BUSINESS_USER"
    STAGE = "STAGE"
    ACCOUNT = "ACCOUNT"
    CONTACT = "CONTACT"
    DEAL = "DEAL"
    LEAD = "LEAD"

    def __str__(self) -> str:
        return self.value


UPLOAD_WAVES: tuple[tuple[ObjectType, ...], ...] = (
    (ObjectType.BUSINESS_USER, ObjectType.STAGE),
    (ObjectType.ACCOUNT,),
    (ObjectType.CONTACT, ObjectType.DEAL, ObjectType.LEAD),
)
"""Upload order: each wave refers only to objects of earlier waves."""

SCHEMA_OBJECT_TYPES = (ObjectType.ACCOUNT, ObjectType.CONTACT, ObjectType.DEAL, ObjectType.LEAD)
"""Types whose custom fields are declared through ``/v2/crm/entity-schema``."""


class RequestState(str, enum.Enum):
    """Processing state of an upload or delete request (``/v2/crm/request-status``)."""

    PENDING = "PENDING"
    IN_PROGRESS = "IN_PROGRESS"
    DONE = "DONE"
    FAILED = "FAILED"

    @property
    def is_terminal(self) -> bool:
        """DONE or FAILED: Gong will not change it any more."""
        return self in (RequestState.DONE, RequestState.FAILED)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Integration:
    """A generic CRM integration, as Gong lists it."""

    integration_id: IntegrationId
    owner_email: str
    name: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Integration:
        """Build from an item of Gong's integration list."""
        return cls(
            integration_id=parse_integration_id(data["integrationId"]),
            owner_email=str(data.get("ownerEmail", "")),
            name=str(data.get("name", "")),
        )


@dataclass(frozen=True)
class UploadResult:
    """Outcome of ``POST /v2/crm/entities``.

    ``already_accepted`` is True when Gong answered 409 for this clientRequestId: our ids are
    deterministic, so a 409 on a retry means Gong already holds this very file.
    """

    client_request_id: str
    request_id: str | None
    already_accepted: bool = False


@dataclass(frozen=True)
class RecordError:
    """One error of a FAILED request. ``line`` is 1-based; 0 marks a general (file-level) error."""

    line: int
    description: str

    @property
    def is_general(self) -> bool:
        """A file-level error (``line`` 0): it fails the request whatever ``fail_on_record_errors`` says."""
        return self.line == 0


@dataclass(frozen=True)
class RequestStatus:
    """Gong's answer to ``GET /v2/crm/request-status``: the state, the counts and the line errors."""

    request_id: str | None
    status: RequestState
    errors: list[RecordError] = field(default_factory=list)
    total_error_count: int = 0
    total_success_count: int = 0

    @property
    def has_general_error(self) -> bool:
        """Whether one of the errors is file-level (``line`` 0)."""
        return any(error.is_general for error in self.errors)

    def refused_lines(self) -> frozenset[int] | None:
        """The lines Gong refused, when this answer proves that every other line was stored; None
        when it proves nothing: not terminal, a general error, FAILED with no error listed, or a list
        that ``totalErrorCount`` (optional in Gong's OpenAPI: absent reads 0) does not show complete
        (Gong lists at most 20). One rule for every reader of an answer."""
        if self.status not in (RequestState.DONE, RequestState.FAILED) or self.has_general_error:
            return None
        if self.total_error_count != len(self.errors):
            return None
        if not self.errors and self.status is RequestState.FAILED:
            return None
        return frozenset(error.line for error in self.errors)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RequestStatus:
        """Build from Gong's response, ignoring fields Gong may add without notice."""
        return cls(
            request_id=data.get("requestId"),
            status=RequestState(data["status"]),
            errors=[
                RecordError(line=int(item.get("line", 0)), description=str(item.get("description", "")))
                for item in data.get("errors") or []
            ],
            total_error_count=int(data.get("totalErrorCount") or 0),
            total_success_count=int(data.get("totalSuccessCount") or 0),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, for XCom and trigger events."""
        data = asdict(self)
        data["status"] = self.status.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RequestStatus:
        """Inverse of :meth:`to_dict`."""
        return cls(
            request_id=data.get("request_id"),
            status=RequestState(data["status"]),
            errors=[RecordError(**error) for error in data.get("errors") or []],
            total_error_count=int(data.get("total_error_count") or 0),
            total_success_count=int(data.get("total_success_count") or 0),
        )


@dataclass(frozen=True)
class CustomField:
    """A custom field of ``/v2/crm/entity-schema`` (Gong's camelCase names in ``to_json``)."""

    unique_name: str
    label: str
    type: str
    ordered_value_list: list[str] | None = None
    last_modified: str | None = None
    is_deleted: bool = False
    reference_to: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The field as ``POST /v2/crm/entity-schema`` takes it."""
        data: dict[str, Any] = {"uniqueName": self.unique_name, "label": self.label, "type": self.type}
        if self.ordered_value_list is not None:
            data["orderedValueList"] = list(self.ordered_value_list)
        if self.last_modified is not None:
            data["lastModified"] = self.last_modified
        if self.is_deleted:
            data["isDeleted"] = True
        if self.reference_to is not None:
            data["referenceTo"] = self.reference_to
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CustomField:
        """Accept both the POST shape (``uniqueName``) and the GET shape (``name``)."""
        unique_name = str(data.get("uniqueName") or data["name"])
        return cls(
            unique_name=unique_name,
            label=str(data.get("label") or unique_name),
            type=str(data.get("type", "STRING")),
            ordered_value_list=data.get("orderedValueList"),
            last_modified=data.get("lastModified"),
            is_deleted=bool(data.get("isDeleted") or False),
            reference_to=data.get("referenceTo"),
        )
