"""Typed errors of the Gong provider.

Every API error carries the HTTP status, Gong's ``requestId`` and Gong's ``errors`` messages, so that
a failed task log says exactly what Gong said. No message ever holds a credential: the hooks build
them from the response body and the request path only, never from headers.

This module is the one home of the provider's errors and of the rule that tells a passing failure
from a lasting one (:func:`is_transient`). It imports nothing of Airflow when loaded, so the
Airflow-free staging and change-capture libraries may build on it (their own errors subclass these).
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any


class GongError(Exception):
    """Base of every error raised by this provider."""


class GongApiError(GongError):
    """Gong answered with an error status (or could not be reached)."""

    status_code: int | None = None

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        request_id: str | None = None,
        errors: Sequence[str] = (),
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        self.status_code = status_code if status_code is not None else type(self).status_code
        self.request_id = request_id
        self.errors = list(errors)
        self.method = method
        self.path = path
        self.message = message
        super().__init__(self._render())

    @property
    def sent(self) -> bool:
        """Whether the request went out: every error built from an answer (or its absence) names the
        request, one refused before sending (a file over 200 MB) does not, nor claims an HTTP status."""
        return self.method is not None

    def _render(self) -> str:
        parts = [self.message]
        if self.method and self.path:
            parts.append(f"({self.method} {self.path})")
        if self.status_code is not None and self.sent:
            parts.append(f"HTTP {self.status_code}")
        if self.request_id:
            parts.append(f"requestId={self.request_id}")
        text = " ".join(parts)
        if self.errors:
            text += ": " + "; ".join(self.errors)
        return text


class GongBadRequestError(GongApiError):
    """400: Gong could not accept the request as sent (never retried)."""

    status_code = 400


class GongAuthError(GongApiError):
    """401/403: wrong credentials, a missing OAuth scope, or the wrong regional host."""

    status_code = 401


class GongNotFoundError(GongApiError):
    """404: Gong has no such resource."""

    status_code = 404


class GongConflictError(GongApiError):
    """409: the clientRequestId was used before, or an active integration exists."""

    status_code = 409


class GongPayloadTooLargeError(GongApiError):
    """413, or (``sent`` false) a file over Gong's 200 MB limit refused before sending."""

    status_code = 413


class GongRateLimitError(GongApiError):
    """429 after the retries were spent; ``retry_after`` is Gong's last ``Retry-After`` in seconds."""

    status_code = 429

    def __init__(self, message: str, *, retry_after: float | None = None, **details: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **details)


class GongServerError(GongApiError):
    """5xx after the retries were spent."""

    status_code = 500


class GongConnectionError(GongApiError):
    """No HTTP answer: connection refused or dropped, or a timeout, after the retries were spent."""


class GongConfigurationError(GongError):
    """The Airflow connection cannot be used as given (no credentials, a bad URL or extra value)."""


class GongRequestFailedError(GongError):
    """Gong processed an upload and reported FAILED (record errors or a general error)."""


class GongContentMismatchError(GongError):
    """The bytes read for an upload (size, lines, sha256) are not what staging recorded, or Gong's
    counts are not the file's record count: the file changed after staging, or records went missing."""


class GongStagingError(GongError):
    """Input could not be staged: names the source, the line, the objectId and the field."""


class GongSourceParamError(GongError, ValueError):
    """The ``source`` given to the packaged sync DAG names nothing it can read as intended (not a
    folder, two export files of one type, or no source at all)."""


class GongWaitTimeout(GongError, TimeoutError):
    """Gong had not finished the request when the wait's deadline passed."""


class GongQuotaExhausted(GongWaitTimeout):
    """Gong's Retry-After asks for a longer pause than the wait has left: the API quota is spent."""


class GongEventError(GongError):
    """The trigger could not get a status (e.g. 401, unknown request) or sent an unexpected event."""


class GongRowError(GongError, ValueError):
    """A row pulled from a task's XCom lacks a key its writer sets (see :mod:`gong_provider.rows`)."""


if TYPE_CHECKING:
    from gong_provider.airflow_compat import AirflowFailException

    class GongUploadFailed(GongRequestFailedError, AirflowFailException):
        """Gong processed the file and reported FAILED: retrying the same file cannot help, so no retry."""


def __getattr__(name: str) -> Any:
    """``GongUploadFailed`` is an Airflow exception too (so Airflow does not retry the task): it is
    built on first use, so that importing this module never loads Airflow (PEP 562)."""
    if name != "GongUploadFailed":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from gong_provider.airflow_compat import AirflowFailException

    upload_failed = type(
        "GongUploadFailed",
        (GongRequestFailedError, AirflowFailException),
        {
            "__module__": __name__,
            "__doc__": "Gong processed the file and reported FAILED: retrying the same file cannot "
            "help, so no retry.",
        },
    )
    globals()[name] = upload_failed
    return upload_failed


def is_transient(error: BaseException) -> bool:
    """Whether the same call may succeed if made again later: the one rule of the hooks' retries,
    the trigger's and the sensor's waiting, and the operator's status checks.

    A 429, a 5xx, or no answer at all (refused, dropped, timed out) are transient. A TLS failure is
    not: a certificate nobody trusts fails the same way on every attempt, so waiting for it only
    burns the deadline. Nor is any other error (401, 400, an unknown request, bad input).
    """
    if isinstance(error, (GongRateLimitError, GongServerError)):
        return True
    if isinstance(error, GongConnectionError):
        return not _caused_by_tls_failure(error)
    return False


def _caused_by_tls_failure(error: BaseException) -> bool:
    """Whether ``error`` or anything in its cause chain is an SSL/TLS error (of ssl, requests or
    aiohttp: the hooks raise their typed errors ``from`` the library's)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLError) or type(current).__name__ in (
            "SSLError",
            "ClientConnectorCertificateError",
            "ClientSSLError",
        ):
            return True
        current = current.__cause__ or current.__context__
    return False


_BY_STATUS: dict[int, type[GongApiError]] = {
    400: GongBadRequestError,
    401: GongAuthError,
    403: GongAuthError,
    404: GongNotFoundError,
    409: GongConflictError,
    413: GongPayloadTooLargeError,
    429: GongRateLimitError,
}


def error_class_for_status(status_code: int) -> type[GongApiError]:
    """The exception class for an HTTP error status."""
    if status_code >= 500:
        return GongServerError
    return _BY_STATUS.get(status_code, GongApiError)
