"""Airflow exceptions from the task SDK (3.2+), or from ``airflow.exceptions`` on 3.1."""

from __future__ import annotations

try:
    from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout
except ImportError:  # pragma: no cover - Airflow 3.1
    from airflow.exceptions import AirflowFailException, AirflowSensorTimeout  # type: ignore[no-redef]

__all__ = ["AirflowFailException", "AirflowSensorTimeout"]
