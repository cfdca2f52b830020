"""Settings of one emulator run: credentials, integration, processing delays and rate limits."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_ACCESS_KEY = "emulator-access-key"
DEFAULT_ACCESS_KEY_SECRET = "emulator-access-key-secret"
DEFAULT_TOKEN = "emulator-token"
DEFAULT_INTEGRATION_ID = 2271307570613351879
"""A 64-bit id larger than 2**53, so any client that passes it through a float gets caught."""
DEFAULT_INTEGRATION_NAME = "Airflow CRM sync"
"""The name gong_crm_setup registers by default (its ``integration_name`` Param): the emulator starts
as that DAG would leave Gong, so the documented order (emulator, then gong_crm_setup) finds it and
reuses its id. A test keeps the two defaults equal (the emulator does not import the provider)."""
DEFAULT_OWNER_EMAIL = "crm-admin@example.com"
DEFAULT_RATE_LIMIT_PER_SECOND = 3.0
DEFAULT_RATE_LIMIT_PER_DAY = 10_000

RUNTIME_SETTINGS = (
    "processing_delay",
    "processing_delay_per_mb",
    "rate_limit_per_second",
    "rate_limit_per_day",
)
"""Settings that ``POST /_emulator/config`` may change while the server runs."""


@dataclass(frozen=True)
class EmulatorSettings:
    """What tests and demos tune at run time; ``0`` rate limits mean unlimited."""

    processing_delay: float = 0.0
    processing_delay_per_mb: float = 0.0
    rate_limit_per_second: float = DEFAULT_RATE_LIMIT_PER_SECOND
    rate_limit_per_day: int = DEFAULT_RATE_LIMIT_PER_DAY

    def updated(self, changes: dict[str, Any]) -> EmulatorSettings:
        """Validate and apply ``changes``; unknown names or bad values raise ValueError."""
        unknown = set(changes) - set(RUNTIME_SETTINGS)
        if unknown:
            raise ValueError(f"unknown settings: {sorted(unknown)}")
        values: dict[str, Any] = {}
        for name, value in changes.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{name} must be a number >= 0")
            values[name] = int(value) if name == "rate_limit_per_day" else float(value)
        return dataclasses.replace(self, **values)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class EmulatorConfig:
    """Everything the server needs to start."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8085
    access_key: str = DEFAULT_ACCESS_KEY
    access_key_secret: str = DEFAULT_ACCESS_KEY_SECRET
    token: str = DEFAULT_TOKEN
    integration_id: int | None = DEFAULT_INTEGRATION_ID
    integration_name: str = DEFAULT_INTEGRATION_NAME
    settings: EmulatorSettings = dataclasses.field(default_factory=EmulatorSettings)
