"""Turn an Airflow connection into the settings both Gong hooks use.

Kept apart from the hooks so that the sync and async hooks read a connection the same way, and so
that the rules (default host, scheme, Basic vs Bearer, extras given as strings by a URI) are tested
once.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypedDict
from urllib.parse import urlsplit

from gong_provider.exceptions import GongConfigurationError
from gong_provider.hooks._ratelimit import (
    DEFAULT_CALLS_PER_DAY,
    DEFAULT_SCOPE,
    SCOPES,
    BudgetSettings,
    budget_host,
)

DEFAULT_BASE_URL = "https://api.gong.io"
DEFAULT_TIMEOUT = 60.0
"""Read timeout in seconds (``timeout`` extra)."""
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_MAX_RETRIES = 5
DEFAULT_CALLS_PER_SECOND = 3.0
"""Gong's default rate limit per company."""
DEFAULT_RETRY_WAIT_BASE = 1.0
DEFAULT_RETRY_WAIT_MAX = 60.0
DEFAULT_MAX_RETRY_AFTER = 300.0
"""A 429 asking to wait longer than this (the daily quota) is raised at once instead of slept on."""


class ConnectionLike(Protocol):
    """The fields of ``airflow.sdk.Connection`` that the hooks read."""

    conn_id: str
    host: str | None
    schema: str | None
    login: str | None
    password: str | None
    port: int | None


class HookArguments(TypedDict, total=False):
    """The keyword options of a hook's constructor, as :class:`HookOptions` keeps them."""

    timeout: float | None
    max_retries: int | None
    calls_per_second: float | None
    retry_wait_base: float | None
    retry_wait_max: float | None


@dataclass(frozen=True)
class HookOptions:
    """Values given to a hook's constructor; each one, when set, wins over the connection extra."""

    timeout: float | None = None
    max_retries: int | None = None
    calls_per_second: float | None = None
    retry_wait_base: float | None = None
    retry_wait_max: float | None = None


@dataclass(frozen=True)
class GongConnectionConfig:
    """Everything a hook needs to talk to Gong. ``repr`` never shows the credential."""

    conn_id: str
    base_url: str
    auth_scheme: str
    authorization: str = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    calls_per_second: float = DEFAULT_CALLS_PER_SECOND
    calls_per_day: int = DEFAULT_CALLS_PER_DAY
    budget_scope: str = DEFAULT_SCOPE
    budget_dir: str | None = None
    budget_url: str | None = field(default=None, repr=False)
    verify_ssl: bool = True
    retry_wait_base: float = DEFAULT_RETRY_WAIT_BASE
    retry_wait_max: float = DEFAULT_RETRY_WAIT_MAX
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @property
    def budget(self) -> BudgetSettings:
        """The company's rate budget: keyed by the API host, whichever credential calls it."""
        return BudgetSettings(
            host=budget_host(self.base_url),
            calls_per_second=self.calls_per_second,
            calls_per_day=self.calls_per_day,
            scope=self.budget_scope,
            directory=self.budget_dir,
            url=self.budget_url,
        )

    def redact(self, text: str) -> str:
        """Replace every known secret in ``text`` (defence in depth for error texts)."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def build_base_url(host: str | None, schema: str | None, port: int | None, scheme_extra: str | None) -> str:
    """The API base URL from the connection's host, with ``https://api.gong.io`` when it is empty.

    ``host`` may be a full URL (``https://us-12345.api.gong.io``, ``http://127.0.0.1:8085``) or a bare
    host name, as a URI connection gives it; then the scheme comes from the ``scheme`` extra or the
    connection's ``schema`` (``http`` / ``https``), https by default.
    """
    host = (host or "").strip()
    if not host:
        return DEFAULT_BASE_URL
    if "://" in host:
        parts = urlsplit(host)
        scheme = parts.scheme.lower()
        netloc = parts.netloc
        path = parts.path
        if parts.port is None and port:
            netloc = f"{netloc}:{port}"
    else:
        candidate = (scheme_extra or schema or "https").strip().lower()
        scheme = candidate if candidate in ("http", "https") else "https"
        host_part, _, path = host.partition("/")
        netloc = f"{host_part}:{port}" if port and ":" not in host_part else host_part
        path = "/" + path if path else ""
    if scheme not in ("http", "https"):
        raise GongConfigurationError(f"Gong API base URL must use http or https, not {scheme!r}")
    if not netloc or "@" in netloc:
        raise GongConfigurationError(
            "Gong API base URL must be a host such as https://api.gong.io, without credentials in it"
        )
    path = path.rstrip("/")
    if path.endswith("/v2"):
        path = path[: -len("/v2")]
    return f"{scheme}://{netloc}{path}"


def _as_float(extra: Mapping[str, Any], name: str, default: float, *, minimum: float) -> float:
    value = extra.get(name)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise GongConfigurationError(f"Connection extra {name!r} must be a number, got {value!r}")
    if number < minimum:
        raise GongConfigurationError(f"Connection extra {name!r} must be at least {minimum}, got {value!r}")
    return number


def _as_int(extra: Mapping[str, Any], name: str, default: int) -> int:
    value = extra.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise GongConfigurationError(f"Connection extra {name!r} must be an integer, got {value!r}")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise GongConfigurationError(f"Connection extra {name!r} must be an integer, got {value!r}")
    if number < 0:
        raise GongConfigurationError(f"Connection extra {name!r} must not be negative, got {value!r}")
    return number


def _as_choice(extra: Mapping[str, Any], name: str, choices: tuple[str, ...], default: str) -> str:
    value = extra.get(name)
    if value is None or value == "":
        return default
    text = str(value).strip().lower()
    if text not in choices:
        raise GongConfigurationError(
            f"Connection extra {name!r} must be one of {', '.join(choices)}, got {value!r}"
        )
    return text


def _as_bool(extra: Mapping[str, Any], name: str, default: bool) -> bool:
    value = extra.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise GongConfigurationError(f"Connection extra {name!r} must be true or false, got {value!r}")


def _authorization(conn: ConnectionLike, extra: Mapping[str, Any]) -> tuple[str, str, tuple[str, ...]]:
    """(scheme, header value, secrets to redact). An OAuth token wins over an access key pair."""
    token = str(extra.get("access_token") or "").strip()
    login = (conn.login or "").strip()
    password = (conn.password or "").strip()
    if token:
        return "Bearer", f"Bearer {token}", (token,)
    if login and password:
        encoded = base64.b64encode(f"{login}:{password}".encode()).decode("ascii")
        return "Basic", f"Basic {encoded}", (password, encoded)
    if password:
        return "Bearer", f"Bearer {password}", (password,)
    raise GongConfigurationError(
        f"Connection {conn.conn_id!r} has no Gong credentials: set login and password to the access "
        "key and access key secret, or the extra 'access_token' to an OAuth token"
    )


_LEGACY_PREFIX = "extra__gong__"


def _plain_extra(extra: Mapping[str, Any]) -> dict[str, Any]:
    """Extras by plain name; the legacy ``extra__gong__<name>`` form is read too (plain name wins)."""
    plain = {
        key[len(_LEGACY_PREFIX) :]: value for key, value in extra.items() if key.startswith(_LEGACY_PREFIX)
    }
    plain.update({key: value for key, value in extra.items() if not key.startswith(_LEGACY_PREFIX)})
    return plain


def config_from_connection(
    conn: ConnectionLike, extra: Mapping[str, Any], options: HookOptions | None = None
) -> GongConnectionConfig:
    """Read a Gong connection; constructor ``options`` win over the connection's extras."""
    options = options or HookOptions()
    extra = _plain_extra(extra)
    scheme, authorization, secrets = _authorization(conn, extra)
    overrides = {name: value for name, value in vars(options).items() if value is not None}
    merged: dict[str, Any] = {**extra, **overrides}
    budget_url = str(merged.get("budget_url") or "").strip() or None
    if budget_url is not None:
        secrets += tuple(filter(None, [urlsplit(budget_url).password]))
    return GongConnectionConfig(
        conn_id=conn.conn_id,
        base_url=build_base_url(conn.host, conn.schema, conn.port, extra.get("scheme")),
        auth_scheme=scheme,
        authorization=authorization,
        timeout=_as_float(merged, "timeout", DEFAULT_TIMEOUT, minimum=0.001),
        connect_timeout=_as_float(merged, "connect_timeout", DEFAULT_CONNECT_TIMEOUT, minimum=0.001),
        max_retries=_as_int(merged, "max_retries", DEFAULT_MAX_RETRIES),
        calls_per_second=_as_float(merged, "calls_per_second", DEFAULT_CALLS_PER_SECOND, minimum=0),
        calls_per_day=_as_int(merged, "calls_per_day", DEFAULT_CALLS_PER_DAY),
        budget_scope=_as_choice(merged, "budget_scope", SCOPES, DEFAULT_SCOPE),
        budget_dir=str(merged.get("budget_dir") or "").strip() or None,
        budget_url=budget_url,
        verify_ssl=_as_bool(merged, "verify_ssl", True),
        retry_wait_base=_as_float(merged, "retry_wait_base", DEFAULT_RETRY_WAIT_BASE, minimum=0),
        retry_wait_max=_as_float(merged, "retry_wait_max", DEFAULT_RETRY_WAIT_MAX, minimum=0),
        max_retry_after=_as_float(merged, "max_retry_after", DEFAULT_MAX_RETRY_AFTER, minimum=0),
        secrets=tuple(sorted({s for s in secrets if s}, key=len, reverse=True)),
    )
