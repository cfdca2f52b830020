"""Gong's rate limits per credential: N calls per second and M per day, answered by 429 + Retry-After."""

from __future__ import annotations

import math
import time
from collections import deque
from datetime import datetime, timedelta, timezone


class RateLimiter:
    """A sliding one-second window and a UTC calendar-day counter per credential (0 = unlimited)."""

    def __init__(self, per_second: float, per_day: int) -> None:
        self.per_second = per_second
        self.per_day = per_day
        self._recent: dict[str, deque[float]] = {}
        self._daily: dict[str, tuple[str, int]] = {}

    def configure(self, per_second: float, per_day: int) -> None:
        self.per_second = per_second
        self.per_day = per_day

    def reset(self) -> None:
        self._recent.clear()
        self._daily.clear()

    def acquire(self, credential: str, now: float | None = None) -> int | None:
        """Count a call; return None if allowed, else the whole seconds to wait (Retry-After)."""
        now = time.time() if now is None else now
        day = datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%d")
        day_key, day_count = self._daily.get(credential, (day, 0))
        if day_key != day:
            day_count = 0
        if self.per_day and day_count >= self.per_day:
            midnight = datetime.fromtimestamp(now, timezone.utc).replace(
                hour=0, minute=0, second=0, microsecond=0
            ) + timedelta(days=1)
            return max(1, math.ceil(midnight.timestamp() - now))
        recent = self._recent.setdefault(credential, deque())
        while recent and recent[0] <= now - 1.0:
            recent.popleft()
        if self.per_second and len(recent) >= self.per_second:
            return max(1, math.ceil(recent[0] + 1.0 - now))
        recent.append(now)
        self._daily[credential] = (day, day_count + 1)
        return None
