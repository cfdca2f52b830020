"""Gong's id rules, one home each: integration ids (64-bit) and clientRequestIds (what Gong accepts,
and the deterministic ids that make an upload exactly-once).

Integration ids are 64-bit: never through a float (exact only up to 2^53); templated values and the
DAGs' Params arrive as strings of digits, REST API and CLI ``conf`` may carry exact JSON integers.
A clientRequestId is deterministic: a retry sends the same id, so Gong answers 409 instead of
storing twice. Airflow-free: the hook, the operator, the sensor, the trigger, change capture and the
DAGs all call these.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Literal

# -- integration ids ----------------------------------------------------------------------

MAX_INTEGRATION_ID = 2**63 - 1
"""Gong's ids are signed 64-bit longs: at most 19 digits, below 2^63."""

_DIGITS = re.compile(r"[0-9]{1,19}")


def _decimal_pattern_up_to(limit: int) -> str:
    """A regex matching exactly the strings of ASCII digits (empty included) worth 0 .. ``limit``."""
    digits = str(limit)
    alternatives = [f"[0-9]{{0,{len(digits) - 1}}}"]  # fewer digits than limit: always below it
    for position, digit in enumerate(digits):
        if digit != "0":  # same length: equal up to ``position``, smaller there, anything after
            rest = len(digits) - position - 1
            alternatives.append(f"{digits[:position]}[0-{int(digit) - 1}][0-9]{{{rest}}}")
    alternatives.append(digits)
    return "^(?:" + "|".join(alternatives) + ")$"


INTEGRATION_ID_PATTERN = _decimal_pattern_up_to(MAX_INTEGRATION_ID)
"""JSON-schema ``pattern`` of an id as text (the DAGs' Params): up to 19 digits worth at most 2^63-1,
or empty (no id)."""


def parse_integration_id(value: object) -> int:
    """The exact integer of an id given as an int or its decimal digits (surrounding spaces allowed).

    ``TypeError`` for a float, bool, None or any other type; ``ValueError`` for text that is not
    1 to 19 ASCII digits, or a number outside 0 .. 2^63-1.
    """
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(
            f"integration_id must be an int or a string of digits, not {type(value).__name__} "
            f"({value!r}): Gong's ids exceed 2^53 and lose digits as floats"
        )
    text = str(value).strip()
    if not _DIGITS.fullmatch(text) or int(text) > MAX_INTEGRATION_ID:
        raise ValueError(
            f"integration_id {value!r} is not a Gong integration id: 1 to 19 digits below 2^63, "
            "as gong_crm_setup prints it"
        )
    return int(text)


# -- clientRequestIds --------------------------------------------------------------------
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
