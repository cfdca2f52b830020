"""Deterministic clientRequestIds: a retry sends the same id, so Gong answers 409 instead of storing twice."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Literal

MAX_CLIENT_REQUEST_ID_LENGTH = 64
"""Gong does not document a maximum; 64 is a conservative bound."""

_VALID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_DIGEST_CHARS = 40
"""160 bits of sha256: collisions are out of reach, and the prefix stays readable."""


def make_client_request_id(
    *,
    dag_id: str,
    task_id: str,
    run_id: str,
    map_index: int | None,
    object_type: str,
    content_sha256: str,
) -> str:
    """``gong-<object-type>-<40 hex>``, derived from the run, the task, the map index and the content.

    Airflow run ids hold ``:``, ``+`` and ``.``, which Gong refuses, so every input goes into the hash
    and only the object type is kept in clear. At most 59 characters, ``[a-z0-9-]`` only.
    """
    key = json.dumps(
        [
            dag_id,
            task_id,
            run_id,
            -1 if map_index is None else int(map_index),
            str(object_type),
            content_sha256,
        ],
        separators=(",", ":"),
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:_DIGEST_CHARS]
    prefix = str(object_type).lower().replace("_", "-")
    return f"gong-{prefix}-{digest}"


def is_valid_client_request_id(value: str) -> bool:
    """``[A-Za-z0-9_-]``, 1 to 64 characters."""
    return bool(_VALID.match(value))


def check_client_request_id(value: str) -> str:
    """Return ``value`` or raise ``ValueError`` naming what Gong would refuse."""
    if not is_valid_client_request_id(value):
        raise ValueError(
            f"clientRequestId {value!r} is not valid for Gong: use 1 to {MAX_CLIENT_REQUEST_ID_LENGTH} "
            "letters, digits, '-' or '_' (Airflow run ids hold ':', '+' and '.', which Gong refuses)"
        )
    return value


def numbered_client_request_id(base: str, number: int, count: int) -> str:
    """The id of file ``number`` (1-based) of ``count`` when the user gave one id for several files."""
    if count <= 1:
        return base
    suffix = f"-{number}"
    return base[: MAX_CLIENT_REQUEST_ID_LENGTH - len(suffix)] + suffix


ClientRequestIdScope = Literal["run", "content"]
CLIENT_REQUEST_ID_SCOPES: tuple[str, ...] = ("run", "content")


def content_client_request_id(integration_id: int | str, object_type: str, content_sha256: str) -> str:
    """``<object-type>-<40 hex>``, derived from the content alone (per integration and type), not the run.

    The same bytes always get the same id, in any run: Gong answers 409 to a byte-identical file sent
    again and stores nothing twice, but also never processes it again. So content scope fits uploads
    of files that are new by construction; a sync that may resend a byte-identical file in a later
    run (change capture's pending records) uses the run scope (:func:`make_client_request_id`).
    """
    digest = hashlib.sha256(f"{integration_id}:{object_type}:{content_sha256}:".encode()).hexdigest()
    return f"{str(object_type).lower().replace('_', '-')}-{digest[:_DIGEST_CHARS]}"


def check_client_request_id_scope(scope: str) -> ClientRequestIdScope:
    if scope not in CLIENT_REQUEST_ID_SCOPES:
        raise ValueError(
            f"client_request_id_scope must be one of {', '.join(CLIENT_REQUEST_ID_SCOPES)}, got {scope!r}"
        )
    return "run" if scope == "run" else "content"
