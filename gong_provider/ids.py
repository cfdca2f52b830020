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
from typing import Literal, NewType

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


IntegrationId = NewType("IntegrationId", int)
"""A Gong integration id, checked: an ``int`` of 0 .. 2^63-1, exact (never through a float).

Made only by :func:`parse_integration_id` where a value enters (the DAGs' Params and ``conf``, an
operator's or sensor's argument once templated, the trigger's kwargs, the CLI, Gong's answer, a stored
plan) and carried as is: mypy refuses a bare ``int`` or ``str`` where one is expected, so nothing
inside parses it again; the HTTP layer writes its digits. A plain ``int`` at run time: it serializes
anywhere; where only text may go (XCom rows, trigger kwargs, query strings) it travels as ``str(id)``.
"""


def parse_integration_id(value: object) -> IntegrationId:
    """The one constructor of ``IntegrationId``: an id given as an int or its decimal digits
    (surrounding spaces allowed).

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
    return IntegrationId(int(text))


# -- clientRequestIds --------------------------------------------------------------------
MAX_CLIENT_REQUEST_ID_LENGTH = 50
"""Gong's limit on a clientRequestId (the Gong-rules issue): every id this provider sends fits it."""

STORED_CLIENT_REQUEST_ID_LENGTH = 64
"""Earlier releases derived ids of up to 64 characters; Gong still knows them, so a status check (a
task resumed or retried across the upgrade) may still name one."""

MIN_DIGEST_CHARS = 16
"""At least 64 bits of sha256 after any prefix: collisions within one integration are out of reach."""

MAX_CLIENT_REQUEST_ID_PREFIX_LENGTH = MAX_CLIENT_REQUEST_ID_LENGTH - 1 - MIN_DIGEST_CHARS
"""A user-given ``client_request_id`` is the prefix of the derived ids: at most 33 characters."""

_CHARS = re.compile(r"^[A-Za-z0-9_-]+$")
_LEGACY_DIGEST_CHARS = 40
"""Earlier releases kept 40 hex characters of the digest (ids up to 59 characters)."""

FilePosition = tuple[int, int, int]
"""Where a file sits in what the operator's ``file`` names: (item of the list, generation, part).
Two byte-identical files at different positions (an objectId going A -> B -> A stages g0 and g2
alike) get different ids, so a 409 always means "this very file"."""

PlanToken = str
"""The change-capture plan that staged a file (``ChangePlan.run_token``: the run's token and a nonce,
new at every planning attempt), as the staged folder's ``manifest.json`` records it. Part of the id of
every file it staged: a cleared run, or a retried stage task, plans anew, and its files (byte-identical
ones at the same position included) are sent again instead of reusing an earlier attempt's request,
whose DONE requests sent in between (a later generation, a business user's delete) made stale. None
(plain staging, an earlier release's plan): the id is what it was."""


def plan_tokens_an_earlier_try_used(plan_token: PlanToken | None) -> list[PlanToken | None]:
    """The plan tokens an earlier try of the same upload may have derived a file's id with: its own,
    and, for a file with one, none. During a rolling upgrade the stage may run on an upgraded worker
    (the folder's manifest gets its token) and an upload try on one of the previous release, which
    does not read ``plan_token`` and sends the id the same key gives without it; the retry asks Gong
    about both, so the file is not stored twice."""
    return [plan_token] if plan_token is None else [plan_token, None]


def _digest(key: list[object]) -> str:
    return hashlib.sha256(json.dumps(key, separators=(",", ":")).encode()).hexdigest()


def _file_key(
    content_sha256: str, position: FilePosition | None, plan_token: PlanToken | None
) -> list[object]:
    """What every derived id takes from the file: its content, its position and the plan that staged
    it; the last two only when known, so ids without them stay as earlier releases derived them."""
    key: list[object] = [content_sha256]
    if position is not None:
        key.append(list(position))
    if plan_token is not None:
        key.append({"plan": str(plan_token)})
    return key


def derived_client_request_id(prefix: str, key: list[object]) -> str:
    """The one rule of every derived id: ``<prefix>-<hex digest of key>``, exactly 50 characters
    (fewer only when the digest runs out), ``[A-Za-z0-9_-]`` only."""
    check_client_request_id_prefix(prefix)
    digest = _digest(key)[: MAX_CLIENT_REQUEST_ID_LENGTH - len(prefix) - 1]
    return f"{prefix}-{digest}"


def type_prefix(object_type: str) -> str:
    """``BUSINESS_USER`` -> ``business-user``: the object type kept readable in an id."""
    return str(object_type).lower().replace("_", "-")


def make_client_request_id(
    *,
    dag_id: str,
    task_id: str,
    run_id: str,
    map_index: int | None,
    object_type: str,
    content_sha256: str,
    position: FilePosition | None = None,
    prefix: str | None = None,
    plan_token: PlanToken | None = None,
) -> str:
    """``gong-<object-type>-<hex>`` (or ``<prefix>-<hex>``), derived from the run, the task, the map
    index, the object type, the content, the file's position and the plan that staged it
    (:data:`PlanToken`).

    Airflow run ids hold ``:``, ``+`` and ``.``, which Gong refuses, so every input goes into the hash
    and only the object type (or the user's prefix) is kept in clear. 50 characters.
    """
    key: list[object] = [
        dag_id,
        task_id,
        run_id,
        -1 if map_index is None else int(map_index),
        str(object_type),
        *_file_key(content_sha256, position, plan_token),
    ]
    return derived_client_request_id(prefix or f"gong-{type_prefix(object_type)}", key)


def is_valid_client_request_id(value: str, *, max_length: int = MAX_CLIENT_REQUEST_ID_LENGTH) -> bool:
    """``[A-Za-z0-9_-]``, 1 to ``max_length`` (50) characters."""
    return 0 < len(value) <= max_length and bool(_CHARS.match(value))


def check_client_request_id(value: str, *, stored: bool = False) -> str:
    """Return ``value`` or raise ``ValueError`` naming what Gong would refuse.

    ``stored=True`` also accepts the longer ids earlier releases sent (up to 64 characters), for
    asking Gong about an id it already has; a new upload always uses at most 50.
    """
    limit = STORED_CLIENT_REQUEST_ID_LENGTH if stored else MAX_CLIENT_REQUEST_ID_LENGTH
    if not is_valid_client_request_id(value, max_length=limit):
        raise ValueError(
            f"clientRequestId {value!r} is not valid for Gong: use 1 to {limit} "
            "letters, digits, '-' or '_' (Airflow run ids hold ':', '+' and '.', which Gong refuses)"
        )
    return value


def check_client_request_id_prefix(value: str) -> str:
    """A user-given ``client_request_id``: the prefix of derived ids, 1 to 33 characters."""
    if not is_valid_client_request_id(value, max_length=MAX_CLIENT_REQUEST_ID_PREFIX_LENGTH):
        raise ValueError(
            f"client_request_id {value!r} is not valid as a clientRequestId prefix: use 1 to "
            f"{MAX_CLIENT_REQUEST_ID_PREFIX_LENGTH} "
            "letters, digits, '-' or '_'; it becomes the prefix of each file's id "
            f"(<prefix>-<hash of content and position>, at most {MAX_CLIENT_REQUEST_ID_LENGTH} characters)"
        )
    return value


def legacy_client_request_id(
    *,
    given: str | None,
    number: int,
    count: int,
    scope: str,
    dag_id: str,
    task_id: str,
    run_id: str,
    map_index: int | None,
    integration_id: IntegrationId,
    object_type: str,
    content_sha256: str,
) -> str:
    """The id the earlier release (before ids had positions and a 50-character bound) sent for this file.

    A retry across the upgrade asks Gong for it first, so a file an earlier try already uploaded is
    not sent again under its new id."""
    if given:
        if count <= 1:
            return given
        suffix = f"-{number}"
        return given[: STORED_CLIENT_REQUEST_ID_LENGTH - len(suffix)] + suffix
    if scope == "content":
        digest = hashlib.sha256(f"{integration_id}:{object_type}:{content_sha256}:".encode()).hexdigest()
        return f"{type_prefix(object_type)}-{digest[:_LEGACY_DIGEST_CHARS]}"
    key: list[object] = [dag_id, task_id, run_id, -1 if map_index is None else int(map_index)]
    digest = _digest([*key, str(object_type), content_sha256])[:_LEGACY_DIGEST_CHARS]
    return f"gong-{type_prefix(object_type)}-{digest}"


ClientRequestIdScope = Literal["run", "content"]
CLIENT_REQUEST_ID_SCOPES: tuple[str, ...] = ("run", "content")


def content_client_request_id(
    integration_id: IntegrationId,
    object_type: str,
    content_sha256: str,
    position: FilePosition | None = None,
    prefix: str | None = None,
    plan_token: PlanToken | None = None,
) -> str:
    """``<object-type>-<hex>`` (or ``<prefix>-<hex>``), derived from the content and position alone
    (per integration and type, and the plan that staged the file, if any), not the run.

    The same bytes at the same position always get the same id, in any run: Gong answers 409 to a
    byte-identical file sent again and stores nothing twice, but also never processes it again. So
    content scope fits uploads of files that are new by construction; a sync that may resend a
    byte-identical file in a later run (change capture's pending records) uses the run scope
    (:func:`make_client_request_id`).
    """
    key: list[object] = [
        str(integration_id),
        str(object_type),
        *_file_key(content_sha256, position, plan_token),
    ]
    return derived_client_request_id(prefix or type_prefix(object_type), key)


def check_client_request_id_scope(scope: str) -> ClientRequestIdScope:
    if scope not in CLIENT_REQUEST_ID_SCOPES:
        raise ValueError(
            f"client_request_id_scope must be one of {', '.join(CLIENT_REQUEST_ID_SCOPES)}, got {scope!r}"
        )
    return "run" if scope == "run" else "content"
