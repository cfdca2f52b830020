"""The credential on the wire and out of the logs: the Authorization header and Airflow's log masker.

The hooks never send connection extras as headers (``access_token`` would otherwise travel as a
header of that name): the only credential header is the ``Authorization`` value built by
``_connection.py``, set here.
"""

from __future__ import annotations

import requests

from gong_provider.hooks._connection import GongConnectionConfig


class HeaderAuth(requests.auth.AuthBase):
    """Sets the Authorization header; as ``session.auth`` it also keeps ~/.netrc from replacing it."""

    def __init__(self, value: str) -> None:
        self._value = value

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self._value
        return request

    def __repr__(self) -> str:
        return "<Gong authorization>"


def mask_secrets(config: GongConnectionConfig) -> None:
    """Tell Airflow's log masker about derived secrets (the Basic header value)."""
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover
        return
    for secret in config.secrets:
        mask_secret(secret)


async def amask_secrets(config: GongConnectionConfig) -> None:
    """:func:`mask_secrets` for the event loop (a sync mask call may block on the supervisor)."""
    try:
        from airflow.sdk.log import amask_secret
    except ImportError:  # pragma: no cover - Airflow < 3.3
        mask_secrets(config)
        return
    for secret in config.secrets:
        await amask_secret(secret)
