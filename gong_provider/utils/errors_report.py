"""Old path of :mod:`gong_provider.staging.failure_report`, re-exported for one release (see CHANGELOG.md)."""

from __future__ import annotations

from gong_provider.staging.failure_report import (
    MAX_LISTED_ERRORS,
    describe_failure,
)

__all__ = [
    "MAX_LISTED_ERRORS",
    "describe_failure",
]
