"""Gong's rate limits per company: N calls in any sliding second and M per UTC day, else 429 + Retry-After.

The emulator serves one company, so every accepted credential (access key or OAuth token) spends
the same budget, as at Gong. Refused calls (401, 429) are not counted. The limiter keeps the time
of every call it counted and refused (bounded), for ``GET /_emulator/rate-log``: tests and
benchmarks check the client's budget against the server's own clock.
"""

from __future__ import annotations

import bisect
import math
import time
from collections import deque
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

RATE_LOG_SIZE = 100_000
"""Times kept for the rate log (the newest), enough for any test or benchmark run."""


def busiest_window(times: Sequence[float], seconds: float = 1.0) -> int:
    """The most calls in any window ``[t, t + seconds)``: the count a sliding-window limit checks."""
    ordered = sorted(times)
    return max(
        (bisect.bisect_left(ordered, start + seconds) - index for index, start in enumerate(ordered)),
        default=0,
    )


class RateLimiter:
    """A sliding one-second window and a UTC calendar-day counter for the company (0 = unlimited).

    A call at ``now`` is allowed while fewer than ``per_second`` calls were counted in
    ``(now - 1, now]``, so no window ``[t, t + 1)`` ever holds more than ``per_second`` calls.
    """

    def __init__(self, per_second: float, per_day: int) -> None:
        self.per_second = per_second
        self.per_day = per_day
        self._recent: deque[float] = deque()
        self._day = ""
        self._day_count = 0
        self.counted: deque[float] = deque(maxlen=RATE_LOG_SIZE)
        self.refused: deque[float] = deque(maxlen=RATE_LOG_SIZE)

    def configure(self, per_second: float, per_day: int) -> None:
        self.per_second = per_second
        self.per_day = per_day

    def reset(self) -> None:
        self._recent.clear()
        self._day, self._day_count = "", 0
        self.counted.clear()
        self.refused.clear()

    def acquire(self, now: float | None = None) -> int | None:
        """Count a call; return None if allowed, else the whole seconds to wait (Retry-After)."""
        now = time.time() if now is None else now
        retry_after = self._refusal(now)
        if retry_after is not None:
            self.refused.append(now)
            return retry_after
        self._recent.append(now)
        self._day_count += 1
        self.counted.append(now)
        return None

    def _refusal(self, now: float) -> int | None:
        day = datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%d")
        if day != self._day:
            self._day, self._day_count = day, 0
        if self.per_day and self._day_count >= self.per_day:
            midnight = datetime.fromtimestamp(now, timezone.utc).replace(
                hour=0, minute=0, second=0, microsecond=0
            ) + timedelta(days=1)
            return max(1, math.ceil(midnight.timestamp() - now))
        while self._recent and self._recent[0] <= now - 1.0:
            self._recent.popleft()
        if self.per_second and len(self._recent) >= self.per_second:
            return max(1, math.ceil(self._recent[0] + 1.0 - now))
        return None

    def log(self) -> dict[str, list[float]]:
        """Epoch times of the calls counted and refused since start-up or the last reset."""
        return {"counted": list(self.counted), "refused": list(self.refused)}
