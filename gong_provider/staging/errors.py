"""Errors of the staging library (additions to gong_provider.exceptions)."""

from __future__ import annotations

from collections.abc import Sequence

from gong_provider.exceptions import GongStagingError


def rejects_exceed(records_rejected: int, records_read: int, max_reject_ratio: float) -> bool:
    """The one rule for "too many rejects": more than ``max_reject_ratio`` of the records read."""
    return records_rejected > 0 and records_rejected / max(records_read, 1) > max_reject_ratio


def rejects_line(object_type: str, records_rejected: int, records_read: int, max_reject_ratio: float) -> str:
    """``DEAL: 2 of 7 records rejected (28.57%), within max_reject_ratio=0.5`` (or ``more than``)."""
    ratio = records_rejected / records_read if records_read else 1.0
    verdict = "more than" if rejects_exceed(records_rejected, records_read, max_reject_ratio) else "within"
    return (
        f"{object_type}: {records_rejected} of {records_read} records rejected "
        f"({ratio:.2%}), {verdict} max_reject_ratio={max_reject_ratio:g}"
    )


class GongRejectLimitError(GongStagingError):
    """More records were rejected than ``max_reject_ratio`` allows.

    The staged files, the manifest and the rejects file are still written, so the rejects can be read.
    """

    def __init__(
        self,
        *,
        object_type: str,
        records_read: int,
        records_rejected: int,
        max_reject_ratio: float,
        rejects_path: str | None,
        first_rejects: Sequence[str] = (),
    ) -> None:
        self.object_type = object_type
        self.records_read = records_read
        self.records_rejected = records_rejected
        self.max_reject_ratio = max_reject_ratio
        self.rejects_path = rejects_path
        self.first_rejects = list(first_rejects)
        text = rejects_line(object_type, records_rejected, records_read, max_reject_ratio)
        if rejects_path:
            text += f"; every reject and its reasons: {rejects_path}"
        if self.first_rejects:
            text += "\nfirst rejects:\n  " + "\n  ".join(self.first_rejects)
        super().__init__(text)


class GongSourceError(GongStagingError):
    """A source cannot be read at all (missing file, unreadable gzip, a CSV without a usable header)."""
