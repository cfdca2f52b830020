"""Names and environment defaults of the packaged DAGs gong_crm_sync and gong_crm_setup.

Everything here is read at parse time, so it is limited to constants and environment variables:
no file, network or metadata-database access. A DAG factory's keyword argument, when given, wins
over the environment variable; the variable wins over the built-in default.
"""

from __future__ import annotations

import os
from pathlib import Path

SYNC_DAG_ID = "gong_crm_sync"
SETUP_DAG_ID = "gong_crm_setup"

GONG_POOL = "gong_api"
"""Every task that calls Gong runs in this pool, so parallel tasks stay under Gong's rate limit."""
DEFAULT_CONN_ID = "gong_default"
DEFAULT_SCHEDULE = "@daily"
DEFAULT_POLL_INTERVAL = 10.0
DEFAULT_MAX_REJECT_RATIO = 0.0
"""Any rejected record fails the run at its end (the valid records of its type still go): a bad row
is data missing from Gong, and an alert is the only way its owner learns of it."""

ENV_SCHEDULE = "GONG_CRM_SYNC_SCHEDULE"
"""Cron expression or preset for gong_crm_sync; ``none`` for trigger-only. Default ``@daily``."""
ENV_SOURCE = "GONG_CRM_SOURCE"
"""Default ``source`` Param: a folder or ObjectStoragePath URL of export files. No default otherwise."""
ENV_INTEGRATION_ID = "GONG_INTEGRATION_ID"
"""Default ``integration_id`` Param (the id gong_crm_setup prints)."""
ENV_STAGING_BASE = "GONG_STAGING_BASE"
"""Folder or ObjectStoragePath URL for staged files; must be shared by every worker."""
ENV_STAGING_RETENTION_DAYS = "GONG_STAGING_RETENTION_DAYS"
"""Default ``staging_retention_days`` Param: days a staged run folder is kept (default 3)."""
DEFAULT_STAGING_RETENTION_DAYS = 3.0
MIN_STAGING_RETENTION_DAYS = 1.0
"""A run may still be uploading (a wait lasts up to 6 h): no staged run folder younger than this goes."""
RUNS_FOLDER = "runs"
"""Staged runs live under ``<staging base>/runs/``: the one prefix a cleanup or lifecycle rule may touch."""
ENV_CONN_ID = "GONG_CONN_ID"
"""Airflow connection id of Gong (default ``gong_default``)."""
ENV_POLL_INTERVAL = "GONG_POLL_INTERVAL"
"""First interval, in seconds, between request-status checks of a wait (the trigger backs off from it)."""
ENV_SCHEMA_FILE = "GONG_CRM_SCHEMA_FILE"
"""Default ``schema_file`` Param of gong_crm_setup: the custom-field schema it writes to Gong."""


def _env(name: str) -> str | None:
    """The variable's value, None when unset or blank."""
    value = os.environ.get(name, "").strip()
    return value or None


def first_given(*values: str | None) -> str | None:
    """The first value that is neither None nor empty: a keyword argument, then the environment, ..."""
    return next((value for value in values if value), None)


def schedule() -> str | None:
    value = os.environ.get(ENV_SCHEDULE, DEFAULT_SCHEDULE).strip()
    return None if value.lower() in ("", "none") else value


def source() -> str | None:
    return _env(ENV_SOURCE)


def integration_id() -> str | None:
    return _env(ENV_INTEGRATION_ID)


def conn_id() -> str:
    return _env(ENV_CONN_ID) or DEFAULT_CONN_ID


def poll_interval() -> float:
    return float(_env(ENV_POLL_INTERVAL) or DEFAULT_POLL_INTERVAL)


def schema_file() -> str | None:
    return _env(ENV_SCHEMA_FILE)


def staging_base() -> str:
    """Read at run time by the stage task (workers may differ from the dag-processor)."""
    configured = _env(ENV_STAGING_BASE)
    if configured:
        return configured
    home = os.environ.get("AIRFLOW_HOME")
    return str(Path(home) / "gong_staging") if home else "/tmp/gong_staging"


def staging_retention_days(value: float | str | None = None) -> float:
    """Days a staged run folder is kept before the sync's ``cleanup`` task removes it: ``value`` (the
    Param), else GONG_STAGING_RETENTION_DAYS, else 3; never less than one day."""
    chosen = value if value not in (None, "") else _env(ENV_STAGING_RETENTION_DAYS)
    days = float(chosen) if chosen not in (None, "") else DEFAULT_STAGING_RETENTION_DAYS
    return max(days, MIN_STAGING_RETENTION_DAYS)


def asset_alias_name(object_type: str) -> str:
    """One AssetAlias per type; each run attaches the integration-specific Asset to it."""
    return f"gong-crm-{object_type}"
