"""Old path of :mod:`gong_provider.waiting.deadline`, re-exported for one release (see CHANGELOG.md)."""

from __future__ import annotations

from gong_provider.waiting.deadline import (
    DEFERRAL_MARGIN,
    SCHEDULER_MARGIN,
    as_epoch,
    deferral_timeout,
    min_deferral_age,
    resumable_at,
    seconds,
    wait_deadline,
)

__all__ = [
    "DEFERRAL_MARGIN",
    "SCHEDULER_MARGIN",
    "as_epoch",
    "deferral_timeout",
    "min_deferral_age",
    "resumable_at",
    "seconds",
    "wait_deadline",
]
