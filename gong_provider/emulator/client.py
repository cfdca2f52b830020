"""A small requests-based client of the ``/_emulator/`` endpoints, for tests, the demo and benchmarks."""

from __future__ import annotations

from typing import Any

import requests


class EmulatorClient:
    """Inspect and steer a running emulator. These endpoints need no credentials."""

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(
            method, f"{self.base_url}/_emulator/{path}", timeout=self.timeout, **kwargs
        )
        if response.status_code >= 400:
            raise RuntimeError(
                f"Emulator {method} /_emulator/{path} answered {response.status_code}: {response.text}"
            )
        return response.json()

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "health")
        return result

    def reset(self) -> None:
        """Forget entities, schemas, requests, counts, the request log and faults.

        Integrations go back to the start-up state (the default integration unless
        ``--no-integration``); settings are left as they are (see ``restore_config``).
        """
        self._call("POST", "reset")

    def configure(self, **settings: Any) -> None:
        """Change processing_delay, processing_delay_per_mb, rate_limit_per_second, rate_limit_per_day."""
        self._call("POST", "config", json=settings)

    def config(self) -> dict[str, Any]:
        """Current settings."""
        result: dict[str, Any] = self._call("GET", "config")["settings"]
        return result

    def restore_config(self) -> None:
        """Back to the settings the emulator was started with."""
        self._call("DELETE", "config")

    def entities(self, object_type: str, *, integration_id: int | None = None) -> dict[str, dict[str, Any]]:
        """Stored (not deleted) records of ``object_type`` by objectId, as they were sent."""
        result: dict[str, dict[str, Any]] = self._call(
            "GET", f"entities/{object_type}", params=_integration(integration_id)
        )
        return result

    def user_emails(self, *, integration_id: int | None = None) -> dict[str, str]:
        """BUSINESS_USER objectId -> the email Gong associates with it: the one the user was created
        with; a plain upsert with another email keeps it, a delete then a new upload replaces it."""
        result: dict[str, str] = self._call("GET", "user-emails", params=_integration(integration_id))
        return result

    def requests_log(self) -> list[dict[str, Any]]:
        """Every /v2 call: method, path, status, clientRequestId, records, time, requestId, dropped."""
        result: list[dict[str, Any]] = self._call("GET", "request-log")
        return result

    def rate_log(self) -> dict[str, list[float]]:
        """Epoch times at which the rate limiter counted (``counted``) and refused with 429
        (``refused``) /v2 calls, on the emulator's clock, since start-up or the last reset."""
        result: dict[str, list[float]] = self._call("GET", "rate-log")
        return result

    def requests(self) -> list[dict[str, Any]]:
        """Accepted asynchronous requests (uploads, integration deletes) with their processing state."""
        result: list[dict[str, Any]] = self._call("GET", "requests")
        return result

    def upload_counts(self) -> dict[str, int]:
        """Accepted uploads per clientRequestId."""
        result: dict[str, int] = self._call("GET", "upload-counts")
        return result

    def record_counts(self, object_type: str, *, integration_id: int | None = None) -> dict[str, int]:
        """How many times each objectId of ``object_type`` was accepted (deletes included)."""
        result: dict[str, int] = self._call(
            "GET", f"record-counts/{object_type}", params=_integration(integration_id)
        )
        return result

    def inject_fault(
        self,
        kind: str,
        *,
        count: int = 1,
        path: str | None = None,
        method: str | None = None,
        status: int | None = None,
        retry_after: int | None = None,
        seconds: float | None = None,
        description: str | None = None,
    ) -> None:
        """Arm a fault for the next ``count`` /v2 calls matching ``path`` (exact) and ``method``.

        kinds: ``status`` (answer ``status``; 429 carries Retry-After), ``drop_after_store`` (handle
        the call, e.g. store the upload, then drop the connection without answering), ``delay``
        (answer ``seconds`` late), ``fail_next_request`` (the next accepted upload is processed as
        FAILED with the general error ``description``), ``done_with_errors`` (the next accepted upload has
        every record refused with ``description``, yet ends DONE, its errors listed).
        """
        fault: dict[str, Any] = {"kind": kind, "count": count}
        optional = {
            "path": path,
            "method": method,
            "status": status,
            "retry_after": retry_after,
            "seconds": seconds,
            "description": description,
        }
        fault.update({name: value for name, value in optional.items() if value is not None})
        self._call("POST", "faults", json=fault)

    def faults(self) -> list[dict[str, Any]]:
        """Faults still armed."""
        result: list[dict[str, Any]] = self._call("GET", "faults")
        return result

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def close(self) -> None:
        self.session.close()


def _integration(integration_id: int | None) -> dict[str, str]:
    return {} if integration_id is None else {"integration_id": str(integration_id)}
