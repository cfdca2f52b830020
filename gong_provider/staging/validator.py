"""Record-level normalization and validation against an entity spec (and an entity schema)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gong_provider.models import CustomField, ObjectType
from gong_provider.staging.errors import GongSourceError
from gong_provider.staging.field_names import DEFAULT_UNKNOWN_FIELDS, FieldNames, UnknownFieldsPolicy
from gong_provider.staging.normalize import FieldError, normalizer, plain_json_value, zone
from gong_provider.staging.specs import EntitySpec, Kind, custom_field_specs, spec_for

OBJECT_TYPE_KEY = "objectType"
"""A record may say its own type; it is checked against the staged type and not sent to Gong."""


@dataclass(frozen=True)
class Reason:
    """Why a record was rejected: the field (or ``None`` for the whole record) and the message."""

    field: str | None
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "message": self.message}


@dataclass
class Checked:
    """The outcome for one record: the normalized record, or the reasons it cannot be staged."""

    record: dict[str, Any] | None
    object_id: str | None
    reasons: list[Reason] = field(default_factory=list)


class RecordValidator:
    """Normalizes and validates records of one object type.

    Rules: every key goes through its field's normalizer; ``null`` and empty strings are dropped
    as "no value" (so are blank strings of typed fields: dates, numbers, booleans, emails, URLs);
    mandatory fields must remain; custom fields are checked against the entity schema when one is
    given (passed through unchanged when none is). A key that is neither a standard nor a custom
    field (see :class:`~gong_provider.staging.field_names.FieldNames`) rejects the record, or with
    ``unknown_fields="warn"`` is logged once and kept.
    """

    def __init__(
        self,
        object_type: ObjectType | str,
        *,
        timezone: str = "UTC",
        mapping: Mapping[str, str] | None = None,
        custom_fields: Sequence[CustomField] | None = None,
        unknown_fields: UnknownFieldsPolicy = DEFAULT_UNKNOWN_FIELDS,
    ) -> None:
        self.spec: EntitySpec = spec_for(object_type)
        self.tz: dt.tzinfo = zone(timezone)
        self.mapping = dict(mapping or {})
        self.custom = custom_field_specs(custom_fields)
        self._known: dict[str, Callable[[Any], Any]] = {
            name: normalizer(spec, self.tz) for name, spec in self.spec.fields.items()
        }
        self._custom: dict[str, Callable[[Any], Any]] | None = (
            None if self.custom is None else {name: normalizer(s, self.tz) for name, s in self.custom.items()}
        )
        self.names = FieldNames(
            self.spec.object_type.value,
            self.spec.fields,
            None if self.custom is None else self.custom,
            policy=unknown_fields,
            always_known=(OBJECT_TYPE_KEY,),
        )
        self._plain_strings = frozenset(n for n, f in self.spec.fields.items() if f.kind is Kind.STRING)
        self._mandatory = self.spec.mandatory
        self._unless_deleted = tuple(
            name for name, spec in self.spec.fields.items() if spec.mandatory_unless_deleted
        )

    def check(self, raw: Mapping[str, Any]) -> Checked:
        reasons: list[Reason] = []
        record: dict[str, Any] = {}
        unknown = self.names.check(tuple(map(self.mapping.get, raw, raw) if self.mapping else raw))
        refused = {u.name: u.message for u in unknown} if unknown and self.names.policy == "reject" else None
        for key, value in raw.items():
            name = self.mapping.get(key, key) if self.mapping else key
            if refused is not None and name in refused:
                reasons.append(Reason(name, refused[name]))
                continue
            if not isinstance(name, str) or not name:
                reasons.append(Reason(None, f"column {key!r} has no field name"))
                continue
            if name in record:
                reasons.append(Reason(name, "given twice (check the column mapping)"))
                continue
            if name == OBJECT_TYPE_KEY:
                if value != self.spec.object_type.value:
                    reasons.append(
                        Reason(
                            name,
                            f"the record is of type {value}, but the source is staged as "
                            f"{self.spec.object_type.value} (one object type per file)",
                        )
                    )
                continue
            known = self._known.get(name)
            try:
                if known is not None:
                    if value is None or value == "":
                        continue
                    if isinstance(value, str) and name not in self._plain_strings and not value.strip():
                        continue  # a blank date, number, flag...: no value (plain text is kept as sent)
                    record[name] = known(value)
                elif value is None or (isinstance(value, str) and not value):
                    continue
                elif self._custom is None or (custom := self._custom.get(name)) is None:
                    record[name] = plain_json_value(value, self.tz)  # unchecked custom field, or warned
                else:
                    if isinstance(value, str) and not value.strip():
                        continue
                    record[name] = custom(value)
            except FieldError as error:
                reasons.append(Reason(name, str(error)))
        for name in self._mandatory:
            if name not in record and not any(r.field == name for r in reasons):
                reasons.append(Reason(name, "missing (mandatory)"))
        if self._unless_deleted and record.get("isDeleted") is not True:
            for name in self._unless_deleted:
                if name not in record and not any(r.field == name for r in reasons):
                    reasons.append(Reason(name, "missing (mandatory unless isDeleted is true)"))
        object_id = record.get("objectId")
        if object_id is None:
            raw_id = raw.get(self._source_key("objectId"))
            object_id = raw_id if isinstance(raw_id, str) else None
        if reasons:
            return Checked(None, object_id, reasons)
        return Checked(record, object_id)

    def check_columns(self, columns: Sequence[str], where: str) -> str | None:
        """Fail early when a source's columns (after the mapping) lack a mandatory field."""
        names = {self.mapping.get(column, column) for column in columns}
        missing = [name for name in self._mandatory if name not in names]
        if missing:
            raise GongSourceError(
                f"{where}: no {', '.join(missing)} column for {self.spec.object_type.value} "
                f"(columns: {', '.join(columns)}); rename the column or map it with the mapping option, "
                'e.g. {"Id": "objectId"}'
            )
        return self._source_key("objectId")

    def _source_key(self, name: str) -> str:
        for key, target in self.mapping.items():
            if target == name:
                return key
        return name
