"""How often to ask Gong for a request's status: often at first, then less and less.

Waits start at ``poll_interval`` and grow by ``BACKOFF_FACTOR`` up to ``max_poll_interval``. With the
defaults (5 s, x1.5, 60 s) the checks fall at 5, 12.5, 23.8, 40.6, 65.9, 103.9, 160.9, 220.9 s... after the
deferral: a 60 s processing delay costs 5 calls where a fixed 5 s poll spends 12, and an hour-long wait
65 calls. Gong allows 10,000 calls a day per company.
"""

from __future__ import annotations

from collections.abc import Iterator

DEFAULT_POLL_INTERVAL = 5.0
DEFAULT_MAX_POLL_INTERVAL = 60.0
BACKOFF_FACTOR = 1.5


def poll_intervals(
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL,
    factor: float = BACKOFF_FACTOR,
) -> Iterator[float]:
    """Endless waits in seconds: ``poll_interval * factor**n``, capped at ``max_poll_interval``."""
    if poll_interval <= 0:
        raise ValueError("poll_interval must be positive")
    ceiling = max(poll_interval, max_poll_interval)
    wait = poll_interval
    while True:
        yield min(wait, ceiling)
        wait = min(wait * factor, ceiling)


def checks_until(seconds: float, **schedule: float) -> int:
    """How many status checks the schedule spends before it sees a request finished after ``seconds``."""
    elapsed = 0.0
    for calls, wait in enumerate(poll_intervals(**schedule), start=1):
        elapsed += wait
        if elapsed >= seconds:
            return calls
    raise AssertionError("unreachable")  # pragma: no cover


def poke_interval_after(
    elapsed: float,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL,
    factor: float = BACKOFF_FACTOR,
) -> float:
    """The schedule's next wait once ``elapsed`` seconds have been waited: what a sensor poking (or
    rescheduled) without a running count sleeps, so its waits grow as the trigger's do."""
    waited = 0.0
    for wait in poll_intervals(poll_interval, max_poll_interval, factor):
        if waited + wait > elapsed + 1e-9 or wait >= max(poll_interval, max_poll_interval):
            return wait
        waited += wait
    raise AssertionError("unreachable")  # pragma: no cover
