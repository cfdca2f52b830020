"""Value normalization: turn what CRM exports and databases produce into what Gong accepts.

Every function returns the normalized value or raises :class:`FieldError` with a reason the user can
act on. Nothing is guessed: a value whose meaning is not certain ("7k", "01/02/2026", "yes") is
rejected, never changed. Values already in Gong's form pass through untouched (a regex fast path).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gong_provider.staging.specs import DEAL_STATUSES, FieldSpec, Kind

MAX_OBJECT_ID_LENGTH = 64
MAX_EMAIL_LENGTH = 254
MAX_EPOCH_SECONDS = 253402300799  # 9999-12-31T23:59:59Z

_EMAIL_CHARS = r"[^@\s\"\\,;:<>()\[\]]"
EMAIL_RE = re.compile(rf"{_EMAIL_CHARS}+@{_EMAIL_CHARS}+\.{_EMAIL_CHARS}+")
OBJECT_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
URL_RE = re.compile(r"https?://[^\s/?#@]+(?:[/?#]\S*)?", re.IGNORECASE)
CANONICAL_DATETIME_RE = re.compile(
    r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)"
)
CANONICAL_DATE_RE = re.compile(r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])")
_DATETIME_TEXT_RE = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<h>\d{2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<frac>\d{1,9}))?)?)?"
    r"\s*(?P<tz>Z|z|UTC|[+-]\d{2}(?::?\d{2})?)?",
)
_EPOCH_TEXT_RE = re.compile(r"\d{9,11}(?:\.\d+)?")
_NUMBER_TEXT_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER_TEXT_RE = re.compile(r"[+-]?\d+")
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})


class FieldError(ValueError):
    """A value that cannot be made valid; the message is the reason shown to the user."""


@lru_cache(maxsize=64)
def zone(name: str) -> dt.tzinfo:
    """The time zone naive values are read in ("UTC" by default)."""
    if name.upper() in ("UTC", "Z"):
        return dt.timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Europe/Paris)") from error


def format_datetime(value: dt.datetime) -> str:
    """ISO-8601 without fractional seconds; ``Z`` for UTC, else ``+HH:MM``."""
    offset = value.utcoffset()
    if offset is None:
        raise FieldError("datetime has no time zone")
    if offset.seconds % 60 or offset.microseconds:
        raise FieldError(f"time zone offset {offset} is not a whole number of minutes")
    value = value.replace(microsecond=0)
    if value.year < 1 or value.year > 9999:
        raise FieldError("year out of range")
    if offset == dt.timedelta(0):
        return value.strftime("%Y-%m-%dT%H:%M:%S") + "Z"
    return value.isoformat(timespec="seconds")


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _aware(value: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    return value if value.tzinfo is not None and value.utcoffset() is not None else value.replace(tzinfo=tz)


def normalize_datetime(value: Any, tz: dt.tzinfo) -> str:
    """Datetime-valued fields (modifiedDate, createdDate, DATETIME custom fields)."""
    if isinstance(value, str):
        text = value.strip()
        if CANONICAL_DATETIME_RE.fullmatch(text):
            try:
                dt.date(int(text[0:4]), int(text[5:7]), int(text[8:10]))
            except ValueError:
                raise FieldError(f"{_describe(value)} is not a real calendar date") from None
            return text
        if _EPOCH_TEXT_RE.fullmatch(text):
            return _from_epoch(float(text) if "." in text else int(text))
        return format_datetime(_parse_datetime_text(text, tz, value))
    if isinstance(value, bool):
        raise FieldError(f"expected a date-time, got boolean {value}")
    if isinstance(value, dt.datetime):
        return format_datetime(_aware(value, tz))
    if isinstance(value, dt.date):
        return format_datetime(dt.datetime(value.year, value.month, value.day, tzinfo=tz))
    if isinstance(value, (int, float, Decimal)):
        return _from_epoch(value)
    raise FieldError(f"expected a date-time, got {type(value).__name__} {_describe(value)}")


def _from_epoch(value: int | float | Decimal) -> str:
    if isinstance(value, Decimal) and not value.is_finite():
        raise FieldError(f"epoch seconds {_describe(value)} is not a finite number")
    try:
        number = float(value)
    except OverflowError:
        raise FieldError(f"epoch seconds {_describe(value)} out of range") from None
    if not math.isfinite(number) or number < 0 or number > MAX_EPOCH_SECONDS:
        hint = " (epoch milliseconds? staging expects epoch seconds)" if number > MAX_EPOCH_SECONDS else ""
        raise FieldError(f"epoch seconds {_describe(value)} out of range{hint}")
    return format_datetime(dt.datetime.fromtimestamp(int(number), tz=dt.timezone.utc))


def _parse_datetime_text(text: str, tz: dt.tzinfo, original: Any) -> dt.datetime:
    match = _DATETIME_TEXT_RE.fullmatch(text)
    if not match:
        raise FieldError(
            f"{_describe(original)} is not an ISO-8601 date-time (expected e.g. 2026-01-03T23:45:57Z)"
        )
    try:
        day = dt.date.fromisoformat(match["date"])
        moment = dt.datetime(
            day.year,
            day.month,
            day.day,
            int(match["h"] or 0),
            int(match["m"] or 0),
            int(match["s"] or 0),
        )
    except ValueError as error:
        raise FieldError(f"{_describe(original)} is not a valid date-time: {error}") from None
    offset = match["tz"]
    if offset is None:
        return moment.replace(tzinfo=tz)
    if offset in ("Z", "z", "UTC"):
        return moment.replace(tzinfo=dt.timezone.utc)
    sign = -1 if offset[0] == "-" else 1
    digits = offset[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    if hours > 23 or minutes > 59:
        raise FieldError(f"{_describe(original)} has an invalid time zone offset")
    return moment.replace(tzinfo=dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes)))


def normalize_date(value: Any, tz: dt.tzinfo) -> str:
    """closeDate and DATE custom fields: ``YYYY-MM-DD`` (the date part of a date-time, as written)."""
    if isinstance(value, str):
        text = value.strip()
        if CANONICAL_DATE_RE.fullmatch(text):
            try:
                return dt.date.fromisoformat(text).isoformat()
            except ValueError:
                raise FieldError(f"{_describe(value)} is not a real calendar date") from None
        return _parse_datetime_text(text, tz, value).date().isoformat()
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    raise FieldError(f"expected a date (YYYY-MM-DD), got {type(value).__name__} {_describe(value)}")


def normalize_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise FieldError(f"expected a boolean (true/false, 1/0), got {_describe(value)}")


def normalize_number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise FieldError(f"expected a number, got boolean {value}")
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise FieldError(f"expected a finite number, got {value}")
        number = int(value) if value == value.to_integral_value() else float(value)
        if isinstance(number, float) and not math.isfinite(number):
            raise FieldError(f"{_describe(value)} is too large")
        return number
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FieldError(f"expected a finite number, got {value}")
        return value
    if isinstance(value, str):
        text = value.strip()
        if _INTEGER_TEXT_RE.fullmatch(text):
            return int(text)
        if _NUMBER_TEXT_RE.fullmatch(text):
            number = float(text)
            if math.isfinite(number):
                return number
    raise FieldError(f"expected a number, got {_describe(value)}")


def normalize_integer(value: Any) -> int:
    number = normalize_number(value)
    if isinstance(number, float):
        if not number.is_integer():
            raise FieldError(f"expected a whole number, got {_describe(value)}")
        return int(number)
    return number


def normalize_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise FieldError(f"expected a string, got {type(value).__name__} {_describe(value)}")


def normalize_object_id(value: Any) -> str:
    text = normalize_string(value)
    if len(text) > MAX_OBJECT_ID_LENGTH:
        raise FieldError(f"longer than {MAX_OBJECT_ID_LENGTH} characters ({len(text)})")
    if OBJECT_ID_RE.fullmatch(text) or EMAIL_RE.fullmatch(text):
        return text
    raise FieldError(f"{_describe(text)} may hold only letters, digits, '-' and '_' (or be an email address)")


def normalize_email(value: Any) -> str:
    text = normalize_string(value).strip()
    if len(text) <= MAX_EMAIL_LENGTH and EMAIL_RE.fullmatch(text):
        return text
    raise FieldError(f"{_describe(value)} is not an email address")


def normalize_url(value: Any) -> str:
    text = normalize_string(value).strip()
    if URL_RE.fullmatch(text):
        return text
    raise FieldError(f"{_describe(value)} is not a full http(s) URL")


def normalize_deal_status(value: Any) -> str:
    text = normalize_string(value).strip().upper()
    if text in DEAL_STATUSES:
        return text
    raise FieldError(f"{_describe(value)} is not a deal status (OPEN, WON or LOST)")


def normalize_string_list(value: Any) -> list[str]:
    """A list of strings, or a comma-separated string ("a.com, b.com")."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, (list, tuple)):
        items: list[str] = []
        for item in value:
            if not isinstance(item, str):
                raise FieldError(f"expected a list of strings, found {type(item).__name__} {_describe(item)}")
            if item.strip():
                items.append(item.strip())
        return items
    raise FieldError(f"expected a list of strings, got {type(value).__name__} {_describe(value)}")


def normalize_picklist(value: Any, choices: tuple[str, ...] | None) -> str:
    text = normalize_string(value)
    if choices is not None and text not in choices:
        raise FieldError(f"{_describe(value)} is not one of the picklist values {list(choices)}")
    return text


def normalizer(spec: FieldSpec, tz: dt.tzinfo) -> Callable[[Any], Any]:
    """The normalizing function of one field."""
    kind = spec.kind
    if kind is Kind.DATETIME:
        return lambda value: normalize_datetime(value, tz)
    if kind is Kind.DATE:
        return lambda value: normalize_date(value, tz)
    if kind is Kind.PICKLIST:
        choices = spec.choices
        return lambda value: normalize_picklist(value, choices)
    return _SIMPLE[kind]


_SIMPLE: dict[Kind, Callable[[Any], Any]] = {
    Kind.OBJECT_ID: normalize_object_id,
    Kind.STRING: normalize_string,
    Kind.BOOLEAN: normalize_boolean,
    Kind.NUMBER: normalize_number,
    Kind.INTEGER: normalize_integer,
    Kind.URL: normalize_url,
    Kind.EMAIL: normalize_email,
    Kind.DEAL_STATUS: normalize_deal_status,
    Kind.STRING_LIST: normalize_string_list,
}


def plain_json_value(value: Any, tz: dt.tzinfo) -> Any:
    """A custom field's value without a schema: database types made JSON-ready, nothing else changed."""
    if isinstance(value, dt.datetime):
        return format_datetime(_aware(value, tz))
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return normalize_number(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise FieldError(f"expected a finite number, got {value}")
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise FieldError("binary values cannot be sent to Gong")
    if isinstance(value, (list, tuple)):
        return [plain_json_value(item, tz) for item in value]
    if isinstance(value, dict):
        return {str(key): plain_json_value(item, tz) for key, item in value.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise FieldError(f"{type(value).__name__} values cannot be sent to Gong")
