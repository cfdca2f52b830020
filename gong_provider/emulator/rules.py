"""Gong's record and schema rules, as its documentation states them.

Deliberately independent of ``gong_provider.staging``: the emulator is the oracle the staging code
is tested against, so it must not share (and silently agree with) the staging code's bugs. Only the
UTF-8 check (``gong_provider.utf8``, the standard library's decoder) is shared.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Literal

import msgspec

from gong_provider.utf8 import invalid_utf8_offset

OBJECT_TYPES = ("BUSINESS_USER", "STAGE", "ACCOUNT", "CONTACT", "DEAL", "LEAD")
SCHEMA_OBJECT_TYPES = ("ACCOUNT", "CONTACT", "DEAL", "LEAD")
FIELD_TYPES = (
    "DATE",
    "DATETIME",
    "NUMBER",
    "PERCENT",
    "CURRENCY",
    "ID",
    "URL",
    "STRING",
    "BOOLEAN",
    "PHONENUMBER",
    "EMAILADDRESS",
    "PICKLIST",
    "REFERENCE",
    "STRINGARRAY",
)
REFERENCE_TARGETS = ("ACCOUNT", "CONTACT", "DEAL", "LEAD", "USER")
DEAL_STATUSES = ("OPEN", "WON", "LOST")
MAX_OBJECT_ID_LENGTH = 64
MAX_ERRORS = 20
"""Gong returns at most 20 errors per request."""

_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_OBJECT_ID = re.compile(r"[A-Za-z0-9_-]+")
_EMAIL = re.compile(r"[^@\s\"(),:;<>\[\]\\]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_DATETIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:Z|[+-](\d{2}):(\d{2}))")
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#]\S*")

DATETIME_HINT = (
    "an ISO-8601 date-time without milliseconds, with Z or an offset (e.g. 2019-01-03T23:45:57+01:00)"
)


def is_valid_client_request_id(value: str) -> bool:
    """Letters, digits, ``-`` and ``_``; at most 64 characters (Gong documents no maximum)."""
    return _CLIENT_REQUEST_ID.fullmatch(value) is not None


def is_valid_object_id(value: str) -> bool:
    """At most 64 characters: letters, digits, ``-``, ``_``, or an email address."""
    if len(value) > MAX_OBJECT_ID_LENGTH:
        return False
    return _OBJECT_ID.fullmatch(value) is not None or _EMAIL.fullmatch(value) is not None


@lru_cache(maxsize=65536)
def is_datetime(value: str) -> bool:
    """ISO-8601 date-time, seconds precision, ``Z`` or ``+HH:MM`` offset, and a real calendar time."""
    match = _DATETIME.fullmatch(value)
    if match is None:
        return False
    year, month, day, hour, minute, second, off_hours, off_minutes = match.groups()
    try:
        datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
    except ValueError:
        return False
    return off_hours is None or (int(off_hours) <= 18 and int(off_minutes) <= 59)


@lru_cache(maxsize=65536)
def is_date(value: str) -> bool:
    match = _DATE.fullmatch(value)
    if match is None:
        return False
    try:
        date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return False
    return True


def _string(value: Any) -> bool:
    return type(value) is str


def _email(value: Any) -> bool:
    return type(value) is str and _EMAIL.fullmatch(value) is not None


def _url(value: Any) -> bool:
    return type(value) is str and _URL.fullmatch(value) is not None


def _datetime(value: Any) -> bool:
    return type(value) is str and is_datetime(value)


def _date(value: Any) -> bool:
    return type(value) is str and is_date(value)


def _boolean(value: Any) -> bool:
    return type(value) is bool


def _number(value: Any) -> bool:
    return type(value) is int or type(value) is float


def _percent(value: Any) -> bool:
    return (type(value) is int or type(value) is float) and 0 <= value <= 100


def _integer(value: Any) -> bool:
    return type(value) is int


def _string_array(value: Any) -> bool:
    return type(value) is list and all(type(item) is str for item in value)


def _deal_status(value: Any) -> bool:
    return value in DEAL_STATUSES and type(value) is str


Check = tuple[Callable[[Any], bool], str]
"""A value check and the phrase that completes "Field [x] must be ..."."""

STRING: Check = (_string, "a string")
EMAIL: Check = (_email, "a valid email address")
URL: Check = (_url, "a full URL (e.g. https://crm.example.com/objects/1)")
DATETIME: Check = (_datetime, DATETIME_HINT)
DATE: Check = (_date, "a date YYYY-MM-DD (e.g. 2022-09-04)")
BOOLEAN: Check = (_boolean, "a boolean (true or false)")
NUMBER: Check = (_number, "a number")
PERCENT: Check = (_percent, "a number between 0 and 100")
INTEGER: Check = (_integer, "an integer")
STRING_ARRAY: Check = (_string_array, "an array of strings")
DEAL_STATUS: Check = (_deal_status, "one of OPEN, WON, LOST")

_COMMON: dict[str, Check] = {"modifiedDate": DATETIME, "isDeleted": BOOLEAN, "url": URL}
_PERSON: dict[str, Check] = {
    "emailAddress": EMAIL,
    "firstName": STRING,
    "lastName": STRING,
    "title": STRING,
    "phoneNumber": STRING,
}

STANDARD_FIELDS: dict[str, dict[str, Check]] = {
    "BUSINESS_USER": {**_COMMON, "emailAddress": EMAIL},
    "STAGE": {**_COMMON, "name": STRING, "isActive": BOOLEAN, "sortOrder": INTEGER},
    "ACCOUNT": {**_COMMON, "name": STRING, "domains": STRING_ARRAY},
    "CONTACT": {**_COMMON, **_PERSON, "accountId": STRING},
    "DEAL": {
        **_COMMON,
        "accountId": STRING,
        "ownerId": STRING,
        "name": STRING,
        "createdDate": DATETIME,
        "closeDate": DATE,
        "status": DEAL_STATUS,
        "stage": STRING,
        "amount": NUMBER,
    },
    "LEAD": {
        **_COMMON,
        **_PERSON,
        "convertedToDealId": STRING,
        "convertedToContactId": STRING,
        "convertedToAccountId": STRING,
    },
}
"""Documented fields per type (objectId is checked on its own)."""

MANDATORY_FIELDS: dict[str, tuple[str, ...]] = {
    "BUSINESS_USER": ("modifiedDate", "emailAddress"),
    "STAGE": ("name",),
    "ACCOUNT": ("modifiedDate",),
    "CONTACT": ("modifiedDate",),
    "DEAL": ("modifiedDate",),
    "LEAD": ("modifiedDate",),
}
"""Mandatory besides objectId. BUSINESS_USER's emailAddress is not needed when isDeleted is true."""

_CUSTOM_CHECKS: dict[str, Check] = {
    "DATE": DATE,
    "DATETIME": DATETIME,
    "NUMBER": NUMBER,
    "CURRENCY": NUMBER,
    "PERCENT": PERCENT,
    "BOOLEAN": BOOLEAN,
    "STRINGARRAY": STRING_ARRAY,
    "URL": URL,
    "EMAILADDRESS": EMAIL,
}


def _custom_check(field: Mapping[str, Any]) -> Check:
    field_type = str(field.get("type"))
    if field_type == "PICKLIST" and field.get("orderedValueList"):
        allowed = frozenset(field["orderedValueList"])
        return (lambda value: type(value) is str and value in allowed, "one of its orderedValueList")
    return _CUSTOM_CHECKS.get(field_type, STRING)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class RecordValidator:
    """Checks one decoded line of an upload of ``object_type`` against Gong's rules.

    Custom fields declared in the entity schema are checked against their declared type; other
    unknown keys are stored as sent. ``null`` counts as absent for every field.
    """

    def __init__(self, object_type: str, custom_fields: Sequence[Mapping[str, Any]] = ()) -> None:
        self.object_type = object_type
        self.checks: dict[str, Check] = {
            str(field["uniqueName"]): _custom_check(field) for field in custom_fields
        }
        self.checks.update(STANDARD_FIELDS[object_type])
        self.mandatory = MANDATORY_FIELDS[object_type]
        self.email_optional_when_deleted = object_type == "BUSINESS_USER"

    def check(self, record: Any) -> tuple[str | None, bool, list[str]]:
        """Return (objectId if it is a string, isDeleted, problems); no problems means valid."""
        if type(record) is not dict:
            return None, False, [f"Each line must be a JSON object, got a JSON {type(record).__name__}"]
        problems: list[str] = []
        object_id = record.get("objectId")
        if object_id is None or object_id == "":
            problems.append("Mandatory field [objectId] is missing or empty")
            object_id = None
        elif type(object_id) is not str:
            problems.append(f"Field [objectId] must be a string, got {_show(object_id)}")
            object_id = None
        elif not is_valid_object_id(object_id):
            problems.append(
                f"Field [objectId] must have at most {MAX_OBJECT_ID_LENGTH} characters of letters, digits,"
                f" '-' and '_', or be an email address, got {_show(object_id)}"
            )
        is_deleted = record.get("isDeleted") is True
        for name in self.mandatory:
            value = record.get(name)
            if (value is None or value == "") and not (
                is_deleted and self.email_optional_when_deleted and name == "emailAddress"
            ):
                problems.append(f"Mandatory field [{name}] is missing or empty")
        checks = self.checks
        for name, value in record.items():
            if value is None:
                continue
            check = checks.get(name)
            if check is not None and not check[0](value):
                problems.append(f"Field [{name}] must be {check[1]}, got {_show(value)}")
        return object_id, is_deleted, problems


_FAST_TYPES: dict[Check, Any] = {
    STRING: str | None,
    EMAIL: str | None,
    URL: str | None,
    DATETIME: str | None,
    DATE: str | None,
    BOOLEAN: bool | None,
    NUMBER: int | float | None,
    INTEGER: int | None,
    STRING_ARRAY: list[str] | None,
    DEAL_STATUS: Literal["OPEN", "WON", "LOST"] | None,
}
_STRING_CHECKS = (EMAIL, URL, DATETIME, DATE)
"""Checks msgspec's typed decoding cannot do; the fast path runs them on the decoded strings."""


class LineChecker:
    """Decodes and checks one LDJSON line; fast when the line is valid, thorough when it is not.

    The fast path decodes into a msgspec Struct of the type's documented fields (types checked in
    C) and runs the remaining string checks; any doubt falls back to the generic path
    (:class:`RecordValidator`), which alone writes the error messages. Types with declared custom
    fields always take the generic path.
    """

    def __init__(self, object_type: str, custom_fields: Sequence[Mapping[str, Any]] = ()) -> None:
        self.validator = RecordValidator(object_type, custom_fields)
        self._generic = msgspec.json.Decoder().decode
        self._fast: Callable[[bytes], Any] | None = None
        if not custom_fields:
            self._fast = msgspec.json.Decoder(_fast_struct(object_type)).decode
        standard = STANDARD_FIELDS[object_type]
        self._string_checks = tuple(
            (name, check[0]) for name, check in standard.items() if check in _STRING_CHECKS
        )
        self._mandatory = MANDATORY_FIELDS[object_type]
        self._email_optional_when_deleted = object_type == "BUSINESS_USER"

    def check(self, text: bytes) -> tuple[str | None, bool, list[str]]:
        """Return (objectId if a string, isDeleted, problems) for one stripped line."""
        if self._fast is not None:
            try:
                record = self._fast(text)
            except (msgspec.DecodeError, UnicodeDecodeError):
                pass
            else:
                if self._fast_ok(record):
                    return record.objectId, record.isDeleted is True, []
        try:
            decoded = self._generic(text)
        except (msgspec.DecodeError, UnicodeDecodeError) as error:
            return None, False, [_json_problem(text, error)]
        return self.validator.check(decoded)

    def _fast_ok(self, record: Any) -> bool:
        if not is_valid_object_id(record.objectId):
            return False
        for name, check in self._string_checks:
            value = getattr(record, name)
            if value is not None and not check(value):
                return False
        for name in self._mandatory:
            if not getattr(record, name) and not (
                self._email_optional_when_deleted and name == "emailAddress" and record.isDeleted is True
            ):
                return False
        return True


def _fast_struct(object_type: str) -> type[msgspec.Struct]:
    fields: list[tuple[str, Any, Any]] = [("objectId", str, msgspec.NODEFAULT)]
    fields += [(name, _FAST_TYPES[check], None) for name, check in STANDARD_FIELDS[object_type].items()]
    return msgspec.defstruct(f"Fast{object_type.title().replace('_', '')}", fields)


def _json_problem(text: bytes, error: Exception) -> str:
    if text.startswith(b"\xef\xbb\xbf"):
        return "The line starts with a byte order mark (BOM): send UTF-8 without a BOM"
    if invalid_utf8_offset(text) is not None:
        return "The line is not valid UTF-8"
    return f"Invalid JSON: {error}"


def duplicate_problem(object_id: str, first_line: int) -> str:
    return (
        f"Object [{object_id}] already appears on line {first_line} of this file:"
        " records that have multiple updates should be sent in separate files"
    )


def check_schema_update(
    object_type: str, existing: Sequence[Mapping[str, Any]], fields: Any
) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """Apply Gong's entity-schema rules to a POSTed field list.

    Every existing field must be sent again (``isDeleted: true`` removes one); a changed type
    creates a new field, so the old values go. Returns (new schema, fields whose stored values
    must be removed, errors).
    """
    if type(fields) is not list:
        return [], [], ["The request body must be a JSON array of fields"]
    errors: list[str] = []
    seen: set[str] = set()
    kept: list[dict[str, Any]] = []
    deleted: set[str] = set()
    standard = STANDARD_FIELDS[object_type]
    for index, field in enumerate(fields):
        where = f"field #{index + 1}"
        if type(field) is not dict:
            errors.append(f"{where}: must be a JSON object")
            continue
        name = field.get("uniqueName")
        if type(name) is not str or not name:
            errors.append(f"{where}: mandatory field [uniqueName] is missing or empty")
            continue
        where = f"field [{name}]"
        if name in seen:
            errors.append(f"{where}: sent more than once")
            continue
        seen.add(name)
        if name in standard or name == "objectId":
            errors.append(f"{where}: is a standard field of {object_type}")
        errors.extend(_field_errors(where, field))
        if field.get("isDeleted") is True:
            deleted.add(name)
        else:
            kept.append(_stored_field(field))
    missing = [str(field["uniqueName"]) for field in existing if field["uniqueName"] not in seen]
    if missing:
        errors.append(
            "Every existing field must be included in the schema update (send isDeleted: true to"
            f" remove one); missing: {', '.join(missing)}"
        )
    if errors:
        return [], [], errors
    old_types = {str(field["uniqueName"]): field.get("type") for field in existing}
    removed = [name for name in old_types if name in deleted]
    removed += [
        str(field["uniqueName"])
        for field in kept
        if field["uniqueName"] in old_types and old_types[field["uniqueName"]] != field["type"]
    ]
    return kept, removed, []


def _field_errors(where: str, field: Mapping[str, Any]) -> list[str]:
    errors: list[str] = []
    label = field.get("label")
    if type(label) is not str or not label:
        errors.append(f"{where}: mandatory field [label] is missing or empty")
    field_type = field.get("type")
    if field_type not in FIELD_TYPES:
        errors.append(f"{where}: [type] must be one of {', '.join(FIELD_TYPES)} (case-sensitive)")
    is_deleted = field.get("isDeleted")
    if is_deleted is not None and type(is_deleted) is not bool:
        errors.append(f"{where}: [isDeleted] must be a boolean")
    last_modified = field.get("lastModified")
    if last_modified is not None and not _datetime(last_modified):
        errors.append(f"{where}: [lastModified] must be {DATETIME_HINT}")
    if is_deleted is True:
        return errors
    values = field.get("orderedValueList")
    if values is not None and not _string_array(values):
        errors.append(f"{where}: [orderedValueList] must be an array of strings")
    if field_type == "PICKLIST" and not values:
        errors.append(f"{where}: a PICKLIST field needs an orderedValueList")
    reference_to = field.get("referenceTo")
    if field_type == "REFERENCE" and reference_to not in REFERENCE_TARGETS:
        errors.append(f"{where}: a REFERENCE field needs referenceTo, one of {', '.join(REFERENCE_TARGETS)}")
    return errors


def _stored_field(field: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "uniqueName": field["uniqueName"],
        "label": field["label"],
        "type": field["type"],
        "lastModified": field.get("lastModified"),
        "referenceTo": field.get("referenceTo"),
        "orderedValueList": field.get("orderedValueList"),
    }


def schema_field_for_get(field: Mapping[str, Any]) -> dict[str, Any]:
    """The GET shape of Gong's own documentation example: ``name`` (not ``uniqueName``), nulls kept."""
    return {
        "name": field["uniqueName"],
        "label": field["label"],
        "type": field["type"],
        "lastModified": field.get("lastModified"),
        "isDeleted": False,
        "referenceTo": field.get("referenceTo"),
        "orderedValueList": field.get("orderedValueList"),
    }
