"""When and how long the Gong hooks retry (one policy for the sync and the async hook).

- 429: wait Gong's ``Retry-After`` (whole seconds), then retry; a wait longer than
  ``max_retry_after`` (the daily quota is spent) is raised at once instead of holding a worker.
- 5xx, connection errors (refused, dropped) and timeouts: exponential backoff with jitter.
- Anything else (other 4xx, a TLS failure, bad input): never retried. What is transient is decided
  by :func:`gong_provider.exceptions.is_transient`, the rule the trigger and sensor wait by too.
Every retry counts against ``max_retries``; when they are spent the typed error of the last attempt
is raised as is. A call given a ``deadline`` (a status check inside a wait) also stops retrying when
the next wait would end past it: the wait's deadline bounds the hook's retries too.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from typing import Any

from tenacity import (
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
)
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from gong_provider.exceptions import GongRateLimitError, is_transient
from gong_provider.hooks._connection import GongConnectionConfig

log = logging.getLogger("gong_provider.hooks")


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int
    wait_base: float
    wait_max: float
    max_retry_after: float

    @classmethod
    def from_config(cls, config: GongConnectionConfig) -> RetryPolicy:
        return cls(
            max_retries=config.max_retries,
            wait_base=config.retry_wait_base,
            wait_max=config.retry_wait_max,
            max_retry_after=config.max_retry_after,
        )

    def should_retry(self, exc: BaseException) -> bool:
        """Transient errors (:func:`~gong_provider.exceptions.is_transient`), except a 429 whose
        Retry-After is longer than this task should hold a worker for."""
        if isinstance(exc, GongRateLimitError) and exc.retry_after is not None:
            return exc.retry_after <= self.max_retry_after
        return is_transient(exc)

    def tenacity_kwargs(self, deadline: float | None = None) -> dict[str, Any]:
        """Keyword arguments for ``tenacity.Retrying`` / ``AsyncRetrying``; with ``deadline`` (epoch
        seconds) no retry waits past it."""
        stop = stop_after_attempt(self.max_retries + 1)
        return {
            "stop": stop if deadline is None else stop | _StopPastDeadline(deadline),
            "wait": _GongWait(self.wait_base, self.wait_max),
            "retry": retry_if_exception(self.should_retry),
            "reraise": True,
            "before_sleep": _log_retry,
        }


MIN_READ_SECONDS = 5.0
"""However close the deadline, one attempt may take this long: a wait checks at least once."""


def read_seconds_left(timeout: float, deadline: float | None) -> float:
    """An attempt's read timeout: the connection's, shortened to the time left before ``deadline``."""
    if deadline is None:
        return timeout
    return min(timeout, max(deadline - time.time(), MIN_READ_SECONDS))


class _StopPastDeadline(stop_base):
    """Stop when the coming retry's wait would end after ``deadline`` (the last error is raised)."""

    def __init__(self, deadline: float) -> None:
        self._deadline = deadline

    def __call__(self, retry_state: RetryCallState) -> bool:
        return time.time() + retry_state.upcoming_sleep >= self._deadline


class _GongWait(wait_base):
    """Retry-After for a 429, exponential backoff with jitter for everything else."""

    def __init__(self, base: float, maximum: float) -> None:
        self._base = base
        self._maximum = maximum

    def _backoff(self, retry_state: RetryCallState) -> float:
        """``base * 2^(n-1)`` plus up to ``base`` of jitter, at most ``maximum``."""
        exponent = min(retry_state.attempt_number - 1, 32)
        return min(self._maximum, self._base * 2.0**exponent + random.uniform(0, self._base))

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, GongRateLimitError):
            if exc.retry_after is not None:
                return max(0.0, exc.retry_after)
            return max(1.0, self._backoff(retry_state))
        return self._backoff(retry_state)


def _log_retry(retry_state: RetryCallState) -> None:
    outcome = retry_state.outcome
    exc = outcome.exception() if outcome is not None else None
    wait = retry_state.next_action.sleep if retry_state.next_action is not None else 0.0
    log.warning(
        "Gong call failed (attempt %s): %s; retrying in %.1f s",
        retry_state.attempt_number,
        exc,
        wait,
    )
