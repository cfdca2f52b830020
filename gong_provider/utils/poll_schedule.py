"""Old path of :mod:`gong_provider.waiting.poll_schedule`, re-exported for one release (see CHANGELOG.md)."""

from __future__ import annotations

from gong_provider.waiting.poll_schedule import (
    BACKOFF_FACTOR,
    DEFAULT_MAX_POLL_INTERVAL,
    DEFAULT_POLL_INTERVAL,
    checks_until,
    poll_intervals,
)

__all__ = [
    "BACKOFF_FACTOR",
    "DEFAULT_MAX_POLL_INTERVAL",
    "DEFAULT_POLL_INTERVAL",
    "checks_until",
    "poll_intervals",
]
