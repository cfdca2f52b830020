"""Errors of change capture (Airflow-free, like staging's)."""

from __future__ import annotations

from gong_provider.exceptions import GongError


class GongChangeCaptureError(GongError):
    """Base of the change-capture errors."""


class GongStateCorruptError(GongChangeCaptureError):
    """A state file is missing, truncated or corrupt: nothing was sent and no delete was inferred.

    Rerun with ``reset_state`` to discard the state and send everything again."""

    def __init__(self, location: str, problem: str) -> None:
        self.location = location
        self.problem = problem
        super().__init__(
            f"change-capture state {location} cannot be used: {problem}. Nothing was uploaded and no "
            "delete was inferred; rerun with reset_state=True to discard the state and send every record"
        )


class GongStateConflictError(GongChangeCaptureError):
    """Another run committed this state since this run read it: commits never interleave."""


class GongDeleteGuardError(GongChangeCaptureError):
    """Mirror mode withheld deletes (an empty source, or more deletes than ``max_delete_ratio`` allows)."""

    def __init__(self, message: str, *, object_type: str, deletes: int, confirmed: int) -> None:
        self.object_type = object_type
        self.deletes = deletes
        self.confirmed = confirmed
        super().__init__(message)
