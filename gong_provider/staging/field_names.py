"""Field names a type accepts: its standard fields, the custom fields registered for it, and the
"did you mean" hint for a name that is neither (``firstname`` -> ``firstName``).

Gong stores an unknown key without a word and answers DONE, so a typo in a column name loses that
column's values silently; staging catches it here. Checked once per distinct key set (a file's
header, or each new combination of JSON keys), never per value: the hot path pays one dict lookup.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Literal

log = logging.getLogger(__name__)

UnknownFieldsPolicy = Literal["reject", "warn"]
UNKNOWN_FIELDS_POLICIES: tuple[UnknownFieldsPolicy, ...] = ("reject", "warn")
DEFAULT_UNKNOWN_FIELDS: UnknownFieldsPolicy = "reject"
_HINT_CUTOFF = 0.6
"""difflib's ratio above which a known name is offered as the hint."""
_NEAR_MISS_CUTOFF = 0.8
"""Without the entity schema a name is only called unknown when it is this close to a standard one
(a case or one-letter slip); anything else may be a custom field and is passed through unchecked."""


def unknown_fields_policy(value: str | None) -> UnknownFieldsPolicy:
    """The policy named by ``value`` (None or empty: reject), or a ValueError naming the choices."""
    text = (value or DEFAULT_UNKNOWN_FIELDS).strip().lower()
    for policy in UNKNOWN_FIELDS_POLICIES:
        if text == policy:
            return policy
    raise ValueError(f"unknown_fields must be one of {', '.join(UNKNOWN_FIELDS_POLICIES)}, got {value!r}")


def did_you_mean(name: str, known: Iterable[str], *, cutoff: float = _HINT_CUTOFF) -> str | None:
    """The known name ``name`` most likely misspells: same letters in another case, a known name it
    starts (``email`` -> ``emailAddress``), or difflib's closest match above ``cutoff``."""
    by_folded = {candidate.casefold(): candidate for candidate in known}
    folded = name.casefold()
    if folded in by_folded:
        return by_folded[folded]
    if len(folded) >= 4:
        prefixed = sorted(c for f, c in by_folded.items() if f.startswith(folded))
        if len(prefixed) == 1:
            return prefixed[0]
    close = difflib.get_close_matches(folded, list(by_folded), n=1, cutoff=cutoff)
    return by_folded[close[0]] if close else None


@dataclass(frozen=True)
class UnknownField:
    """A key that is not a field of the type: its name, and the message shown with the reject."""

    name: str
    message: str


class FieldNames:
    """Which keys of a record are fields of one type.

    ``custom`` is the set of custom fields registered for the type (None when no entity schema is
    known: then only near misses of standard fields are unknown, as any other key may be a custom
    field). ``check`` answers once per distinct key set and remembers it.
    """

    def __init__(
        self,
        object_type: str,
        standard: Collection[str],
        custom: Collection[str] | None,
        *,
        policy: UnknownFieldsPolicy = DEFAULT_UNKNOWN_FIELDS,
        always_known: Collection[str] = (),
    ) -> None:
        self.object_type = object_type
        self.standard = frozenset(standard)
        self.custom = None if custom is None else frozenset(custom)
        self.policy = unknown_fields_policy(policy)
        self._known = self.standard | (self.custom or frozenset()) | frozenset(always_known)
        self._cache: dict[tuple[str, ...], tuple[UnknownField, ...]] = {}
        self._unchecked_logged: set[str] = set()

    def check(self, names: tuple[str, ...]) -> tuple[UnknownField, ...]:
        """The unknown keys among ``names`` (field names after the column mapping)."""
        found = self._cache.get(names)
        if found is None:
            found = self._cache[names] = self._unknown(names)
            if found and self.policy == "warn":
                log.warning(
                    "%s: kept %s (unknown_fields=warn; Gong stores them but nothing reads them)",
                    self.object_type,
                    "; ".join(f"{u.name}: {u.message}" for u in found),
                )
        return found

    def _unknown(self, names: tuple[str, ...]) -> tuple[UnknownField, ...]:
        unknown: list[UnknownField] = []
        unchecked: list[str] = []
        for name in names:
            if not isinstance(name, str) or not name or name in self._known:
                continue  # a column with no field name is the validator's own reject
            if self.custom is None:
                hint = did_you_mean(name, self.standard, cutoff=_NEAR_MISS_CUTOFF)
                if hint is None:
                    unchecked.append(name)
                    continue
                message = (
                    f"not a {self.object_type} field: did you mean {hint}? (a custom field: give its schema)"
                )
            else:
                hint = did_you_mean(name, sorted(self._known))
                where = "nor a custom field of the entity schema registered for the integration"
                message = f"not a {self.object_type} field {where}" + (
                    f" (did you mean {hint}?)" if hint else ""
                )
            unknown.append(UnknownField(name, message))
        fresh = [name for name in unchecked if name not in self._unchecked_logged]
        if fresh:
            self._unchecked_logged.update(fresh)
            log.info(
                "%s: %s taken as custom field(s), not checked (no entity schema given)",
                self.object_type,
                ", ".join(fresh),
            )
        return tuple(unknown)

    def rejects_any(self, key_sets: Iterable[tuple[str, ...]]) -> bool:
        """True when a record with one of these key sets would be rejected for an unknown key."""
        return self.policy == "reject" and any(self.check(keys) for keys in key_sets)
