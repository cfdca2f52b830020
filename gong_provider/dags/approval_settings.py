"""Settings of the delete approval shared by the Params and the task (no Airflow provider import)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DEFAULT_APPROVAL_HOURS = 24.0
"""How long the approval of withheld deletes waits before it rejects (Param delete_approval_hours)."""


def approval_hours(params: Mapping[str, Any]) -> float:
    """Param ``delete_approval_hours`` (0: no approval asked), the default when unset."""
    hours = params.get("delete_approval_hours")
    return DEFAULT_APPROVAL_HOURS if hours in (None, "") else float(hours)
