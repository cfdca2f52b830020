"""The six CRM entity types of Gong's upload API as one declarative table.

Each field has a kind (how it is normalized and checked), a mandatory rule and Gong's documented
default. Defaults are documentation only: Gong applies them itself, so staging never adds a field
the user did not send. Keys that are not in a type's table are custom fields (``/v2/crm/entity-schema``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gong_provider.models import CustomField, ObjectType


class Kind(str, enum.Enum):
    """How a field's value is normalized and validated."""

    OBJECT_ID = "objectId"
    STRING = "string"
    DATETIME = "datetime"
    DATE = "date"
    BOOLEAN = "boolean"
    NUMBER = "number"
    INTEGER = "integer"
    URL = "url"
    EMAIL = "email"
    DEAL_STATUS = "dealStatus"
    STRING_LIST = "stringList"
    PICKLIST = "picklist"


DEAL_STATUSES = ("OPEN", "WON", "LOST")


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: Kind
    mandatory: bool = False
    mandatory_unless_deleted: bool = False
    """Mandatory, except on a record with ``isDeleted: true`` (BUSINESS_USER's emailAddress)."""
    default: Any = None
    choices: tuple[str, ...] | None = None
    """Allowed values of a picklist (custom fields with an ``orderedValueList``)."""


@dataclass(frozen=True)
class EntitySpec:
    object_type: ObjectType
    fields: Mapping[str, FieldSpec] = field(default_factory=dict)

    @property
    def mandatory(self) -> tuple[str, ...]:
        return tuple(name for name, spec in self.fields.items() if spec.mandatory)


def _spec(object_type: ObjectType, *fields: FieldSpec) -> EntitySpec:
    return EntitySpec(object_type, {f.name: f for f in fields})


_OBJECT_ID = FieldSpec("objectId", Kind.OBJECT_ID, mandatory=True)
_MODIFIED = FieldSpec("modifiedDate", Kind.DATETIME, mandatory=True)
_DELETED = FieldSpec("isDeleted", Kind.BOOLEAN, default=False)
_URL = FieldSpec("url", Kind.URL)


def _strings(*names: str) -> tuple[FieldSpec, ...]:
    return tuple(FieldSpec(name, Kind.STRING) for name in names)


SPECS: dict[ObjectType, EntitySpec] = {
    ObjectType.BUSINESS_USER: _spec(
        ObjectType.BUSINESS_USER,
        _OBJECT_ID,
        _MODIFIED,
        _DELETED,
        _URL,
        FieldSpec("emailAddress", Kind.EMAIL, mandatory_unless_deleted=True),
    ),
    ObjectType.STAGE: _spec(
        ObjectType.STAGE,
        _OBJECT_ID,
        FieldSpec("name", Kind.STRING, mandatory=True),
        FieldSpec("isActive", Kind.BOOLEAN, default=True),
        FieldSpec("sortOrder", Kind.INTEGER, default=1),
        # Not in Gong's field table for stages, but sent in Gong's own example: accepted, optional.
        FieldSpec("modifiedDate", Kind.DATETIME),
    ),
    ObjectType.ACCOUNT: _spec(
        ObjectType.ACCOUNT,
        _OBJECT_ID,
        _MODIFIED,
        _DELETED,
        _URL,
        FieldSpec("name", Kind.STRING, default="Account_#<objectId>"),
        FieldSpec("domains", Kind.STRING_LIST),
    ),
    ObjectType.CONTACT: _spec(
        ObjectType.CONTACT,
        _OBJECT_ID,
        _MODIFIED,
        _DELETED,
        _URL,
        *_strings("accountId"),
        FieldSpec("emailAddress", Kind.EMAIL),
        *_strings("firstName", "lastName", "title", "phoneNumber"),
    ),
    ObjectType.DEAL: _spec(
        ObjectType.DEAL,
        _OBJECT_ID,
        _MODIFIED,
        _DELETED,
        _URL,
        *_strings("accountId", "ownerId"),
        FieldSpec("name", Kind.STRING, default="Deal_#<objectId>"),
        FieldSpec("createdDate", Kind.DATETIME),
        FieldSpec("closeDate", Kind.DATE),
        FieldSpec("status", Kind.DEAL_STATUS, default="OPEN"),
        FieldSpec("stage", Kind.STRING),
        FieldSpec("amount", Kind.NUMBER, default=0),
    ),
    ObjectType.LEAD: _spec(
        ObjectType.LEAD,
        _OBJECT_ID,
        _MODIFIED,
        _DELETED,
        _URL,
        FieldSpec("emailAddress", Kind.EMAIL),
        *_strings(
            "firstName",
            "lastName",
            "title",
            "phoneNumber",
            "convertedToDealId",
            "convertedToContactId",
            "convertedToAccountId",
        ),
    ),
}

CUSTOM_FIELD_KINDS: dict[str, Kind] = {
    "DATE": Kind.DATE,
    "DATETIME": Kind.DATETIME,
    "NUMBER": Kind.NUMBER,
    "PERCENT": Kind.NUMBER,
    "CURRENCY": Kind.NUMBER,
    "ID": Kind.STRING,
    "URL": Kind.URL,
    "STRING": Kind.STRING,
    "BOOLEAN": Kind.BOOLEAN,
    "PHONENUMBER": Kind.STRING,
    "EMAILADDRESS": Kind.EMAIL,
    "PICKLIST": Kind.PICKLIST,
    "REFERENCE": Kind.STRING,
    "STRINGARRAY": Kind.STRING_LIST,
}
"""Gong's entity-schema field types and how their values are checked."""


def spec_for(object_type: ObjectType | str) -> EntitySpec:
    return SPECS[ObjectType(str(object_type))]


def custom_field_specs(custom_fields: Sequence[CustomField] | None) -> dict[str, FieldSpec] | None:
    """Field specs of an entity schema (deleted fields left out), or None when no schema is given."""
    if custom_fields is None:
        return None
    specs: dict[str, FieldSpec] = {}
    for custom in custom_fields:
        if custom.is_deleted:
            continue
        kind = CUSTOM_FIELD_KINDS.get(custom.type.upper(), Kind.STRING)
        choices = (
            tuple(custom.ordered_value_list) if kind is Kind.PICKLIST and custom.ordered_value_list else None
        )
        specs[custom.unique_name] = FieldSpec(custom.unique_name, kind, choices=choices)
    return specs


def standard_fields_table(object_type: ObjectType | str) -> str:
    """The type's standard fields as a Markdown table: what the documentation's field reference
    shows, rendered from :data:`SPECS` itself so the page and the checks cannot differ."""
    rows = ["| field | value | mandatory | Gong's default |", "|---|---|---|---|"]
    for spec in spec_for(object_type).fields.values():
        mandatory = "yes" if spec.mandatory else "unless isDeleted" if spec.mandatory_unless_deleted else ""
        default = (
            ""
            if spec.default is None
            else f"`{str(spec.default).lower() if isinstance(spec.default, bool) else spec.default}`"
        )
        rows.append(f"| `{spec.name}` | {_KIND_TEXT[spec.kind]} | {mandatory} | {default} |")
    return "\n".join(rows) + "\n"


_KIND_TEXT: dict[Kind, str] = {
    Kind.OBJECT_ID: "id: 1 to 64 of `A-Z a-z 0-9 _ -`, or an email address",
    Kind.STRING: "text",
    Kind.DATETIME: "date-time (ISO-8601; naive ones read in the staging time zone)",
    Kind.DATE: "date (`YYYY-MM-DD`)",
    Kind.BOOLEAN: "`true` / `false`",
    Kind.NUMBER: "number",
    Kind.INTEGER: "integer",
    Kind.URL: "http(s) URL",
    Kind.EMAIL: "email address",
    Kind.DEAL_STATUS: "`OPEN`, `WON` or `LOST`",
    Kind.STRING_LIST: "list of text (or comma-separated text)",
    Kind.PICKLIST: "one of the registered values",
}
"""How the field reference describes each kind of value."""
