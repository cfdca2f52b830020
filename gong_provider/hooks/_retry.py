"""When and how long the Gong hooks retry (one policy for the sync and the async hook).

- 429: wait Gong's ``Retry-After`` (whole seconds), then retry; a wait longer than
  ``max_retry_after`` (the daily quota is spent) is raised at once instead of holding a worker.
- 5xx, connection errors (refused, dropped) and timeouts: exponential backoff with jitter.
- Anything else (other 4xx, bad input): never retried.
Every retry counts against ``max_retries``; when they are spent the typed error of the last attempt
is raised as is.
"""

from __future__ import annotations

import logging
import random
import ssl
from dataclasses import dataclass
from typing import Any

from tenacity import (
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
)
from tenacity.wait import wait_base

from gong_provider.exceptions import GongConnectionError, GongRateLimitError, GongServerError
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
        if isinstance(exc, GongRateLimitError):
            return exc.retry_after is None or exc.retry_after <= self.max_retry_after
        if isinstance(exc, GongServerError):
            return True
        if isinstance(exc, GongConnectionError):
            # A certificate that fails verification will fail the same way on every attempt.
            return not _caused_by_ssl(exc)
        return False

    def tenacity_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``tenacity.Retrying`` / ``AsyncRetrying``."""
        return {
            "stop": stop_after_attempt(self.max_retries + 1),
            "wait": _GongWait(self.wait_base, self.wait_max),
            "retry": retry_if_exception(self.should_retry),
            "reraise": True,
            "before_sleep": _log_retry,
        }


def _caused_by_ssl(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLError) or type(current).__name__ in (
            "SSLError",
            "ClientConnectorCertificateError",
            "ClientSSLError",
        ):
            return True
        current = current.__cause__ or current.__context__
    return False


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
