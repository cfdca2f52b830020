"""Apache Airflow provider for Gong's CRM API."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_INTEGRATION = "Gong"


def get_provider_info() -> dict[str, Any]:
    """Describe the provider to Airflow's ProvidersManager (entry point ``apache_airflow_provider``).

    The connection form is declared here (``conn-fields`` / ``ui-field-behaviour``) rather than
    through hook methods, as Airflow 3.2+ expects, so the UI renders it without importing the hook.
    """
    return {
        "package-name": "airflow-provider-gong",
        "name": "Gong",
        "description": "Stage CRM records as Gong LDJSON, upload them to Gong's CRM API exactly once "
        "and wait for Gong's processing, with a local Gong CRM API emulator.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": _INTEGRATION,
                "external-doc-url": "https://gong.app.gong.io/settings/api/documentation",
                "tags": ["service"],
            }
        ],
        "hooks": [{"integration-name": _INTEGRATION, "python-modules": ["gong_provider.hooks.gong"]}],
        "operators": [{"integration-name": _INTEGRATION, "python-modules": ["gong_provider.operators.gong"]}],
        "sensors": [{"integration-name": _INTEGRATION, "python-modules": ["gong_provider.sensors.gong"]}],
        "triggers": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": ["gong_provider.triggers.gong", "gong_provider.triggers.hitl"],
            }
        ],
        "asset-uris": [
            {
                "schemes": ["gong"],
                "handler": "gong_provider.assets.sanitize_uri",
                "factory": "gong_provider.assets.create_asset",
                "to_openlineage_converter": "gong_provider.assets.convert_asset_to_openlineage",
            }
        ],
        "connection-types": [
            {
                "connection-type": "gong",
                "hook-class-name": "gong_provider.hooks.gong.GongCrmHook",
                "hook-name": "Gong",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port"],
                    "relabeling": {
                        "host": "API base URL",
                        "login": "Access key",
                        "password": "Access key secret",
                    },
                    "placeholders": {
                        "host": "https://api.gong.io (or your company host, e.g. https://us-12345.api.gong.io)",
                        "login": "Gong access key (leave empty when using an OAuth token)",
                        "password": "Gong access key secret",
                        "access_token": "OAuth access token (instead of access key and secret)",
                        "timeout": "60",
                        "max_retries": "5",
                        "calls_per_second": "3",
                    },
                },
                "conn-fields": {
                    "access_token": {
                        "label": "OAuth access token",
                        "description": "Bearer token with the api:crm:* scopes; used instead of the "
                        "access key and secret.",
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                    "timeout": {
                        "label": "Request timeout (seconds)",
                        "description": "Read timeout of each request; connecting times out after 10 s.",
                        "schema": {"type": ["number", "null"], "default": 60},
                    },
                    "max_retries": {
                        "label": "Max retries",
                        "description": "Attempts after the first for 429, 5xx, timeouts and "
                        "connection errors.",
                        "schema": {"type": ["integer", "null"], "default": 5},
                    },
                    "calls_per_second": {
                        "label": "Calls per second",
                        "description": "The company's rate budget: calls in any sliding second to "
                        "this API host, shared by every process of the machine (Gong allows 3; 0 = off).",
                        "schema": {"type": ["number", "null"], "default": 3},
                    },
                    "budget_scope": {
                        "label": "Rate budget scope",
                        "description": "host: one budget for every Airflow process of this machine "
                        "(lock files in the budget directory); process: a budget per process.",
                        "schema": {
                            "type": ["string", "null"],
                            "enum": ["host", "process", None],
                            "default": "host",
                        },
                    },
                    "budget_dir": {
                        "label": "Rate budget directory",
                        "description": "Where the host budget's lock files live (default: "
                        "$GONG_PROVIDER_BUDGET_DIR, else gong-provider-budget in the temp dir).",
                        "schema": {"type": ["string", "null"]},
                    },
                    "budget_url": {
                        "label": "Rate budget Redis URL",
                        "description": "redis://host:port/db shared by every machine: one budget for "
                        "the company across hosts (default: $GONG_PROVIDER_BUDGET_URL; unset: per host).",
                        "schema": {"type": ["string", "null"]},
                    },
                    "calls_per_day": {
                        "label": "Calls per day",
                        "description": "The company's daily budget: calls are counted per UTC day, "
                        "with a warning at 80% and 100% (Gong's 429 enforces it).",
                        "schema": {"type": ["integer", "null"], "default": 10000},
                    },
                    "verify_ssl": {
                        "label": "Verify TLS certificates",
                        "description": "Turn off only for a test server with a self-signed certificate.",
                        "schema": {"type": ["boolean", "null"], "default": True},
                    },
                },
            }
        ],
    }
