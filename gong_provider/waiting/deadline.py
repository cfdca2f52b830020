"""Wall-clock deadlines: a trigger may resume in another process, so monotonic clocks do not carry over."""

from __future__ import annotations

import time
from datetime import datetime, timedelta


def seconds(value: float | timedelta | None) -> float | None:
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def wait_deadline(timeout: float | timedelta | None, execution_timeout: float | timedelta | None) -> float:
    """Epoch seconds when waiting must stop: ``min(timeout, execution_timeout)`` from now.

    Deferred tasks are not killed by ``execution_timeout`` while their trigger runs, so the trigger
    itself stops at the earlier of the two.
    """
    limits = [s for s in (seconds(timeout), seconds(execution_timeout)) if s is not None]
    return time.time() + (min(limits) if limits else 7 * 24 * 3600.0)


DEFERRAL_MARGIN = timedelta(minutes=5)
"""Airflow's own deferral timeout, beyond the trigger's deadline: a safety net if no triggerer runs."""


def deferral_timeout(deadline: float) -> timedelta:
    """The ``timeout`` to give ``defer()`` for a trigger that stops itself at ``deadline``."""
    return timedelta(seconds=max(deadline - time.time(), 0)) + DEFERRAL_MARGIN


def as_epoch(end_time: float | int | str | datetime) -> float:
    """Accept epoch seconds, an ISO-8601 string or an aware datetime."""
    if isinstance(end_time, datetime):
        return end_time.timestamp()
    if isinstance(end_time, str):
        try:
            return float(end_time)
        except ValueError:
            return datetime.fromisoformat(end_time).timestamp()
    return float(end_time)


SCHEDULER_MARGIN = 10.0
"""Seconds for the executor's report to reach the scheduler and for one busy scheduler loop to read it."""


def min_deferral_age() -> float:
    """Seconds after a deferral before a trigger may resume its task safely (apache/airflow#71580).

    When a task defers, its worker process exits cleanly and the executor later reports "success" for
    that try. The Task SDK supervisor notices the exit only at its next wake-up, up to
    ``[workers] min_heartbeat_interval`` (5 s) later; then the scheduler reads the report in one of its
    loops. If the trigger fires before that, the resumed try is already queued or running when the
    stale report arrives, and the scheduler takes it for a task killed outside Airflow: up_for_retry
    (3.1.8 and 3.2.0 excuse no resumed state, 3.3.2 only ``scheduled``; the upstream fixes are open).
    A trigger gets no better signal: the scheduler drops the report of a deferred task without a trace
    in the database, so only time tells. Firing no sooner than this age leaves the report nothing to
    meet.
    """
    try:
        from airflow.sdk.configuration import conf
    except ImportError:  # pragma: no cover - Airflow 3.1
        from airflow.configuration import conf
    interval: float = conf.getfloat("workers", "min_heartbeat_interval", fallback=5.0)
    return interval + SCHEDULER_MARGIN


def resumable_at(deferred_at: float, started_at: float, min_age: float) -> float:
    """Epoch seconds from which a trigger's event may resume the task.

    ``deferred_at`` is the worker's clock at the deferral, ``started_at`` the triggerer's when the
    trigger started, which is never before the deferral: the earlier of the two guards against a
    worker clock running ahead (the hold never exceeds ``min_age`` from the trigger's start).
    """
    return min(deferred_at, started_at) + min_age
