"""clientRequestIds of gong_crm_sync's uploads: derived from the content, so never sent twice."""

from __future__ import annotations

import hashlib


def client_request_id(
    integration_id: int, object_type: str, content_sha256: str, resend_key: str = ""
) -> str:
    """Derived from the content alone (per integration and type), not from the run.

    The same staged content therefore always gets the same id: a retry, or a later run over the same
    data, is answered 409 by Gong and uploads nothing twice. ``resend_key`` (a Param) forces a fresh id
    when identical content must really be sent again.
    """
    digest = hashlib.sha256(
        f"{integration_id}:{object_type}:{content_sha256}:{resend_key}".encode()
    ).hexdigest()
    return f"{object_type.lower().replace('_', '-')}-{digest[:40]}"
