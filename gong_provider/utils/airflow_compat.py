"""Airflow names that moved between the releases we support, imported from one place.

The floor is Airflow 3.2 (``pyproject.toml``): it has ``airflow.sdk.exceptions`` and
``airflow.sdk.configuration``; 3.1 has neither and ignores the connection form's ``conn-fields``.
"""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout

__all__ = ["AirflowFailException", "AirflowSensorTimeout"]
