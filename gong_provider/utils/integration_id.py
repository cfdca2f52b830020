"""Integration ids are 64-bit: never through a float; templated values arrive as strings."""

from __future__ import annotations

from typing import Any


def parse_integration_id(value: Any) -> int:
    if isinstance(value, (bool, float)):
        raise ValueError(f"integration_id must be an integer or a string of digits, not {value!r}")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text.isdigit():
        raise ValueError(f"integration_id {value!r} is not a Gong integration id (digits only)")
    return int(text)
