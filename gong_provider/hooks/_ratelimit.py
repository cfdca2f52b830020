"""A per-process client-side rate limiter shared by every Gong hook talking to one API and credential.

Gong allows 3 calls per second per company. Several hooks in one process (threads of a worker, or
many triggers on one triggerer event loop) share one budget: each call reserves the next free slot
under a lock held for microseconds, then waits outside the lock (``time.sleep`` in threads,
``asyncio.sleep`` on an event loop, so the loop is never blocked).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time

SAFETY_FACTOR = 1.1
"""Calls go 10% further apart than the limit allows, so that network jitter cannot make two calls
arrive closer together than Gong's one-second window counts them."""


class RateLimiter:
    """Spaces calls ``1.1 / calls_per_second`` apart across threads and event loops."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next_free = 0.0

    def reserve(self, calls_per_second: float) -> float:
        """Reserve the next slot and return how long to wait for it (seconds, 0 when free now).

        ``calls_per_second <= 0`` turns the limit off for that call.
        """
        if calls_per_second <= 0:
            return 0.0
        interval = SAFETY_FACTOR / calls_per_second
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next_free)
            self._next_free = slot + interval
        return slot - now

    def acquire(self, calls_per_second: float) -> float:
        """Block the calling thread until its slot; returns the seconds waited."""
        delay = self.reserve(calls_per_second)
        if delay > 0:
            time.sleep(delay)
        return delay

    async def acquire_async(self, calls_per_second: float) -> float:
        """Wait for a slot without blocking the event loop; returns the seconds waited."""
        delay = self.reserve(calls_per_second)
        if delay > 0:
            await asyncio.sleep(delay)
        return delay


_LIMITERS: dict[str, RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def limiter_for(key: str) -> RateLimiter:
    """The process-wide limiter for ``key`` (API base URL + a digest of the credential)."""
    with _LIMITERS_LOCK:
        limiter = _LIMITERS.get(key)
        if limiter is None:
            limiter = _LIMITERS[key] = RateLimiter()
        return limiter


def _forget_limiters_after_fork() -> None:
    """A forked child is a new process: it gets its own budget and fresh (unlocked) locks."""
    global _LIMITERS_LOCK
    _LIMITERS_LOCK = threading.Lock()
    _LIMITERS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_limiters_after_fork)
