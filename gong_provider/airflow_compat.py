"""Airflow names that moved between the releases we support, imported from one place.

The floor is Airflow 3.2 (``pyproject.toml``): it has ``airflow.sdk.exceptions`` and
``airflow.sdk.configuration``; 3.1 has neither and ignores the connection form's ``conn-fields``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout

__all__ = ["AirflowFailException", "AirflowSensorTimeout", "aget_connection", "aget_extra_dejson"]


async def aget_connection(hook: Any, conn_id: str) -> Any:
    """The connection, read without blocking the event loop.

    Through the hook's own ``aget_connection`` (Airflow 3.1+), so a subclass override is honoured;
    otherwise the sync lookup in a worker thread. The same rule as common-compat's
    ``get_async_connection``, whose ``hook=`` argument the releases beside Airflow 3.2 lack.
    """
    aget = getattr(hook, "aget_connection", None)
    if aget is not None:
        return await aget(conn_id=conn_id)
    return await asyncio.to_thread(hook.get_connection, conn_id)


async def aget_extra_dejson(conn: Any) -> dict[str, Any]:
    """The connection's extra, with its secrets masked, without blocking the event loop.

    ``extra_dejson`` masks secrets with a synchronous call to the supervisor, which raises
    ``DeadlockImminentError`` on a triggerer's loop while another async call is in flight (Airflow
    before 3.3.2); ``aextra_dejson`` (3.3.2+) masks asynchronously, and otherwise the sync property
    runs in a worker thread, where blocking is safe. The same rule as common-compat's
    ``get_async_extra_dejson`` (1.23+, Python 3.11+ only).
    """
    if hasattr(conn, "aextra_dejson"):
        extra: dict[str, Any] = await conn.aextra_dejson()
        return extra
    return dict(await asyncio.to_thread(lambda: conn.extra_dejson))


def expose_stored_connection(conn_id: str) -> None:
    """Let this process's Task SDK lookups find ``conn_id`` when it is stored in the metadata database.

    For command-line tools only (never in a task): outside a task the SDK's lookup sees environment
    variables and secrets backends but not connections added with ``airflow connections add``, and
    a DB hook looks its connection up again by id. So a stored connection is read through
    airflow-core's lookup and published as ``AIRFLOW_CONN_<ID>`` for this process alone.
    """
    import os

    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        BaseHook.get_connection(conn_id)
        return
    except AirflowNotFoundException:
        try:
            from airflow.models.connection import Connection

            stored = Connection.get_connection_from_secrets(conn_id)
        except Exception:  # not stored there either: the caller's own lookup names the missing id
            return
    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = stored.as_json()
