"""The one parser of Gong integration ids, used by the hook, operator, sensor, trigger and DAGs.

Integration ids are 64-bit: never through a float (exact only up to 2^53); templated values and the
DAGs' Params arrive as strings of digits, REST API and CLI ``conf`` may carry exact JSON integers.
"""

from __future__ import annotations

import re

MAX_INTEGRATION_ID = 2**63 - 1
"""Gong's ids are signed 64-bit longs: at most 19 digits, below 2^63."""

_DIGITS = re.compile(r"[0-9]{1,19}")


def _decimal_pattern_up_to(limit: int) -> str:
    """A regex matching exactly the strings of ASCII digits (empty included) worth 0 .. ``limit``."""
    digits = str(limit)
    alternatives = [f"[0-9]{{0,{len(digits) - 1}}}"]  # fewer digits than limit: always below it
    for position, digit in enumerate(digits):
        if digit != "0":  # same length: equal up to ``position``, smaller there, anything after
            rest = len(digits) - position - 1
            alternatives.append(f"{digits[:position]}[0-{int(digit) - 1}][0-9]{{{rest}}}")
    alternatives.append(digits)
    return "^(?:" + "|".join(alternatives) + ")$"


INTEGRATION_ID_PATTERN = _decimal_pattern_up_to(MAX_INTEGRATION_ID)
"""JSON-schema ``pattern`` of an id as text (the DAGs' Params): up to 19 digits worth at most 2^63-1,
or empty (no id)."""


def parse_integration_id(value: object) -> int:
    """The exact integer of an id given as an int or its decimal digits (surrounding spaces allowed).

    ``TypeError`` for a float, bool, None or any other type; ``ValueError`` for text that is not
    1 to 19 ASCII digits, or a number outside 0 .. 2^63-1.
    """
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(
            f"integration_id must be an int or a string of digits, not {type(value).__name__} "
            f"({value!r}): Gong's ids exceed 2^53 and lose digits as floats"
        )
    text = str(value).strip()
    if not _DIGITS.fullmatch(text) or int(text) > MAX_INTEGRATION_ID:
        raise ValueError(
            f"integration_id {value!r} is not a Gong integration id: 1 to 19 digits below 2^63, "
            "as gong_crm_setup prints it"
        )
    return int(text)
