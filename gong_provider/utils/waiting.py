"""Old path of :mod:`gong_provider.waiting.polling`, re-exported for one release (see CHANGELOG.md)."""

from __future__ import annotations

from gong_provider.waiting.polling import (
    check_round,
    wait_until_finished,
)

__all__ = [
    "check_round",
    "wait_until_finished",
]
