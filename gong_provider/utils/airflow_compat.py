"""Old path of :mod:`gong_provider.airflow_compat`, re-exported for one release (see CHANGELOG.md)."""

from __future__ import annotations

from gong_provider.airflow_compat import (
    AirflowFailException,
    AirflowSensorTimeout,
    aget_connection,
    aget_extra_dejson,
)

__all__ = [
    "AirflowFailException",
    "AirflowSensorTimeout",
    "aget_connection",
    "aget_extra_dejson",
]
