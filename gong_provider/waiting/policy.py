"""The one wait policy: given the last answer, what to do next and how long to wait.

The trigger (async), the operator's synchronous wait and the sensor all wait through it, so they
behave alike on the same answers:

- the first status check comes one ``poll_interval`` after the start, capped by the time left, so
  that at least one check always happens, even when the wait starts past its deadline;
- a round checks every pending request once; DONE or FAILED settles a request;
- a non-transient error (401, an unknown request, an untrusted certificate) ends the wait (ERROR);
- a 429 whose Retry-After is longer than the time left ends the wait at once (QUOTA: the company's
  API quota is spent), a shorter one is waited out (the next check no sooner than it asks);
- otherwise the next check comes after the next growing wait (x1.5 up to ``max_poll_interval``),
  capped by the deadline; after the check at the deadline the wait ends (TIMEOUT);
- every check is bounded by the deadline too, the hook's own retries inside it included
  (:meth:`StatusWait.check_deadline`, given to the hook's ``get_request_status``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from gong_provider.exceptions import GongError, GongRateLimitError, is_transient
from gong_provider.models import RequestStatus
from gong_provider.waiting.poll_schedule import BACKOFF_FACTOR, poll_intervals

TIMEOUT = "TIMEOUT"
ERROR = "ERROR"
QUOTA = "QUOTA"


@dataclass(frozen=True)
class CheckAfter:
    """Check again after ``seconds``."""

    seconds: float


@dataclass(frozen=True)
class Finished:
    """Every request is DONE or FAILED: ``statuses`` by clientRequestId, in the order asked."""

    statuses: dict[str, RequestStatus]


@dataclass(frozen=True)
class Stopped:
    """The wait ends without every status: ``kind`` is TIMEOUT, ERROR or QUOTA."""

    kind: str
    message: str


Decision = CheckAfter | Finished | Stopped


@dataclass
class StatusWait:
    """One wait for one or more requests; feed it each answer, it says what comes next."""

    client_request_ids: Sequence[str]
    deadline: float
    poll_interval: float
    max_poll_interval: float
    backoff_factor: float = BACKOFF_FACTOR
    clock: Callable[[], float] = time.time
    checks: int = 0
    statuses: dict[str, RequestStatus] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._waits = poll_intervals(self.poll_interval, self.max_poll_interval, self.backoff_factor)

    @property
    def pending(self) -> list[str]:
        """The requests not DONE or FAILED yet, in the order asked."""
        return [crid for crid in self.client_request_ids if crid not in self.statuses]

    def time_left(self) -> float:
        return self.deadline - self.clock()

    def check_deadline(self) -> float:
        """What bounds one status call and the hook's retries inside it: the wait's deadline."""
        return self.deadline

    def start(self) -> CheckAfter:
        """The wait before the first round: one poll interval, no longer than the time left."""
        return CheckAfter(min(next(self._waits), max(self.time_left(), 0.0)))

    def record(self, client_request_id: str, status: RequestStatus) -> None:
        """Gong's answer for one request; a terminal one settles it."""
        self.checks += 1
        if status.status.is_terminal:
            self.statuses[client_request_id] = status

    def after_round(self, error: BaseException | None = None) -> Decision:
        """What to do after a round of checks; ``error`` is what cut it short (a check that raised)."""
        if error is not None:
            self.checks += 1
            if not isinstance(error, GongError) or not is_transient(error):
                return Stopped(ERROR, str(error))
        if not self.pending:
            return Finished({crid: self.statuses[crid] for crid in self.client_request_ids})
        left = self.time_left()
        retry_after = error.retry_after if isinstance(error, GongRateLimitError) else None
        if retry_after is not None and retry_after > max(left, 0.0):
            return Stopped(QUOTA, self._quota_message(retry_after, left))
        if left <= 0:
            return Stopped(TIMEOUT, self.timeout_message())
        return CheckAfter(min(max(next(self._waits), retry_after or 0.0), left))

    def timeout_message(self) -> str:
        end = datetime.fromtimestamp(self.deadline).astimezone().isoformat()
        return (
            f"Gong had not finished request(s) {', '.join(self.pending)} by the deadline {end} "
            f"after {self.checks} status check(s)"
        )

    def _quota_message(self, retry_after: float, left: float) -> str:
        return (
            f"Gong's API quota is spent: it asks to wait {retry_after:.0f} s (Retry-After) before the "
            f"next call, longer than the {max(left, 0.0):.0f} s left before the wait's deadline; "
            f"request(s) {', '.join(self.pending)} not known to be finished. Retry once the quota "
            "renews (Gong allows 10,000 calls a day per company)"
        )
