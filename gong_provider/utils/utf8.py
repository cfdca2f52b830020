"""Old path of :mod:`gong_provider.utf8`, re-exported for one release (see CHANGELOG.md)."""

from __future__ import annotations

from gong_provider.utf8 import (
    invalid_utf8_offset,
    invalid_utf8_reason,
)

__all__ = [
    "invalid_utf8_offset",
    "invalid_utf8_reason",
]
