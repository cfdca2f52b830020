"""Old path of :mod:`gong_provider.ids`, re-exported for one release (see CHANGELOG.md)."""

from __future__ import annotations

from gong_provider.ids import (
    INTEGRATION_ID_PATTERN,
    MAX_INTEGRATION_ID,
    parse_integration_id,
)

__all__ = [
    "INTEGRATION_ID_PATTERN",
    "MAX_INTEGRATION_ID",
    "parse_integration_id",
]
