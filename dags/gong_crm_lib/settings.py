"""Names and defaults shared by the DAG files, the demo, the docker-compose stack and the tests.

Everything here is read at parse time, so it is limited to constants and environment variables:
no file, network or metadata-database access.
"""

from __future__ import annotations

import os
from pathlib import Path

SYNC_DAG_ID = "gong_crm_sync"
SETUP_DAG_ID = "gong_crm_setup"

GONG_POOL = "gong_api"
"""Every task that calls Gong runs in this pool, so parallel tasks stay under Gong's rate limit."""

ENV_SCHEDULE = "GONG_CRM_SYNC_SCHEDULE"
"""Cron expression or preset for gong_crm_sync; ``none`` for trigger-only. Default ``@daily``."""
ENV_SOURCE = "GONG_CRM_SOURCE"
"""Default ``source`` Param: a folder or ObjectStoragePath URL of export files."""
ENV_INTEGRATION_ID = "GONG_INTEGRATION_ID"
"""Default ``integration_id`` Param (the id gong_crm_setup prints)."""
ENV_STAGING_BASE = "GONG_STAGING_BASE"
"""Folder or ObjectStoragePath URL for staged files; must be shared by every worker."""
ENV_CONN_ID = "GONG_CONN_ID"
"""Airflow connection id of Gong (default ``gong_default``)."""
ENV_POLL_INTERVAL = "GONG_POLL_INTERVAL"
"""First interval, in seconds, between request-status checks of a wait (the trigger backs off from it)."""
ENV_SCHEMA_FILE = "GONG_CRM_SCHEMA_FILE"
"""Custom-field schema file that gong_crm_setup writes to Gong."""

DAGS_DIR = Path(__file__).resolve().parents[1]
SAMPLE_DATA_DIR = DAGS_DIR / "data"

ASSET_URI_TEMPLATE = "gong://crm/{integration_id}/{object_type}"


def schedule() -> str | None:
    value = os.environ.get(ENV_SCHEDULE, "@daily").strip()
    return None if value.lower() in ("", "none") else value


def default_source() -> str:
    return os.environ.get(ENV_SOURCE) or str(SAMPLE_DATA_DIR)


def default_integration_id() -> str:
    return os.environ.get(ENV_INTEGRATION_ID, "").strip()


def conn_id() -> str:
    return os.environ.get(ENV_CONN_ID) or "gong_default"


def poll_interval() -> float:
    return float(os.environ.get(ENV_POLL_INTERVAL) or 10)


def schema_file() -> str:
    return os.environ.get(ENV_SCHEMA_FILE) or str(SAMPLE_DATA_DIR / "schema.json")


def staging_base() -> str:
    """Read at run time by the stage task (workers may differ from the dag-processor)."""
    configured = os.environ.get(ENV_STAGING_BASE)
    if configured:
        return configured
    home = os.environ.get("AIRFLOW_HOME")
    return str(Path(home) / "gong_staging") if home else "/tmp/gong_staging"


def asset_alias_name(object_type: str) -> str:
    """One AssetAlias per type; each run attaches the integration-specific Asset to it."""
    return f"gong-crm-{object_type}"


def asset_uri(integration_id: int | str, object_type: str) -> str:
    return ASSET_URI_TEMPLATE.format(integration_id=integration_id, object_type=object_type)
