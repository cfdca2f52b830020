"""Old path of :mod:`gong_provider.ids`, re-exported for one release (see CHANGELOG.md)."""

from __future__ import annotations

from gong_provider.ids import (
    CLIENT_REQUEST_ID_SCOPES,
    MAX_CLIENT_REQUEST_ID_LENGTH,
    ClientRequestIdScope,
    check_client_request_id,
    check_client_request_id_scope,
    content_client_request_id,
    is_valid_client_request_id,
    make_client_request_id,
)

__all__ = [
    "CLIENT_REQUEST_ID_SCOPES",
    "MAX_CLIENT_REQUEST_ID_LENGTH",
    "ClientRequestIdScope",
    "check_client_request_id",
    "check_client_request_id_scope",
    "content_client_request_id",
    "is_valid_client_request_id",
    "make_client_request_id",
]
