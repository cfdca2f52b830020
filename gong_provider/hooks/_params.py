"""Checking and formatting call parameters before anything is sent.

A bad argument fails here with a clear message instead of costing a call (and a rate-limit slot).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gong_provider.ids import IntegrationId, check_client_request_id, parse_integration_id
from gong_provider.models import CustomField, ObjectType


def integration_id_http_value(integration_id: IntegrationId) -> str:
    """The exact decimal digits of a 64-bit id, as Gong's query strings and bodies take it.

    The provider's own callers hand over an ``IntegrationId`` (parsed where it entered; mypy holds
    them to it). The hook's public methods are also a door for untyped Python code, so the value is
    checked by the one rule on the way out: a float or a rounded id never leaves the process."""
    return str(parse_integration_id(integration_id))


def object_type_param(object_type: ObjectType | str) -> str:
    """Gong's case-sensitive object type name; a wrong case is refused here, before any call."""
    try:
        return ObjectType(object_type).value
    except ValueError:
        allowed = ", ".join(member.value for member in ObjectType)
        raise ValueError(f"object_type must be one of {allowed} (case-sensitive), got {object_type!r}")


def client_request_id_param(client_request_id: str, *, stored: bool = False) -> str:
    """The id as Gong takes it (the one rule: :func:`gong_provider.ids.check_client_request_id`);
    ``stored`` also accepts the longer ids of earlier releases, for asking Gong about one."""
    if not isinstance(client_request_id, str):
        raise TypeError(f"client_request_id must be a string, not {type(client_request_id).__name__}")
    return check_client_request_id(client_request_id, stored=stored)


def unique_ids(values: Sequence[str]) -> list[str]:
    """Object ids as strings, each once, in their first order (Gong wants unique ids)."""
    return list(dict.fromkeys(str(value) for value in values))


def field_json(field: CustomField | Mapping[str, Any]) -> dict[str, Any]:
    """A custom field as Gong's entity-schema JSON (typed or already a mapping)."""
    return field.to_json() if isinstance(field, CustomField) else dict(field)
